"""The S3 REST adapter: addressing (path-style and virtual-hosted-style), the dispatch table, S3's XML errors.

    (method, target, subresource) -> handler        target: service | bucket | object
                                                   subresource: the first of SUBRESOURCES in the query, or ""

A request whose subresource S3 has but Keyhold does not implement gets 501 NotImplemented, never a wrong answer.
"""

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Credential, Principal
from keyhold.domain.objects.service import ObjectStore
from keyhold.errors import ServiceError
from keyhold.protocols.http import ClientDisconnected, Request, Response
from keyhold.protocols.s3 import bucket_handlers as b
from keyhold.protocols.s3 import errors
from keyhold.protocols.s3 import multipart_handlers as m
from keyhold.protocols.s3 import object_handlers as o
from keyhold.protocols.s3.call import Call
from keyhold.protocols.s3.input_errors import S3InputError
from keyhold.protocols.sigv4 import AuthFailure

log = logging.getLogger("keyhold.s3")

Handler = Callable[[Call], Response]

# Query parameters that name a subresource, in the order they decide the operation.
SUBRESOURCES = (
    "uploadId", "uploads", "location", "encryption", "policy", "delete", "list-type", "versioning", "acl", "cors",
    "lifecycle", "tagging", "website", "logging", "notification", "replication", "accelerate", "requestPayment",
    "object-lock", "legal-hold", "retention", "torrent", "restore", "select", "attributes", "ownershipControls",
    "publicAccessBlock", "policyStatus", "analytics", "metrics", "inventory", "intelligent-tiering", "versions",
    "session", "metadataTable", "renameObject",
)  # fmt: skip

# The query parameters that make a request presigned: SigV4's, and SigV2's (protocols/sigv2.py).
PRESIGN_PARAMETERS = frozenset({"X-Amz-Signature", "X-Amz-Credential", "AWSAccessKeyId", "Signature"})

NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented"


def _not_implemented(_call: Call) -> Response:
    """A subresource Keyhold answers for one method but not another (PutBucketAcl beside GetBucketAcl)."""
    raise S3InputError("NotImplemented", NOT_IMPLEMENTED, 501)


OPERATIONS: dict[tuple[str, str, str], Handler] = {
    ("GET", "service", ""): b.list_buckets,
    ("PUT", "bucket", ""): b.create_bucket,
    ("DELETE", "bucket", ""): b.delete_bucket,
    ("HEAD", "bucket", ""): b.head_bucket,
    ("GET", "bucket", ""): b.list_objects,
    ("GET", "bucket", "list-type"): b.list_objects_v2,
    ("GET", "bucket", "location"): b.get_bucket_location,
    ("GET", "bucket", "acl"): b.get_bucket_acl,
    ("PUT", "bucket", "acl"): _not_implemented,  # Keyhold has no ACLs to set
    ("GET", "bucket", "encryption"): b.get_bucket_encryption,
    ("PUT", "bucket", "encryption"): b.put_bucket_encryption,
    ("DELETE", "bucket", "encryption"): b.delete_bucket_encryption,
    ("GET", "bucket", "policy"): b.get_bucket_policy,
    ("PUT", "bucket", "policy"): b.put_bucket_policy,
    ("DELETE", "bucket", "policy"): b.delete_bucket_policy,
    ("POST", "bucket", "delete"): b.delete_objects,
    ("GET", "bucket", "uploads"): m.list_multipart_uploads,
    ("PUT", "object", ""): o.put_object,  # CopyObject when x-amz-copy-source is present
    ("GET", "object", ""): o.get_object,
    ("HEAD", "object", ""): o.head_object,
    ("DELETE", "object", ""): o.delete_object,
    ("GET", "object", "acl"): o.get_object_acl,
    ("PUT", "object", "acl"): _not_implemented,
    ("PUT", "object", "encryption"): o.update_object_encryption,
    ("POST", "object", "uploads"): m.create_multipart_upload,
    ("PUT", "object", "uploadId"): m.upload_part,  # UploadPartCopy when x-amz-copy-source is present
    ("POST", "object", "uploadId"): m.complete_multipart_upload,
    ("DELETE", "object", "uploadId"): m.abort_multipart_upload,
    ("GET", "object", "uploadId"): m.list_parts,
}
COPIES: dict[Handler, Handler] = {o.put_object: o.copy_object, m.upload_part: m.upload_part_copy}


