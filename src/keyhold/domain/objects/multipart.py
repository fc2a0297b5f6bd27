"""Multipart uploads: each part is its own encrypted stream (its own salt, so its own key), and completing an
upload only writes the metadata row that lists the parts; no data is copied.

The upload's envelope is made at CreateMultipartUpload (so the KMS key and context are fixed there) and every
UploadPart opens it again: SSE-C parts must bring the same customer key.
"""

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keyhold.crypto.object_keys import opaque_etag
from keyhold.domain.context import RequestContext
from keyhold.domain.objects.conditions import Conditions, check_copy_source, check_write
from keyhold.domain.objects.errors import (
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    NoSuchKey,
    NoSuchUpload,
    ObjectAccessDenied,
)
from keyhold.domain.objects.inputs import ObjectAttributes, Payload, SseRequest
from keyhold.domain.objects.listing import common_prefix, is_common_prefix
from keyhold.domain.objects.model import (
    SSE_C,
    Checksum,
    MultipartUpload,
    ObjectRecord,
    PartPage,
    StoredPart,
    UploadedPart,
    UploadPage,
)
from keyhold.domain.objects.objects import Objects, check_key, check_metadata, sse_facts
from keyhold.domain.objects.ports import BlobStore, ObjectRepo
from keyhold.domain.objects.streams import Written, write_stream

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
MSG_PART_KEY_MISSING = (
    "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate "
    "encryption parameters."
)
MSG_PART_KEY_DIFFERENT = "The provided encryption parameters did not match the ones used originally."


@dataclass(frozen=True, slots=True)
class CompletedPart:
    number: int
    etag: str  # unquoted


