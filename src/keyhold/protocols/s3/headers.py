"""S3's HTTP headers, both ways: SSE request headers -> SseRequest (with AWS's exact refusals), object metadata,
conditional headers, and the headers a response carries for an object."""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime

from keyhold.domain.objects.conditions import Conditions
from keyhold.domain.objects.errors import InvalidArgument, InvalidEncryptionAlgorithm, InvalidRequest
from keyhold.domain.objects.inputs import ObjectAttributes, SseRequest
from keyhold.domain.objects.model import NONE, SSE_C, SSE_KMS, SSE_KMS_DSSE, SSE_S3, Envelope, ObjectRecord

SSE = "x-amz-server-side-encryption"
SSE_KMS_KEY_ID = "x-amz-server-side-encryption-aws-kms-key-id"
SSE_CONTEXT = "x-amz-server-side-encryption-context"
SSE_BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CUSTOMER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-key"
CUSTOMER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
COPY_SOURCE_PREFIX = "x-amz-copy-source-"
META_PREFIX = "x-amz-meta-"
STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

MSG_SSEC_INCOMPATIBLE = (
    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
)
MSG_SSEC_NO_ALGORITHM = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
)
MSG_SSEC_NO_KEY = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
)
MSG_SSEC_NO_MD5 = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 "
    "of the secret key."
)
MSG_SSEC_BAD_KEY = "The secret key was invalid for the specified algorithm."
MSG_SSEC_MD5 = "The calculated MD5 hash of the key did not match the hash that was provided."
MSG_SSEC_HTTP = (
    "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
)
MSG_KMS_KEY_WITHOUT_KMS = (
    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
)
MSG_BAD_SSE = "The encryption method specified is not supported"
MSG_SSE_ON_READ = "x-amz-server-side-encryption header is not supported for this operation."
MSG_CONTEXT = (
    "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which "
    "represents a string-string map"
)


def customer_key(headers: Mapping[str, str], *, secure: bool, allow_http: bool, prefix: str = "") -> bytes | None:
    """The SSE-C key of a request (or, with ``prefix`` "x-amz-copy-source-", of its copy source), or None."""
    # x-amz-copy-source-server-side-encryption-customer-*: the prefix replaces the names' own "x-amz-"
    names = [
        prefix + name.removeprefix("x-amz-") if prefix else name
        for name in (CUSTOMER_ALGORITHM, CUSTOMER_KEY, CUSTOMER_KEY_MD5)
    ]
    algorithm, key_b64, md5_b64 = (headers.get(name) for name in names)
    if algorithm is None and key_b64 is None and md5_b64 is None:
        return None
    if algorithm is None:
        raise InvalidArgument(MSG_SSEC_NO_ALGORITHM, names[0], "null")
    if algorithm != "AES256":
        raise InvalidEncryptionAlgorithm()
    if key_b64 is None:
        raise InvalidArgument(MSG_SSEC_NO_KEY, names[1], "null")
    if not secure and not allow_http:
        raise InvalidRequest(MSG_SSEC_HTTP)
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(MSG_SSEC_BAD_KEY, names[1], "") from None
    if len(key) != 32:
        raise InvalidArgument(MSG_SSEC_BAD_KEY, names[1], "")
    if md5_b64 is None:
        raise InvalidArgument(MSG_SSEC_NO_MD5, names[2], "null")
    computed = base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode()
    if not hmac.compare_digest(computed.encode(), md5_b64.strip().encode()):
        raise InvalidArgument(MSG_SSEC_MD5, names[2], "")
    return key


def sse_request(headers: Mapping[str, str], *, secure: bool, allow_http_ssec: bool) -> SseRequest:
    """The SSE headers of a write (PutObject, CopyObject destination, CreateMultipartUpload)."""
    algorithm = headers.get(SSE)
    key_id = headers.get(SSE_KMS_KEY_ID)
    context_header = headers.get(SSE_CONTEXT)
    bucket_key_header = headers.get(SSE_BUCKET_KEY)
    customer = customer_key(headers, secure=secure, allow_http=allow_http_ssec)
    if customer is not None and algorithm is not None:
        raise InvalidArgument(MSG_SSEC_INCOMPATIBLE, SSE, algorithm)
    if algorithm is not None and algorithm not in (SSE_S3, SSE_KMS, SSE_KMS_DSSE):
        raise InvalidArgument(MSG_BAD_SSE, SSE, algorithm)
    kms = algorithm in (SSE_KMS, SSE_KMS_DSSE)
    if (key_id is not None or context_header is not None) and not kms:
        raise InvalidArgument(MSG_KMS_KEY_WITHOUT_KMS, SSE, algorithm or "null")
    context = _context(context_header) if context_header is not None else None
    bucket_key = None
    if bucket_key_header is not None:
        bucket_key = bucket_key_header.strip().lower() == "true"
    return SseRequest(
        algorithm=algorithm,
        kms_key_id=key_id.strip() if key_id else None,
        context=context,
        bucket_key=bucket_key,
        customer_key=customer,
    )


