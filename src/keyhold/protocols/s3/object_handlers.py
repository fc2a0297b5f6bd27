"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject, UpdateObjectEncryption,
GetObjectAcl."""

import itertools
from collections.abc import Iterable, Iterator
from urllib.parse import unquote

from keyhold.domain.objects.conditions import parse_range
from keyhold.domain.objects.errors import InvalidArgument, InvalidRequest
from keyhold.protocols.http import Response
from keyhold.protocols.s3 import headers as h
from keyhold.protocols.s3 import xml, xml_parse
from keyhold.protocols.s3.call import Call


def _customer_md5(call: Call, prefix: str = "") -> str | None:
    return call.headers.get(prefix + h.CUSTOMER_KEY_MD5)


def _customer_key(call: Call, prefix: str = "") -> bytes | None:
    return h.customer_key(call.headers, secure=call.ctx.secure, allow_http=call.allow_http_ssec, prefix=prefix)


def put_object(call: Call) -> Response:
    sse = h.sse_request(call.headers, secure=call.ctx.secure, allow_http_ssec=call.allow_http_ssec)
    attributes = h.attributes(call.headers)
    payload = call.payload()
    record = call.store.objects.put(
        call.ctx,
        call.bucket,
        call.key,
        attributes,
        sse,
        payload,
        if_match=call.headers.get("if-match"),
        if_none_match=call.headers.get("if-none-match"),
    )
    headers = [("etag", f'"{record.etag}"')]
    headers.extend(h.sse_response(record.encryption, _customer_md5(call), context=True))
    if record.checksum is not None:
        headers.append((f"x-amz-checksum-{record.checksum.algorithm.lower()}", record.checksum.value))
        headers.append(("x-amz-checksum-type", record.checksum.type))
    return call.respond(headers=headers)


def get_object(call: Call) -> Response:
    h.refuse_sse_on_read(call.headers)
    if "partNumber" in call.query:
        raise InvalidArgument("partNumber is not supported by this server", "partNumber", call.query["partNumber"])
    read = call.store.objects.get(
        call.ctx, call.bucket, call.key, _customer_key(call), h.conditions(call.headers), call.headers.get("range")
    )
    record = read.record
    headers = h.object_headers(record, _customer_md5(call), checksum=_checksum_mode(call) and read.range is None)
    overrides = _response_overrides(call)
    replaced = {name for name, _value in overrides}  # an override replaces the stored header, never adds a second
    headers = [(name, value) for name, value in headers if name not in replaced] + overrides
    status, length = 200, record.size
    if read.range is not None:
        start, end = read.range
        status, length = 206, end - start + 1
        headers.append(("content-range", f"bytes {start}-{end}/{record.size}"))
    headers.append(("content-length", str(length)))
    response = call.respond(status, headers=headers)
    return Response(response.status, b"", response.headers, stream=_prefetched(read.body))


def _prefetched(body: Iterator[bytes | bytearray]) -> Iterable[bytes]:
    """Decrypt the first block before the status line goes out, so a damaged object answers 500 rather than
    a cut connection whenever the damage is at its start (header, key, first chunks)."""
    first = next(body, None)
    if first is None:
        return []
    return itertools.chain((first,), body)  # type: ignore[arg-type]  # bytearrays go to the socket as they are


def head_object(call: Call) -> Response:
    h.refuse_sse_on_read(call.headers)
    record = call.store.objects.head(call.ctx, call.bucket, call.key, _customer_key(call), h.conditions(call.headers))
    byte_range = parse_range(call.headers.get("range"), record.size)  # as GET would serve it: 206, or 416
    headers = h.object_headers(record, _customer_md5(call), checksum=_checksum_mode(call) and byte_range is None)
    status, length = 200, record.size
    if byte_range is not None:
        start, end = byte_range
        status, length = 206, end - start + 1
        headers.append(("content-range", f"bytes {start}-{end}/{record.size}"))
    headers.append(("content-length", str(length)))
    return call.respond(status, headers=headers)


def get_object_acl(call: Call) -> Response:
    owner_id = call.store.objects.acl_owner(call.ctx, call.bucket, call.key)
    return call.respond(body=xml.access_control_policy(owner_id))


def _checksum_mode(call: Call) -> bool:
    return call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"


_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def _response_overrides(call: Call) -> list[tuple[str, str]]:
    return [(header, call.query[name]) for name, header in _OVERRIDES.items() if name in call.query]


def delete_object(call: Call) -> Response:
    call.store.objects.delete(call.ctx, call.bucket, call.key)
    return call.respond(204)


def copy_source(call: Call, header: str = "x-amz-copy-source") -> tuple[str, str]:
    raw = call.headers[header]
    source = unquote(raw.split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", header, raw)
    return bucket, key


def copy_object(call: Call) -> Response:
    source_bucket, source_key = copy_source(call)
    directive = call.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.", "x-amz-metadata-directive", directive)
    sse = h.sse_request(call.headers, secure=call.ctx.secure, allow_http_ssec=call.allow_http_ssec)
    _source, record = call.store.objects.copy(
        call.ctx,
        source_bucket,
        source_key,
        call.bucket,
        call.key,
        source_customer_key=_customer_key(call, h.COPY_SOURCE_PREFIX),
        source_conditions=h.conditions(call.headers, h.COPY_SOURCE_PREFIX),
        replace_metadata=directive == "REPLACE",
        attributes=h.attributes(call.headers),
        sse=sse,
    )
    headers = h.sse_response(record.encryption, _customer_md5(call), context=True)  # as PutObject (s3-sse.md 1.1)
    return call.respond(
        body=xml.copy_object_result(record.etag, record.last_modified, record.checksum), headers=headers
    )


def update_object_encryption(call: Call) -> Response:
    key_arn, bucket_key = xml_parse.parse_object_encryption(call.small_body())
    if not key_arn.startswith("arn:"):
        raise InvalidRequest("KMSKeyArn must be a KMS key ARN.")
    call.store.objects.update_encryption(call.ctx, call.bucket, call.key, key_arn, bool(bucket_key))
    return call.respond()
