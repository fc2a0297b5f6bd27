"""What every S3 handler gets: the request, who sent it, the bucket and key it addresses, and the store."""

from collections.abc import Callable
from dataclasses import dataclass, field

from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Credential
from keyhold.domain.objects.service import ObjectStore
from keyhold.protocols.http import Request, Response
from keyhold.protocols.s3.body import RequestPayload
from keyhold.protocols.s3.errors import host_id
from keyhold.protocols.s3.input_errors import S3InputError

MAX_XML_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Call:
    ctx: RequestContext
    request: Request
    bucket: str
    key: str
    query: dict[str, str]
    store: ObjectStore
    credentials: Callable[[str], Credential | None]
    allow_http_ssec: bool
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    def payload(self, **options: object) -> RequestPayload:
        return RequestPayload(self.request, self.credentials, **options)  # type: ignore[arg-type]

    def small_body(self) -> bytes:
        """A request body that is an XML or JSON document (at most 1 MiB), its checksums checked."""
        blocks: list[bytes] = []
        size = 0
        for block in self.payload(max_size=MAX_XML_BODY):
            size += len(block)
            if size > MAX_XML_BODY:
                raise S3InputError("MaxMessageLengthExceeded", "Your request was too big.", 400)
            blocks.append(block)
        return b"".join(blocks)

    def respond(self, status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> Response:
        out = [("x-amz-request-id", self.ctx.request_id), ("x-amz-id-2", host_id(self.ctx.request_id))]
        if body:
            out.append(("content-type", "application/xml"))
        out.extend(headers or [])
        return Response(status, body, out)