class S3Protocol:
    def __init__(
        self,
        store: ObjectStore,
        credentials: Callable[[str], Credential | None],
        *,
        allow_http_ssec: bool = False,
        virtual_host_suffixes: tuple[str, ...] = (".localhost",),
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._allow_http_ssec = allow_http_ssec
        self._suffixes = virtual_host_suffixes

    def inline(self, request: Request) -> bool:
        return False

    def handle(self, request: Request, principal: Principal, region: str) -> Response:
        head = request.method == "HEAD"
        try:
            bucket, key = self.address(request)
            query = dict(parse_qsl(request.query_string, keep_blank_values=True))
            handler = self._handler(request, bucket, key, query)
            ctx = RequestContext(
                principal=principal,
                region=region,
                request_id=request.request_id,
                source_ip=request.client_ip,
                user_agent=request.header("user-agent"),
                secure=request.secure,
            )
            call = Call(ctx, request, bucket, key, query, self._store, self._credentials, self._allow_http_ssec)
            return handler(call)
        except ServiceError as error:
            return errors.render(error, request.request_id, head)
        except S3InputError as error:
            return errors.error_response(
                error.status, error.code, error.message, request.request_id, head=head, extra=error.details
            )
        except InvalidCiphertext:
            log.error("stored object data failed its integrity check (request %s)", request.request_id)
            return errors.error_response(*errors.INTERNAL_ERROR, request.request_id, head=head)
        except ClientDisconnected:
            return errors.error_response(400, "RequestTimeout", "Client disconnected", request.request_id)

    def _handler(self, request: Request, bucket: str, key: str, query: dict[str, str]) -> Handler:
        target = "object" if key else "bucket" if bucket else "service"
        subresource = next((name for name in SUBRESOURCES if name in query), "")
        handler = OPERATIONS.get((request.method, target, subresource))
        if handler is None:
            if subresource and subresource not in {s for (_m, _t, s) in OPERATIONS}:
                raise S3InputError("NotImplemented", NOT_IMPLEMENTED, 501)
            raise S3InputError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        if "x-amz-copy-source" in request.headers and handler in COPIES:
            return COPIES[handler]
        return handler

    def address(self, request: Request) -> tuple[str, str]:
        """(bucket, key) from a virtual-hosted-style Host (``bucket.localhost``) or the path."""
        path = request.raw_path
        bucket = self.virtual_host_bucket(request)
        if bucket is not None:
            return bucket, unquote(path[1:]) if path.startswith("/") else unquote(path)
        stripped = path[1:] if path.startswith("/") else path
        bucket, _, key = stripped.partition("/")
        return unquote(bucket), unquote(key)

    def virtual_host_bucket(self, request: Request) -> str | None:
        """The bucket a virtual-hosted-style Host names (``bucket.localhost``); None for path-style."""
        host = request.header("host").rsplit(":", 1)[0].lower() if not request.header("host").startswith("[") else ""
        for suffix in self._suffixes:
            if host.endswith(suffix) and len(host) > len(suffix):
                return host[: -len(suffix)].removesuffix(".s3")
        return None

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response:
        names = {part.partition("=")[0] for part in request.query_string.split("&")}
        presigned = not names.isdisjoint(PRESIGN_PARAMETERS)
        return errors.render_auth(failure, message, presigned, request.request_id, request.method == "HEAD")

    def internal_error(self, request: Request) -> Response:
        return errors.error_response(*errors.INTERNAL_ERROR, request.request_id, head=request.method == "HEAD")

    def too_large(self, request: Request) -> Response:
        return errors.error_response(400, "MaxMessageLengthExceeded", "Your request was too big.", request.request_id)