def refuse_sse_on_read(headers: Mapping[str, str]) -> None:
    """GET and HEAD must not carry x-amz-server-side-encryption (400, as S3)."""
    if SSE in headers or SSE_KMS_KEY_ID in headers:
        raise InvalidArgument(MSG_SSE_ON_READ, SSE, headers.get(SSE, ""))


def _context(value: str) -> dict[str, str]:
    try:
        document = json.loads(base64.b64decode(value, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument(MSG_CONTEXT, SSE_CONTEXT, value) from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise InvalidArgument(MSG_CONTEXT, SSE_CONTEXT, value)
    return document


def attributes(headers: Mapping[str, str]) -> ObjectAttributes:
    stored = {name: headers[name] for name in STORED_HEADERS if name in headers}
    if "content-encoding" in stored:  # aws-chunked is how the body travelled, not what it is
        codings = [c.strip() for c in stored["content-encoding"].split(",") if c.strip() != "aws-chunked"]
        if codings:
            stored["content-encoding"] = ",".join(codings)
        else:
            del stored["content-encoding"]
    metadata = {name[len(META_PREFIX) :]: value for name, value in headers.items() if name.startswith(META_PREFIX)}
    return ObjectAttributes(headers.get("content-type") or DEFAULT_CONTENT_TYPE, stored, metadata)


def conditions(headers: Mapping[str, str], prefix: str = "") -> Conditions:
    """If-* headers; ``prefix`` "x-amz-copy-source-" reads a copy's source conditions."""
    return Conditions(
        if_match=headers.get(prefix + "if-match"),
        if_none_match=headers.get(prefix + "if-none-match"),
        if_modified_since=_date(headers.get(prefix + "if-modified-since")),
        if_unmodified_since=_date(headers.get(prefix + "if-unmodified-since")),
    )


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # an unparsable date is ignored, as HTTP says


def http_date(epoch: float) -> str:
    return formatdate(int(epoch), usegmt=True)


def sse_response(
    envelope: Envelope, customer_key_md5: str | None = None, *, context: bool = False
) -> list[tuple[str, str]]:
    """The SSE headers of a response about an object: mode, full key ARN, bucket key, SSE-C algorithm and key MD5."""
    mode = envelope.mode
    if mode == NONE:
        return []
    if mode == SSE_C:
        headers = [(CUSTOMER_ALGORITHM, "AES256")]
        if customer_key_md5:
            headers.append((CUSTOMER_KEY_MD5, customer_key_md5))
        return headers
    headers = [(SSE, mode)]
    if mode in (SSE_KMS, SSE_KMS_DSSE) and envelope.kms_key_arn:
        headers.append((SSE_KMS_KEY_ID, envelope.kms_key_arn))
        if context and envelope.context:
            encoded = json.dumps(dict(envelope.context), separators=(",", ":")).encode()
            headers.append((SSE_CONTEXT, base64.b64encode(encoded).decode()))
    if envelope.bucket_key:
        headers.append((SSE_BUCKET_KEY, "true"))
    return headers


def object_headers(record: ObjectRecord, customer_key_md5: str | None, *, checksum: bool) -> list[tuple[str, str]]:
    """What GET and HEAD return about an object (besides Content-Length and Content-Range)."""
    headers = [
        ("etag", f'"{record.etag}"'),
        ("last-modified", http_date(record.last_modified)),
        ("content-type", record.content_type),
        ("accept-ranges", "bytes"),
    ]
    headers.extend(record.headers.items())
    headers.extend((META_PREFIX + name, value) for name, value in record.user_metadata.items())
    headers.extend(sse_response(record.encryption, customer_key_md5))
    if checksum and record.checksum is not None:
        headers.append((f"x-amz-checksum-{record.checksum.algorithm.lower()}", record.checksum.value))
        headers.append(("x-amz-checksum-type", record.checksum.type))
    return headers
