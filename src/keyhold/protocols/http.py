"""The plain request and response every protocol adapter works with (no framework types past asgi.py)."""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl


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
