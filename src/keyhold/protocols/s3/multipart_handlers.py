"""Multipart upload operations."""

import base64
import binascii
import re
from collections.abc import Sequence

from keyhold.domain.objects.errors import InvalidArgument
from keyhold.domain.objects.multipart import CompletedPart
from keyhold.protocols.http import Response
from keyhold.protocols.s3 import checksums, xml, xml_parse
from keyhold.protocols.s3 import headers as h
from keyhold.protocols.s3.call import Call
from keyhold.protocols.s3.object_handlers import copy_source

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


def combine_checksum(algorithm: str, kind: str, parts: Sequence[tuple[str, int]]) -> str | None:
    """The whole object's checksum from its parts' (base64 value, size): COMPOSITE or FULL_OBJECT."""
    found = checksums.Algorithm.from_name(algorithm)
    if found is None:
        return None
    try:
        digests = [base64.b64decode(value) for value, _size in parts]
        if kind == "FULL_OBJECT":
            whole = checksums.combine_full_object(
                found, [(d, size) for d, (_v, size) in zip(digests, parts, strict=True)]
            )
            return base64.b64encode(whole).decode()
        return checksums.composite(found, digests)
    except (ValueError, binascii.Error):
        return None


def create_multipart_upload(call: Call) -> Response:
    sse = h.sse_request(call.headers, secure=call.ctx.secure, allow_http_ssec=call.allow_http_ssec)
    declared = checksums.multipart_checksum(call.headers)
    upload = call.store.uploads.create(
        call.ctx,
        call.bucket,
        call.key,
        h.attributes(call.headers),
        sse,
        declared[0].value if declared else None,
        declared[1].value if declared else None,
    )
    headers = h.sse_response(upload.encryption, call.headers.get(h.CUSTOMER_KEY_MD5), context=True)
    if declared:
        headers += [("x-amz-checksum-algorithm", declared[0].value), ("x-amz-checksum-type", declared[1].value)]
    return call.respond(body=xml.initiate_multipart_upload(call.bucket, call.key, upload.upload_id), headers=headers)


def _part_number(call: Call) -> int:
    value = call.query.get("partNumber", "")
    if not value.isdigit():
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", value)
    return int(value)


def _customer_key(call: Call, prefix: str = "") -> bytes | None:
    return h.customer_key(call.headers, secure=call.ctx.secure, allow_http=call.allow_http_ssec, prefix=prefix)


def upload_part(call: Call) -> Response:
    number = _part_number(call)
    upload_id = call.query["uploadId"]
    payload = call.payload()
    upload, part = call.store.uploads.upload_part(
        call.ctx, call.bucket, call.key, upload_id, number, _customer_key(call), payload
    )
    headers = [("etag", f'"{part.etag}"')]
    headers.extend(h.sse_response(upload.encryption, call.headers.get(h.CUSTOMER_KEY_MD5)))
    if payload.checksum is not None:
        headers.append((f"x-amz-checksum-{payload.checksum.algorithm.lower()}", payload.checksum.value))
    return call.respond(headers=headers)


def upload_part_copy(call: Call) -> Response:
    number = _part_number(call)
    source_bucket, source_key = copy_source(call)
    source_range = None
    range_header = call.headers.get("x-amz-copy-source-range")
    if range_header is not None:
        match = _RANGE.fullmatch(range_header.strip())
        if match is None:
            raise InvalidArgument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
                "the zero-based offsets of the first and last bytes to copy",
                "x-amz-copy-source-range",
                range_header,
            )
        source_range = (int(match.group(1)), int(match.group(2)))
    upload, part, _source = call.store.uploads.upload_part_copy(
        call.ctx,
        call.bucket,
        call.key,
        call.query["uploadId"],
        number,
        _customer_key(call),
        source_bucket,
        source_key,
        _customer_key(call, h.COPY_SOURCE_PREFIX),
        h.conditions(call.headers, h.COPY_SOURCE_PREFIX),
        source_range,
    )
    headers = h.sse_response(upload.encryption, call.headers.get(h.CUSTOMER_KEY_MD5))
    return call.respond(body=xml.copy_part_result(part.etag, part.last_modified), headers=headers)


def complete_multipart_upload(call: Call) -> Response:
    parts = [
        CompletedPart(part.number, part.etag) for part in xml_parse.parse_complete_multipart_upload(call.small_body())
    ]
    record = call.store.uploads.complete(
        call.ctx,
        call.bucket,
        call.key,
        call.query["uploadId"],
        parts,
        if_match=call.headers.get("if-match"),
        if_none_match=call.headers.get("if-none-match"),
    )
    location = f"/{call.bucket}/{call.key}"
    body = xml.complete_multipart_upload(location, call.bucket, call.key, record.etag, record.checksum)
    # SSE, key id and bucket key only: CompleteMultipartUpload's output has no SSE-C members (s3-sse.md 1.1).
    headers = [(name, value) for name, value in h.sse_response(record.encryption) if name != h.CUSTOMER_ALGORITHM]
    return call.respond(body=body, headers=headers)


def abort_multipart_upload(call: Call) -> Response:
    call.store.uploads.abort(call.ctx, call.bucket, call.key, call.query["uploadId"])
    return call.respond(204)


def list_parts(call: Call) -> Response:
    marker = call.query.get("part-number-marker", "0")
    max_parts = call.query.get("max-parts", "1000")
    if not marker.isdigit() or not max_parts.isdigit():
        raise InvalidArgument("Provided part-number-marker or max-parts not an integer", "max-parts", max_parts)
    page = call.store.uploads.list_parts(
        call.ctx, call.bucket, call.key, call.query["uploadId"], int(marker), int(max_parts)
    )
    body = xml.list_parts(
        page,
        bucket=call.bucket,
        key=call.key,
        max_parts=min(int(max_parts), 1000),
        part_number_marker=int(marker) or None,
        owner_id=call.ctx.account_id,
        initiator_arn=page.upload.initiator_arn,
        checksum_algorithm=page.upload.checksum_algorithm,
        checksum_type=page.upload.checksum_type,
    )
    return call.respond(body=body)


def list_multipart_uploads(call: Call) -> Response:
    max_uploads = call.query.get("max-uploads", "1000")
    if not max_uploads.isdigit():
        raise InvalidArgument("Provided max-uploads not an integer or within integer range", "max-uploads", max_uploads)
    prefix, delimiter = call.query.get("prefix", ""), call.query.get("delimiter", "")
    key_marker = call.query.get("key-marker") or None
    upload_id_marker = call.query.get("upload-id-marker") or None
    page = call.store.uploads.list_uploads(
        call.ctx, call.bucket, prefix, delimiter, key_marker, upload_id_marker, int(max_uploads)
    )
    body = xml.list_multipart_uploads(
        page,
        bucket=call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=min(int(max_uploads), 1000),
        encoding_type=call.query.get("encoding-type"),
        owner_id=call.ctx.account_id,
    )
    return call.respond(body=body)