class MultipartUploads:
    def __init__(
        self,
        repo: ObjectRepo,
        blobs: BlobStore,
        objects: Objects,
        *,
        combine_checksum: Callable[[str, str, Sequence[tuple[str, int]]], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``combine_checksum(algorithm, type, [(part checksum, part size), ...])`` computes the whole object's
        checksum from its parts' (the protocol layer knows the algorithms); None if it cannot."""
        self._repo = repo
        self._blobs = blobs
        self._objects = objects
        self._combine = combine_checksum
        self._clock = clock

    def create(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        attributes: ObjectAttributes,
        sse: SseRequest,
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> MultipartUpload:
        check_key(key)
        check_metadata(attributes.user_metadata)
        bucket = self._objects.bucket_for(ctx, bucket_name, "s3:PutObject", key, sse_facts(sse))
        opened = self._objects.envelopes.seal(ctx, bucket.name, key, self._objects.spec_for(bucket, sse))
        upload = MultipartUpload(
            upload_id=secrets.token_urlsafe(48),
            bucket=bucket.name,
            key=key,
            initiated=self._clock(),
            initiator_arn=ctx.principal.arn,
            content_type=attributes.content_type,
            headers=dict(attributes.headers),
            user_metadata=dict(attributes.user_metadata),
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type if checksum_algorithm else None,
            encryption=opened.envelope,
        )
        self._repo.create_upload(upload)
        return upload

    def _upload(self, ctx: RequestContext, bucket_name: str, key: str, upload_id: str, action: str) -> MultipartUpload:
        self._objects.bucket_for(ctx, bucket_name, action, key)
        upload = self._repo.get_upload(upload_id)
        if upload is None or upload.bucket != bucket_name or upload.key != key:
            raise NoSuchUpload(upload_id)
        return upload

    def _part_keys(self, ctx: RequestContext, upload: MultipartUpload, customer_key: bytes | None) -> tuple[bytes, ...]:
        envelope = upload.encryption
        if envelope.mode == SSE_C and customer_key is None:
            raise InvalidRequest(MSG_PART_KEY_MISSING)
        try:
            self._objects.envelopes.check_customer_key(envelope, customer_key)
        except ObjectAccessDenied:  # a different customer key than the upload was started with
            raise InvalidRequest(MSG_PART_KEY_DIFFERENT) from None
        return self._objects.envelopes.open(ctx, upload.bucket, upload.key, envelope, customer_key)

    def upload_part(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        upload_id: str,
        number: int,
        customer_key: bytes | None,
        payload: Payload,
    ) -> tuple[MultipartUpload, UploadedPart]:
        _check_part_number(number)
        upload = self._upload(ctx, bucket_name, key, upload_id, "s3:PutObject")
        data_keys = self._part_keys(ctx, upload, customer_key)
        mode = upload.encryption.mode
        written = write_stream(self._blobs, payload, data_keys, number, want_md5=self._objects.wants_md5(mode))
        return upload, self._store_part(upload, number, written, payload.checksum)

    def upload_part_copy(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        upload_id: str,
        number: int,
        customer_key: bytes | None,
        source_bucket: str,
        source_key: str,
        source_customer_key: bytes | None,
        source_conditions: Conditions,
        source_range: tuple[int, int] | None,
    ) -> tuple[MultipartUpload, UploadedPart, ObjectRecord]:
        _check_part_number(number)
        upload = self._upload(ctx, bucket_name, key, upload_id, "s3:PutObject")
        data_keys = self._part_keys(ctx, upload, customer_key)
        self._objects.bucket_for(ctx, source_bucket, "s3:GetObject", source_key)
        source = self._objects.sealed_object(source_bucket, source_key)
        self._objects.envelopes.check_customer_key(source.encryption, source_customer_key)
        check_copy_source(source_conditions, source.etag, source.last_modified)
        start, end = source_range if source_range is not None else (0, source.size - 1)
        if source_range is not None and (end >= source.size or start > end):
            raise InvalidArgument(
                f"Range specified is not valid for source object of size: {source.size}",
                "x-amz-copy-source-range",
                f"bytes={start}-{end}",
            )
        source_keys = self._objects.open_record(ctx, source, source_customer_key)
        body = self._objects.stream(source, source_keys, start, end) if source.size else iter(())
        mode = upload.encryption.mode
        written = write_stream(self._blobs, body, data_keys, number, want_md5=self._objects.wants_md5(mode))
        part = self._store_part(upload, number, written, None)
        return upload, part, source

    def _store_part(
        self, upload: MultipartUpload, number: int, written: Written, checksum: Checksum | None
    ) -> UploadedPart:
        md5 = written.md5
        etag = md5.hex() if md5 is not None else opaque_etag()
        part = UploadedPart(
            upload_id=upload.upload_id,
            number=number,
            size=written.size,
            etag=etag,
            blob_id=written.blob_id,
            last_modified=float(int(self._clock())),  # whole seconds, as S3 shows them
            checksum=checksum.value if checksum is not None else None,
            stream_salt=written.stream_salt,
        )
        try:
            replaced = self._repo.put_part(part)
        except BaseException:
            self._objects.discard([written.blob_id])
            raise
        if replaced is not None:
            self._objects.discard([replaced.blob_id])
        return part

    def complete(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ObjectRecord:
        upload = self._upload(ctx, bucket_name, key, upload_id, "s3:PutObject")
        numbers = [part.number for part in parts]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise InvalidPartOrder()
        stored = {part.number: part for part in self._all_parts(upload_id)}
        chosen: list[UploadedPart] = []
        for requested in parts:
            part = stored.get(requested.number)
            if part is None or part.etag != requested.etag:
                raise InvalidPart()
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise EntityTooSmall()
        digest = hashlib.md5(b"".join(bytes.fromhex(part.etag) for part in chosen), usedforsecurity=False)
        etag = f"{digest.hexdigest()}-{len(chosen)}"
        checksum = None
        if upload.checksum_algorithm and all(part.checksum for part in chosen):
            kind = upload.checksum_type or "COMPOSITE"
            value = self._combine(
                upload.checksum_algorithm, kind, [(part.checksum or "", part.size) for part in chosen]
            )
            if value is not None:
                checksum = Checksum(upload.checksum_algorithm, value, kind)
        record = ObjectRecord(
            bucket=upload.bucket,
            key=upload.key,
            size=sum(part.size for part in chosen),
            etag=etag,
            last_modified=float(int(self._clock())),  # whole seconds, as S3 shows them
            content_type=upload.content_type,
            headers=dict(upload.headers),
            user_metadata=dict(upload.user_metadata),
            checksum=checksum,
            encryption=upload.encryption,
            parts=tuple(
                StoredPart(part.number, part.size, part.blob_id, part.etag, part.stream_salt) for part in chosen
            ),
        )
        if if_match is not None or if_none_match is not None:
            current = self._repo.get_object(bucket_name, key)
            if if_match is not None and current is None:
                raise NoSuchKey(key)  # as PutObject: If-Match on a key with no object is 404 NoSuchKey
            check_write(if_match, if_none_match, current.etag if current else None)
        replaced, unused = self._repo.complete_upload(upload_id, self._objects.seal(record))
        self._objects.discard(part.blob_id for part in unused)
        if replaced is not None:
            self._objects.discard(part.blob_id for part in replaced.parts)
        return record

    def _all_parts(self, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        after = 0
        while True:
            batch = self._repo.list_parts(upload_id, after, 1000)
            parts.extend(batch)
            if len(batch) < 1000:
                return parts
            after = batch[-1].number

    def abort(self, ctx: RequestContext, bucket_name: str, key: str, upload_id: str) -> None:
        self._upload(ctx, bucket_name, key, upload_id, "s3:AbortMultipartUpload")
        parts = self._repo.abort_upload(upload_id)
        if parts is None:
            raise NoSuchUpload(upload_id)
        self._objects.discard(part.blob_id for part in parts)

    def list_parts(
        self, ctx: RequestContext, bucket_name: str, key: str, upload_id: str, after: int, max_parts: int
    ) -> PartPage:
        upload = self._upload(ctx, bucket_name, key, upload_id, "s3:ListMultipartUploadParts")
        limit = min(max_parts, 1000)
        parts = self._repo.list_parts(upload_id, after, limit + 1)
        truncated = len(parts) > limit
        parts = parts[:limit]
        return PartPage(upload, parts, truncated, parts[-1].number if truncated and parts else None)

    def list_uploads(
        self,
        ctx: RequestContext,
        bucket_name: str,
        prefix: str,
        delimiter: str,
        key_marker: str | None,
        upload_id_marker: str | None,
        max_uploads: int,
    ) -> UploadPage:
        self._objects.bucket_for(ctx, bucket_name, "s3:ListBucketMultipartUploads", "")
        limit = min(max_uploads, 1000)
        uploads: list[MultipartUpload] = []
        prefixes: list[str] = []
        batch = self._repo.list_uploads(bucket_name, prefix, key_marker, upload_id_marker, 10_000)
        # A key marker that is a common prefix (the previous page ended with it): its uploads were listed as it.
        last_prefix = key_marker if is_common_prefix(key_marker, prefix, delimiter) else None
        last: MultipartUpload | str | None = None
        for upload in batch:
            common = common_prefix(upload.key, prefix, delimiter)
            if common is not None and common == last_prefix:
                continue  # rolled up into a common prefix already listed: not an entry of its own
            if len(uploads) + len(prefixes) == limit:
                if isinstance(last, str):
                    return UploadPage(uploads, prefixes, True, last, None)
                return UploadPage(uploads, prefixes, True, last.key if last else None, last.upload_id if last else None)
            if common is not None:
                prefixes.append(common)
                last = last_prefix = common
            else:
                uploads.append(upload)
                last = upload
        return UploadPage(uploads, prefixes, False, None, None)


def _check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(number)
        )
