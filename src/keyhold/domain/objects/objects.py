"""Objects: write, read, copy, delete, list, and change how an object's data key is kept.

A write streams the payload through the object stream cipher into a new blob, makes the blob durable, then
commits the metadata row that makes it visible; the object it replaced loses its blobs only after that commit.
So a reader sees the old object or the new one, never a part of either, and a failed write leaves nothing.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.object_keys import opaque_etag
from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.objects.authz import BucketAuthorizer
from keyhold.domain.objects.buckets import Buckets
from keyhold.domain.objects.conditions import (
    Conditions,
    check_copy_source,
    check_read,
    check_write,
    parse_range,
)
from keyhold.domain.objects.envelopes import Envelopes, OpenEnvelope, SseSpec, bucket_arn, object_arn
from keyhold.domain.objects.errors import (
    InvalidArgument,
    InvalidRequest,
    KeyTooLong,
    MetadataTooLarge,
    NoSuchBucket,
    NoSuchKey,
    ObjectAccessDenied,
)
from keyhold.domain.objects.inputs import ObjectAttributes, Payload, SseRequest
from keyhold.domain.objects.listing import list_page
from keyhold.domain.objects.model import (
    NONE,
    SINGLE_PART,
    SSE_C,
    SSE_KMS,
    SSE_S3,
    Bucket,
    ObjectPage,
    ObjectRecord,
    StoredPart,
)
from keyhold.domain.objects.ports import BlobStore, ObjectRepo
from keyhold.domain.objects.sealing import RowSeals
from keyhold.domain.objects.streams import read_part, write_stream

log = logging.getLogger("keyhold.objects")

MAX_KEY_BYTES = 1024
MAX_USER_METADATA_BYTES = 2048
MAX_LIST_KEYS = 1000
COPY_TO_ITSELF = (
    "This copy request is illegal because it is trying to copy an object to itself without changing the object's "
    "metadata, storage class, website redirect location or encryption attributes."
)
MSG_SSE_C_BLOCKED = (
    "Requests specifying Server Side Encryption with Customer provided keys are blocked for this bucket."
)


@dataclass(frozen=True, slots=True)
class ObjectRead:
    record: ObjectRecord
    range: tuple[int, int] | None  # the inclusive byte range served, None for the whole object
    body: Iterator[bytes | bytearray]


def check_key(key: str) -> None:
    if not key:
        raise InvalidArgument("Key must not be empty", "key", key)
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLong()
    if "\x00" in key or any("\ud800" <= c <= "\udfff" for c in key):  # not storable, and no XML can list them
        raise InvalidArgument(
            "Object key contains characters that are not supported", "key", key.encode("unicode_escape").decode()
        )


def check_metadata(user_metadata: Mapping[str, str]) -> None:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in user_metadata.items())
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataTooLarge(size, MAX_USER_METADATA_BYTES)


def sse_facts(sse: SseRequest) -> dict[str, ContextValue]:
    """The S3 condition keys a write request's SSE headers set (absent headers set none)."""
    facts: dict[str, ContextValue] = {}
    if sse.algorithm is not None:
        facts["s3:x-amz-server-side-encryption"] = sse.algorithm
    if sse.kms_key_id is not None:
        facts["s3:x-amz-server-side-encryption-aws-kms-key-id"] = sse.kms_key_id
    if sse.customer_key is not None:
        facts["s3:x-amz-server-side-encryption-customer-algorithm"] = "AES256"
    return facts


