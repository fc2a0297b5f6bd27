"""The HTTP front door: one ASGI app for every AWS API Keyhold speaks.

    read body → SigV4 parse → route by the credential scope's service → poll cross-process changes
    → look up the access key → verify → the service's adapter → one send of the response

The hot cryptographic operations, which in the steady state touch only in-memory caches, run on the event loop;
everything that writes runs in a worker thread, so a commit's fsync never stalls the loop.

Errors before the adapter (no or bad authentication) are rendered in the protocol the request was meant for,
guessed from X-Amz-Target or Action when there is no credential scope to read it from.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from keyhold.domain.identity.model import Credential, Principal
from keyhold.protocols.http import Request, Response
from keyhold.protocols.sigv4 import AuthError, AuthFailure, parse, verify

log = logging.getLogger("keyhold.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20


class Adapter(Protocol):
    def handle(self, request: Request, principal: Principal, region: str) -> Response: ...

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response: ...

    def internal_error(self, request: Request) -> Response: ...

    def too_large(self, request: Request) -> Response: ...

    def inline(self, request: Request) -> bool:
        """True for requests cheap enough to serve on the event loop (cached reads, no writes)."""
        ...


class KeyholdApp:
    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        credentials: Callable[[str], Credential | None],
        poll_changes: Callable[[], None],
        *,
        threads: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._adapters = adapters
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
        body, too_large = await _read_body(receive)
        request = _request(scope, body, request_id)
        if too_large:
            response = self._adapter_for(request, None).too_large(request)
        elif self._adapter_for(request, None).inline(request):
            response = self._serve(request)
        else:
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(self._executor, self._serve, request)
        await _send(send, response)

    def _serve(self, request: Request) -> Response:
        adapter = self._adapter_for(request, None)
        try:
            signed = parse(request)
            adapter = self._adapter_for(request, signed.service)
            self._poll_changes()  # before the credential lookup: a deleted access key must not work even once
            credential = self._credentials(signed.access_key_id)
            if credential is None or not credential.active:
                raise AuthError(AuthFailure.UNRECOGNIZED_KEY, "The security token included in the request is invalid.")
            verify(request, signed, credential.secret_access_key, datetime.fromtimestamp(self._clock(), UTC))
            return adapter.handle(request, credential.principal, signed.region)
        except AuthError as exc:
            return adapter.auth_error(exc.failure, exc.message, request)
        except Exception:
            log.exception("internal error serving request %s", request.request_id)
            return adapter.internal_error(request)

    def _adapter_for(self, request: Request, service: str | None) -> Adapter:
        if service is None:
            service = _guess_service(request)
        return self._adapters.get(service) or self._adapters["kms"]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


STS_ACTIONS = frozenset({"GetCallerIdentity", "AssumeRole", "GetSessionToken", "GetAccessKeyInfo"})


def _guess_service(request: Request) -> str:
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


async def _send(send: Send, response: Response) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
