"""The transport wrapper that makes each HTTP response leave in one send."""

import asyncio

from keyhold.http_protocol import _CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1234) if name == "peername" else default


def test_the_writes_of_one_loop_iteration_leave_as_one() -> None:
    loop = asyncio.new_event_loop()
    try:
        transport = RecordingTransport()
        wrapped = _CoalescingTransport(transport, loop)
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        wrapped.write(b"body")
        assert transport.writes == []
        loop.run_until_complete(asyncio.sleep(0))
        assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"]
    finally:
        loop.close()


def test_close_flushes_what_is_pending_first_and_other_calls_pass_through() -> None:
    loop = asyncio.new_event_loop()
    try:
        transport = RecordingTransport()
        wrapped = _CoalescingTransport(transport, loop)
        wrapped.write(b"last words")
        wrapped.close()
        assert transport.writes == [b"last words"]
        assert transport.closed
        assert wrapped.get_extra_info("peername") == ("127.0.0.1", 1234)
        loop.run_until_complete(asyncio.sleep(0))  # the scheduled flush finds nothing more to send
        assert transport.writes == [b"last words"]
    finally:
        loop.close()


def test_malloc_tuning_applies_on_glibc() -> None:
    """Worker processes serve megabyte-sized blocks from the heap (keyhold.memory): mallopt accepts both settings."""
    import platform

    from keyhold.memory import tune_malloc

    assert platform.libc_ver()[0] == "glibc"
    assert tune_malloc() is True
