"""The HTTP front door: one ASGI app for every AWS API Keyhold speaks.

    read body → SigV4 parse (SigV2 for S3) → route by the credential scope's service → poll cross-process changes
    → look up the access key → verify → the service's adapter → one send of the response

The hot cryptographic operations, which in the steady state touch only in-memory caches, run on the event loop;
everything that writes runs in a worker thread, so a commit's fsync never stalls the loop.

S3 requests stream: their body is not read up front but handed to the worker thread as a BodyStream that asks
the event loop for one block (about 1 MiB) at a time, and an object's body goes out block by block as the
worker thread produces it. Memory per request stays a few blocks, whatever the object's size.

Errors before the adapter (no or bad authentication) are rendered in the protocol the request was meant for,
guessed from X-Amz-Target or Action when there is no credential scope to read it from.
"""

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from keyhold.domain.identity.model import Credential, Principal
from keyhold.protocols.http import ClientDisconnected, Request, Response
from keyhold.protocols.sigv2 import SignedV2, parse_v2, verify_v2
from keyhold.protocols.sigv4 import AuthError, AuthFailure, SignedRequest, parse, verify

log = logging.getLogger("keyhold.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20
STREAM_BLOCK_BYTES = 1 << 20


class Adapter(Protocol):
    def handle(self, request: Request, principal: Principal, region: str) -> Response: ...

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response: ...

    def internal_error(self, request: Request) -> Response: ...

    def too_large(self, request: Request) -> Response: ...

    def inline(self, request: Request) -> bool:
        """True for requests cheap enough to serve on the event loop (cached reads, no writes)."""
        ...


@runtime_checkable
class VirtualHosting(Protocol):
    """An adapter that can tell the bucket a virtual-hosted-style Host names (S3): SigV2 signs it."""

    def virtual_host_bucket(self, request: Request) -> str | None: ...


class KeyholdApp:
    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        credentials: Callable[[str], Credential | None],
        poll_changes: Callable[[], None],
        *,
        threads: int = 8,
        clock: Callable[[], float] = time.time,
        streaming: frozenset[str] = frozenset({"s3"}),
        default_region: str = "us-east-1",
    ) -> None:
        self._adapters = adapters
        self._default_region = default_region  # for SigV2 (S3) requests, which name no region
        self._streaming = streaming
        self._credentials = credentials
        self._poll_changes = poll_changes
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keyhold")
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        request = _request(scope, b"", request_id)
        if _streamed_service(request) in self._streaming:
            body = _ReceivedBody(receive, loop)
            request = dataclasses.replace(request, stream=body)
            try:
                response = await loop.run_in_executor(self._executor, self._serve, request)
            finally:
                body.close()
            if not body.ended and _has_body(request):  # answered before reading the body (an error): leave it unread
                response = dataclasses.replace(response, headers=[*response.headers, ("connection", "close")])
            await self._send(send, response, loop)
            return
        body_bytes, too_large = await _read_body(receive)
        request = dataclasses.replace(request, body=body_bytes)
        if too_large:
            response = self._adapter_for(request, None).too_large(request)
        elif self._adapter_for(request, None).inline(request):
            response = self._serve(request)
        else:
            response = await loop.run_in_executor(self._executor, self._serve, request)
        await self._send(send, response, loop)

    async def _send(self, send: Send, response: Response, loop: asyncio.AbstractEventLoop) -> None:
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
        if response.stream is None:
            if not any(name == "content-length" for name, _ in response.headers):
                headers.append((b"content-length", str(len(response.body)).encode()))
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
            return
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        blocks = iter(response.stream)
        try:
            # The next block is produced (read, decrypted) in the worker thread while this one goes to the socket.
            pending = loop.run_in_executor(self._executor, next, blocks, None)
            while (block := await pending) is not None:
                pending = loop.run_in_executor(self._executor, next, blocks, None)
                await send({"type": "http.response.body", "body": block, "more_body": True})
        except Exception:
            # The status line is gone already: cut the connection, so the client sees a short body.
            log.exception("a response body failed part-way; closing the connection")
            raise
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
        await send({"type": "http.response.body", "body": b""})

    def _serve(self, request: Request) -> Response:
        adapter = self._adapter_for(request, None)
        try:
            signed = self._parse(request)
            adapter = self._adapter_for(request, "s3" if isinstance(signed, SignedV2) else signed.service)
            self._poll_changes()  # before the credential lookup: a deleted access key must not work even once
            credential = self._credentials(signed.access_key_id)
            if credential is None or not credential.active:
                raise AuthError(AuthFailure.UNRECOGNIZED_KEY, "The security token included in the request is invalid.")
            now = datetime.fromtimestamp(self._clock(), UTC)
            if isinstance(signed, SignedV2):
                bucket = adapter.virtual_host_bucket(request) if isinstance(adapter, VirtualHosting) else None
                verify_v2(request, signed, credential.secret_access_key, now, bucket)
                return adapter.handle(request, credential.principal, self._default_region)
            verify(request, signed, credential.secret_access_key, now)
            return adapter.handle(request, credential.principal, signed.region)
        except AuthError as exc:
            return adapter.auth_error(exc.failure, exc.message, request)
        except Exception:
            log.exception("internal error serving request %s", request.request_id)
            return adapter.internal_error(request)

    def _parse(self, request: Request) -> SignedRequest | SignedV2:
        """SigV4; or, for S3 only, SigV2 (which boto3 still presigns S3 URLs with by default)."""
        try:
            return parse(request)
        except AuthError:
            signed = parse_v2(request) if "s3" in self._adapters else None
            if signed is None:
                raise
            return signed

    def _adapter_for(self, request: Request, service: str | None) -> Adapter:
        if service is None:
            service = _guess_service(request)
        return self._adapters.get(service) or self._adapters["kms"]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


