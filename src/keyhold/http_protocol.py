"""uvicorn's httptools protocol with each response written in one send.

uvicorn writes a response's status line and headers, then its body, as separate transport writes: two syscalls
and two TCP segments per response, and with Nagle's algorithm on, a delayed-ACK stall per keep-alive request.
The transport wrapper here gathers the writes made during one event-loop iteration (an ASGI app sends
``http.response.start`` and ``http.response.body`` back to back) and hands them to the socket as one write.
"""

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SHUTDOWN_GRACE = 1.0  # seconds a closed idle connection gets to finish its TLS close when the server stops


class _CoalescingTransport:
    __slots__ = ("_flush_scheduled", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            pending = self._pending
            self._pending = []
            if not self._transport.is_closing():
                # One write; large blocks (object bodies) go as they are, not copied into a joined buffer.
                if len(pending) == 1:
                    self._transport.write(pending[0])
                else:
                    self._transport.writelines(pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneSendHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        wrapped = _CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, wrapped))

    def shutdown(self) -> None:
        """As uvicorn's (an idle connection is closed, a busy one after its response), but an idle connection
        still open SHUTDOWN_GRACE seconds later is aborted. Closing TLS waits for the peer's close_notify, which
        a client holding the connection idle in its pool never sends: without this, the server's stop would
        wait out the transport's 30-second SSL shutdown timeout for every such client."""
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle:
            self.loop.call_later(SHUTDOWN_GRACE, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if self in self.connections:
            self.transport.abort()
