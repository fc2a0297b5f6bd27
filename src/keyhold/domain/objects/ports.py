"""What the object store needs from storage: a metadata repository and a blob store.

Each ObjectRepo method is one atomic transaction. Keys are compared and ordered as S3 orders them: by their
UTF-8 bytes (which is code point order).
"""

import enum
from collections.abc import Iterator, Sequence
from typing import Protocol

from keyhold.domain.objects.model import (
    Bucket,
    BucketEncryption,
    MultipartUpload,
    ObjectRecord,
    SseS3Key,
    UploadedPart,
)


class DeleteBucketResult(enum.Enum):
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    NOT_EMPTY = "not_empty"


class ObjectRepo(Protocol):
    # -- buckets ----------------------------------------------------------------------------------------------

    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        """Insert the bucket; if the name is taken, insert nothing and return the existing bucket."""
        ...

    def get_bucket(self, name: str) -> Bucket | None: ...

    def list_buckets(self, account_id: str) -> list[Bucket]:
        """The account's buckets ordered by name."""
        ...

    def delete_bucket(self, name: str) -> tuple[DeleteBucketResult, list[str]]:
        """Delete the bucket if it holds no objects (in-progress multipart uploads are deleted with it).
        Returns the outcome and the blob ids of the parts of the uploads deleted with it (the caller deletes
        those blobs); the list is empty unless the outcome is DELETED."""
        ...

    def set_bucket_encryption(self, name: str, encryption: BucketEncryption | None) -> bool:
        """False if there is no such bucket."""
        ...

    def set_bucket_policy(self, name: str, policy: str | None) -> bool:
        """False if there is no such bucket."""
        ...

    # -- objects ----------------------------------------------------------------------------------------------

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    def put_object(
        self, record: ObjectRecord, if_etag: str | None = None, if_absent: bool = False
    ) -> ObjectRecord | None:
        """Insert or replace the object and return the record it replaced (whose blobs the caller deletes).

        ``if_absent``: only if no object has this key; ``if_etag``: only if the current object has this ETag.
        A failed condition raises PreconditionFailed and changes nothing. The bucket must exist (NoSuchBucket).
        """
        ...

    def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Delete and return the object, or None if there was none."""
        ...

    def list_objects(
        self, bucket: str, prefix: str, after: str | None, from_key: str | None, limit: int
    ) -> list[ObjectRecord]:
        """Objects whose key starts with ``prefix``, is greater than ``after`` and not less than ``from_key``
        (either may be None), in key order, at most ``limit``."""
        ...

    def count_objects(self, bucket: str) -> int: ...

    def referenced_blobs(self) -> set[str]:
        """Every blob id an object or an uploaded part refers to (for the unreferenced-blob sweep)."""
        ...

    # -- multipart uploads ------------------------------------------------------------------------------------

    def create_upload(self, upload: MultipartUpload) -> None:
        """Raises NoSuchBucket if the upload's bucket does not exist."""
        ...

    def get_upload(self, upload_id: str) -> MultipartUpload | None: ...

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str | None, upload_id_marker: str | None, limit: int
    ) -> list[MultipartUpload]:
        """In-progress uploads ordered by (key, initiated, upload id), after the (key, upload id) marker: uploads of
        keys greater than key_marker, and, when upload_id_marker is given, uploads of key_marker itself that come
        after that upload id."""
        ...

    def put_part(self, part: UploadedPart) -> UploadedPart | None:
        """Insert or replace the part and return the one it replaced; raises NoSuchUpload if the upload is gone."""
        ...

    def list_parts(self, upload_id: str, after_part: int, limit: int) -> list[UploadedPart]: ...

    def complete_upload(self, upload_id: str, record: ObjectRecord) -> tuple[ObjectRecord | None, list[UploadedPart]]:
        """Atomically: store the object, delete the upload and its parts. Returns the replaced object and the
        parts that the object does not use (by blob id), whose blobs the caller deletes. Raises NoSuchUpload if
        the upload is gone."""
        ...

    def abort_upload(self, upload_id: str) -> list[UploadedPart] | None:
        """Delete the upload and return its parts, or None if there was no such upload."""
        ...

    # -- the SSE-S3 key ---------------------------------------------------------------------------------------

    def sse_s3_keys(self) -> list[SseS3Key]:
        """Every generation, oldest first."""
        ...

    def add_sse_s3_key(self, key: SseS3Key) -> None: ...


class BlobWriter(Protocol):
    blob_id: str

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def commit(self) -> None:
        """Make the blob durable and visible under ``blob_id``: fsync, rename into place, fsync the directory."""
        ...

    def abort(self) -> None:
        """Remove whatever was written; the blob id stays unused. Safe to call after commit (then a no-op)."""
        ...


class BlobStore(Protocol):
    """Where the (encrypted) bytes of objects live. Blobs are written once and never modified."""

    def create(self) -> BlobWriter:
        """A writer for a new blob with a fresh random id."""
        ...

    def read(self, blob_id: str, offset: int, length: int, block_size: int = 1 << 20) -> Iterator[bytes]:
        """The bytes [offset, offset + length) in blocks of at most ``block_size``; raises BlobMissing if the
        blob does not exist and BlobTruncated if it ends before offset + length."""
        ...

    def size(self, blob_id: str) -> int: ...

    def delete(self, blob_ids: Sequence[str]) -> None:
        """Delete these blobs; ids that do not exist are ignored."""
        ...

    def list_blobs(self, older_than_seconds: float) -> Iterator[str]:
        """Ids of committed blobs not modified for ``older_than_seconds``."""
        ...


class BlobMissing(Exception):
    pass


class BlobTruncated(Exception):
    pass
