"""The plain request and response every protocol adapter works with (no framework types past asgi.py)."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl


class BodyStream(Protocol):
    """A request body read as it arrives (S3 uploads), from a worker thread."""

    def read_block(self) -> bytes:
        """The next block of the body (up to about 1 MiB); b"" once the body has ended."""
        ...


class ClientDisconnected(Exception):
    """The client went away before its request body ended."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    raw_path: str  # the path exactly as sent, still percent-encoded
    query_string: str  # exactly as sent, without the "?"
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: bytes
    client_ip: str
    secure: bool  # arrived over TLS
    request_id: str
    stream: BodyStream | None = None  # set instead of ``body`` for protocols that stream bodies (S3)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def form(self) -> dict[str, str]:
        """The parameters of a Query-protocol request: the URL query merged with a form-encoded body."""
        params = dict(self.query())
        if self.body and self.header("content-type").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return params


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A body produced as it is sent (S3 GetObject), from a worker thread. The headers then carry content-length
    # themselves; if producing it fails part-way, the connection is cut, so a client sees a short body, not a
    # wrong one.
    stream: Iterable[bytes] | None = None