STS_ACTIONS = frozenset({"GetCallerIdentity", "AssumeRole", "GetSessionToken", "GetAccessKeyInfo"})


def _streamed_service(request: Request) -> str | None:
    """The service a request is for, from its signature (or, unsigned, its shape), without reading its body;
    None when only the body can tell (an unsigned Query request)."""
    try:
        return parse(request).service
    except AuthError:
        pass
    try:
        if parse_v2(request) is not None:  # SigV2 is S3's only
            return "s3"
    except AuthError:
        return "s3"
    if request.header("x-amz-target"):
        return "kms"
    if request.header("content-type").startswith("application/x-www-form-urlencoded"):
        return None
    return None if "Action=" in request.query_string else "s3"


def _has_body(request: Request) -> bool:
    return request.header("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers


class _ReceivedBody:
    """A request body as a BodyStream: the worker thread asks the event loop for the next block, and while it
    works on that block the event loop is already gathering the one after (one block ahead, no more)."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._next: concurrent.futures.Future[bytes] | None = None
        self.ended = False

    def read_block(self) -> bytes:
        if self._next is None:
            if self.ended:
                return b""
            self._next = asyncio.run_coroutine_threadsafe(self._gather(), self._loop)
        try:
            block = self._next.result()
        finally:
            self._next = None
        if not self.ended:
            self._next = asyncio.run_coroutine_threadsafe(self._gather(), self._loop)
        return block

    def close(self) -> None:
        """Stop gathering ahead: the request has been answered (perhaps before its body was read)."""
        if self._next is not None:
            self._next.cancel()
            self._next = None

    async def _gather(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < STREAM_BLOCK_BYTES:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            if chunk:
                parts.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                self.ended = True
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _guess_service(request: Request) -> str:
    if request.stream is not None:
        return "s3"
    if request.header("x-amz-target").startswith("TrentService."):
        return "kms"
    action = request.form().get("Action")
    if action is not None:
        return "sts" if action in STS_ACTIONS else "iam"
    return "kms"


def _request(scope: Scope, body: bytes, request_id: str) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    raw_path = scope.get("raw_path") or scope["path"].encode()
    client = scope.get("client") or ("", 0)
    return Request(
        method=scope["method"],
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        client_ip=client[0],
        secure=scope.get("scheme") == "https",
        request_id=request_id,
    )


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_large = True
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), too_large


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