class Objects:
    def __init__(
        self,
        repo: ObjectRepo,
        blobs: BlobStore,
        buckets: Buckets,
        envelopes: Envelopes,
        authz: BucketAuthorizer,
        seals: RowSeals,
        *,
        default_mode: str = SSE_S3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``default_mode`` is what an object gets when neither the request nor the bucket asks for encryption:
        SSE-S3, as on AWS since 2023, or NONE on a server started with --object-encryption off."""
        self._repo = repo
        self._blobs = blobs
        self._buckets = buckets
        self.envelopes = envelopes
        self._authz = authz
        self._seals = seals
        self._default_mode = default_mode
        self._clock = clock

    # -- helpers shared with multipart uploads ----------------------------------------------------------------

    def bucket_for(
        self, ctx: RequestContext, name: str, action: str, key: str, facts: Mapping[str, ContextValue] | None = None
    ) -> Bucket:
        bucket = self._buckets_repo_get(name)
        self._authz.check(ctx, bucket, action, object_arn(name, key), facts)
        return bucket

    def _buckets_repo_get(self, name: str) -> Bucket:
        bucket = self._repo.get_bucket(name)
        if bucket is None:
            raise NoSuchBucket(name)
        return bucket

    def spec_for(self, bucket: Bucket, sse: SseRequest) -> SseSpec:
        """The encryption a write gets: its own headers, else the bucket's default, else the server's."""
        default = bucket.encryption
        if sse.customer_key is not None:
            if default is not None and "SSE-C" in default.blocked_types:
                raise ObjectAccessDenied(MSG_SSE_C_BLOCKED)
            return SseSpec(mode=SSE_C, customer_key=sse.customer_key)
        if sse.algorithm is not None:
            bucket_key = sse.bucket_key
            if bucket_key is None:  # not sent: inherited from the bucket's setting
                bucket_key = bool(default and default.bucket_key_enabled and default.algorithm == SSE_KMS)
            return SseSpec(
                mode=sse.algorithm,
                kms_key_id=sse.kms_key_id,
                context=dict(sse.context or {}),
                bucket_key=bucket_key and sse.algorithm == SSE_KMS,
            )
        if default is not None:
            bucket_key = default.bucket_key_enabled if sse.bucket_key is None else sse.bucket_key
            return SseSpec(
                mode=default.algorithm,
                kms_key_id=default.kms_key_id,
                bucket_key=bucket_key and default.algorithm == SSE_KMS,
            )
        return SseSpec(mode=self._default_mode)

    def new_etag(self, opened: OpenEnvelope, md5: bytes | None) -> str:
        """The plaintext's MD5 for unencrypted and SSE-S3 objects, as S3; an opaque value otherwise."""
        if opened.envelope.mode in (NONE, SSE_S3) and md5 is not None:
            return md5.hex()
        return opaque_etag()

    @staticmethod
    def wants_md5(mode: str) -> bool:
        return mode in (NONE, SSE_S3)

    def open_record(self, ctx: RequestContext, record: ObjectRecord, customer_key: bytes | None) -> tuple[bytes, ...]:
        """The object's data keys, once its row holds together: a size that is not its parts' sum, or parts out
        of order, would serve a cut or shuffled object without any stream failing its check."""
        numbers = [part.number for part in record.parts]
        if not numbers or numbers != sorted(set(numbers)) or record.size != sum(p.size for p in record.parts):
            raise InvalidCiphertext
        data_keys = self.envelopes.open(ctx, record.bucket, record.key, record.encryption, customer_key)
        if record.size == 0:  # nothing to stream, but a damaged header or final tag is still noticed
            for part in record.parts:
                list(read_part(self._blobs, part, data_keys, 0, -1))
        return data_keys

    def stream(
        self, record: ObjectRecord, data_keys: Sequence[bytes], start: int, end: int
    ) -> Iterator[bytes | bytearray]:
        """Plaintext bytes [start, end] of an object, across its parts."""
        offset = 0
        for part in record.parts:
            part_start, part_end = offset, offset + part.size - 1
            offset += part.size
            if part.size == 0 or part_end < start or part_start > end:
                continue
            yield from read_part(
                self._blobs, part, data_keys, max(start, part_start) - part_start, min(end, part_end) - part_start
            )

    def discard(self, blob_ids: Iterable[str]) -> None:
        """Delete blobs nothing refers to any more; a failure only leaks space, so it is logged, not raised."""
        ids = list(blob_ids)
        if not ids:
            return
        try:
            self._blobs.delete(ids)
        except OSError:
            log.exception("could not delete %d unreferenced blobs", len(ids))

    def commit(self, record: ObjectRecord, if_match: str | None = None, if_none_match: str | None = None) -> None:
        """Store the record (conditions checked atomically) and drop the blobs of the object it replaced."""
        if_absent = if_none_match is not None and if_none_match.strip() == "*"
        etag = None if if_match is None or if_match.strip() == "*" else if_match.strip().strip('"')
        record = self._seals.seal(record)
        try:
            if if_match is not None and etag is None:  # If-Match: * - any current object
                current = self._repo.get_object(record.bucket, record.key)
                check_write(if_match, None, current.etag if current else None)
            replaced = self._repo.put_object(record, if_etag=etag, if_absent=if_absent)
        except BaseException:
            self.discard(part.blob_id for part in record.parts)
            raise
        if replaced is not None:
            self.discard(part.blob_id for part in replaced.parts if part not in record.parts)

    # -- PutObject --------------------------------------------------------------------------------------------

    def put(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        attributes: ObjectAttributes,
        sse: SseRequest,
        payload: Payload,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> ObjectRecord:
        check_key(key)
        check_metadata(attributes.user_metadata)
        bucket = self.bucket_for(ctx, bucket_name, "s3:PutObject", key, sse_facts(sse))
        if if_match is not None and self._repo.get_object(bucket.name, key) is None:
            raise NoSuchKey(key)  # If-Match names an existing object: S3 answers 404 NoSuchKey, not 412
        opened = self.envelopes.seal(ctx, bucket.name, key, self.spec_for(bucket, sse))
        written = write_stream(
            self._blobs, payload, opened.data_keys, SINGLE_PART, want_md5=self.wants_md5(opened.envelope.mode)
        )
        etag = self.new_etag(opened, written.md5)
        record = ObjectRecord(
            bucket=bucket.name,
            key=key,
            size=written.size,
            etag=etag,
            last_modified=float(int(self._clock())),  # whole seconds, as S3 shows them
            content_type=attributes.content_type,
            headers=dict(attributes.headers),
            user_metadata=dict(attributes.user_metadata),
            checksum=payload.checksum,
            encryption=opened.envelope,
            parts=(StoredPart(SINGLE_PART, written.size, written.blob_id, etag, written.stream_salt),),
        )
        self.commit(record, if_match, if_none_match)
        return record

    # -- GetObject, HeadObject --------------------------------------------------------------------------------

    def head(
        self, ctx: RequestContext, bucket_name: str, key: str, customer_key: bytes | None, conditions: Conditions
    ) -> ObjectRecord:
        record = self._readable(ctx, bucket_name, key)
        self.envelopes.check_customer_key(record.encryption, customer_key)
        check_read(conditions, record.etag, record.last_modified)
        return record

    def acl_owner(self, ctx: RequestContext, bucket_name: str, key: str) -> str:
        """GetObjectAcl: the account that owns the object (its bucket's owner: Keyhold's buckets are as S3's
        "bucket owner enforced" default, without ACLs). No SSE-C key is needed, as on S3."""
        bucket = self.bucket_for(ctx, bucket_name, "s3:GetObjectAcl", key)
        if self._repo.get_object(bucket_name, key) is None:
            raise NoSuchKey(key)
        return bucket.account_id

    def get(
        self,
        ctx: RequestContext,
        bucket_name: str,
        key: str,
        customer_key: bytes | None,
        conditions: Conditions,
        range_header: str | None,
    ) -> ObjectRead:
        record = self._readable(ctx, bucket_name, key)
        self.envelopes.check_customer_key(record.encryption, customer_key)
        check_read(conditions, record.etag, record.last_modified)
        byte_range = parse_range(range_header, record.size)
        data_keys = self.open_record(ctx, record, customer_key)
        start, end = byte_range if byte_range is not None else (0, record.size - 1)
        body = self.stream(record, data_keys, start, end) if record.size else iter(())
        return ObjectRead(record, byte_range, body)

    def _readable(self, ctx: RequestContext, bucket_name: str, key: str) -> ObjectRecord:
        self.bucket_for(ctx, bucket_name, "s3:GetObject", key)
        return self.sealed_object(bucket_name, key)

    def seal(self, record: ObjectRecord) -> ObjectRecord:
        return self._seals.seal(record)

    def sealed_object(self, bucket_name: str, key: str) -> ObjectRecord:
        """The object's row, once its seal holds (InvalidCiphertext if the row was changed); NoSuchKey if none."""
        record = self._repo.get_object(bucket_name, key)
        if record is None:
            raise NoSuchKey(key)
        return self._seals.check(record)

    # -- DeleteObject(s) --------------------------------------------------------------------------------------

    def delete(self, ctx: RequestContext, bucket_name: str, key: str) -> None:
        self.bucket_for(ctx, bucket_name, "s3:DeleteObject", key)
        removed = self._repo.delete_object(bucket_name, key)
        if removed is not None:
            self.discard(part.blob_id for part in removed.parts)

    def delete_many(
        self, ctx: RequestContext, bucket_name: str, keys: Sequence[str]
    ) -> tuple[list[str], list[tuple[str, str, str]]]:
        """DeleteObjects: each key on its own; errors are per key (key, code, message)."""
        self._buckets_repo_get(bucket_name)
        deleted: list[str] = []
        errors: list[tuple[str, str, str]] = []
        for key in keys:
            try:
                self.delete(ctx, bucket_name, key)
            except ObjectAccessDenied as error:
                errors.append((key, "AccessDenied", error.message))
            else:
                deleted.append(key)
        return deleted, errors

    # -- CopyObject -------------------------------------------------------------------------------------------

    def copy(
        self,
        ctx: RequestContext,
        source_bucket: str,
        source_key: str,
        bucket_name: str,
        key: str,
        *,
        source_customer_key: bytes | None,
        source_conditions: Conditions,
        replace_metadata: bool,
        attributes: ObjectAttributes,
        sse: SseRequest,
    ) -> tuple[ObjectRecord, ObjectRecord]:
        """Copy (re-encrypting as the destination asks); returns (source, new object)."""
        check_key(key)
        source = self._readable(ctx, source_bucket, source_key)
        self.envelopes.check_customer_key(source.encryption, source_customer_key)
        check_copy_source(source_conditions, source.etag, source.last_modified)
        bucket = self.bucket_for(ctx, bucket_name, "s3:PutObject", key, sse_facts(sse))
        if replace_metadata:
            check_metadata(attributes.user_metadata)
        else:
            attributes = ObjectAttributes(source.content_type, source.headers, source.user_metadata)
        if (source_bucket, source_key) == (bucket_name, key) and not replace_metadata and sse.empty:
            raise InvalidRequest(COPY_TO_ITSELF)
        data_keys = self.open_record(ctx, source, source_customer_key)
        opened = self.envelopes.seal(ctx, bucket.name, key, self.spec_for(bucket, sse))
        body = self.stream(source, data_keys, 0, source.size - 1) if source.size else iter(())
        written = write_stream(
            self._blobs, body, opened.data_keys, SINGLE_PART, want_md5=self.wants_md5(opened.envelope.mode)
        )
        etag = self.new_etag(opened, written.md5)
        checksum = source.checksum if source.checksum and source.checksum.type == "FULL_OBJECT" else None
        record = ObjectRecord(
            bucket=bucket.name,
            key=key,
            size=written.size,
            etag=etag,
            last_modified=float(int(self._clock())),  # whole seconds, as S3 shows them
            content_type=attributes.content_type,
            headers=dict(attributes.headers),
            user_metadata=dict(attributes.user_metadata),
            checksum=checksum,
            encryption=opened.envelope,
            parts=(StoredPart(SINGLE_PART, written.size, written.blob_id, etag, written.stream_salt),),
        )
        self.commit(record)
        return source, record

    # -- UpdateObjectEncryption -------------------------------------------------------------------------------

    def update_encryption(
        self, ctx: RequestContext, bucket_name: str, key: str, kms_key_arn: str, bucket_key: bool
    ) -> ObjectRecord:
        """Seal the object's data key under another KMS key; the data is not touched."""
        bucket = self.bucket_for(ctx, bucket_name, "s3:PutObject", key)
        record = self.sealed_object(bucket.name, key)
        if record.encryption.mode not in (SSE_S3, SSE_KMS):
            raise InvalidRequest(
                "UpdateObjectEncryption is only supported for objects encrypted with SSE-S3 or SSE-KMS."
            )
        (data_key,) = self.open_record(ctx, record, None)
        spec = SseSpec(mode=SSE_KMS, kms_key_id=kms_key_arn, bucket_key=bucket_key)
        opened = self.envelopes.seal(ctx, bucket.name, key, spec, data_key=data_key)
        updated = self._seals.seal(replace(record, encryption=opened.envelope))
        self._repo.put_object(updated, if_etag=record.etag)
        return updated

    # -- ListObjects(V2) --------------------------------------------------------------------------------------

    def list(
        self,
        ctx: RequestContext,
        bucket_name: str,
        prefix: str,
        delimiter: str,
        after: str | None,
        max_keys: int,
    ) -> ObjectPage:
        bucket = self._buckets_repo_get(bucket_name)
        facts: dict[str, ContextValue] = {"s3:prefix": prefix, "s3:max-keys": max_keys}
        if delimiter:
            facts["s3:delimiter"] = delimiter
        self._authz.check(ctx, bucket, "s3:ListBucket", bucket_arn(bucket_name), facts)
        return list_page(self._repo, bucket_name, prefix, delimiter, after, min(max_keys, MAX_LIST_KEYS))
