"""SqlObjectRepo: the object store's metadata (buckets, objects, multipart uploads, SSE-S3 keys) on SQLAlchemy
Core, for SQLite and PostgreSQL alike. Implements keyhold.domain.objects.ports.ObjectRepo.

Each method is one transaction. Keys are compared and ordered by their UTF-8 bytes on both backends (the key
columns are binary-collated, see schema.py), and a prefix is matched with a range of keys, never with LIKE.

Concurrency. A method that reads and then writes on what it read runs in a *write transaction* (``_write``):
on SQLite it starts with BEGIN IMMEDIATE, which takes the database's write lock up front, so those methods run
one at a time (the sqlite3 module would otherwise start the transaction only at the first INSERT/UPDATE/DELETE,
after the reads). On PostgreSQL (READ COMMITTED) they lock the rows they depend on, always in the order bucket,
then upload, then object or part, so they cannot deadlock one another:

- writing an object or creating an upload takes a KEY SHARE lock on the bucket row (writers of one bucket do not
  block each other; DeleteBucket, which locks the bucket row FOR UPDATE, waits for them and they for it);
- replacing an object or a part locks its row FOR UPDATE; inserting a new one relies on the primary key: a
  concurrent insert of the same key makes one of them fail, and that one tries again (or, under ``if_absent``,
  fails its condition);
- writing a part takes a KEY SHARE lock on its upload's row; completing or aborting the upload, or deleting its
  bucket, locks it FOR UPDATE before reading its parts, so a part is either among the parts they return or is
  refused with NoSuchUpload.

The "generations" change counters are not bumped: no process caches object metadata.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from keyhold.domain.objects.errors import NoSuchBucket, NoSuchUpload, PreconditionFailed
from keyhold.domain.objects.model import (
    Bucket,
    BucketEncryption,
    MultipartUpload,
    ObjectRecord,
    SseS3Key,
    UploadedPart,
)
from keyhold.domain.objects.ports import DeleteBucketResult
from keyhold.storage.sql.object_rows import (
    bucket_from_row,
    bucket_row,
    dump_bucket_encryption,
    load_parts,
    object_from_row,
    object_row,
    part_from_row,
    part_row,
    upload_from_row,
    upload_row,
    without,
)
from keyhold.storage.sql.schema import s3_buckets, s3_objects, s3_parts, s3_sse_keys, s3_uploads

# How many times a write that lost an insert race with a concurrent one (PostgreSQL) is tried.
_ATTEMPTS = 5

_MAX_CHAR = chr(0x10FFFF)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (surrogates excluded, as no key can hold
    one): the strings in [prefix, bound) are exactly those that start with ``prefix``. None when there is no
    such bound (an empty prefix, or one made only of U+10FFFF: then every string >= prefix starts with it)."""
    stem = prefix.rstrip(_MAX_CHAR)
    if not stem:
        return None
    last = ord(stem[-1]) + 1
    if last == 0xD800:  # skip the surrogates
        last = 0xE000
    return stem[:-1] + chr(last)


def _prefix_clauses(column: Any, prefix: str) -> list[ColumnElement[bool]]:
    if not prefix:
        return []
    clauses: list[ColumnElement[bool]] = [column >= prefix]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        clauses.append(column < upper)
    return clauses


class SqlObjectRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that reads and then writes what it read (see the module's docstring)."""
        with self._engine.begin() as conn:
            if self._sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @staticmethod
    def _lock_bucket(conn: Connection, name: str, *, exclusive: bool = False) -> bool:
        """Lock the bucket row (PostgreSQL) - KEY SHARE to write into the bucket, FOR UPDATE to delete it - and
        say whether it exists."""
        query = select(s3_buckets.c.name).where(s3_buckets.c.name == name)
        query = query.with_for_update() if exclusive else query.with_for_update(read=True, key_share=True)
        return conn.execute(query).first() is not None

    # -- buckets ------------------------------------------------------------------------------------------------

    def create_bucket(self, bucket: Bucket) -> Bucket | None:
        for _ in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(s3_buckets).values(bucket_row(bucket)))
            except IntegrityError:
                existing = self.get_bucket(bucket.name)
                if existing is not None:
                    return existing
                continue  # deleted in the meantime: try again
            return None
        raise RuntimeError(f"could not create bucket {bucket.name!r}: it keeps being created and deleted")

    def get_bucket(self, name: str) -> Bucket | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(s3_buckets).where(s3_buckets.c.name == name)).first()
        return bucket_from_row(row) if row is not None else None

    def list_buckets(self, account_id: str) -> list[Bucket]:
        query = select(s3_buckets).where(s3_buckets.c.account_id == account_id).order_by(s3_buckets.c.name)
        with self._engine.connect() as conn:
            return [bucket_from_row(row) for row in conn.execute(query)]

    def delete_bucket(self, name: str) -> tuple[DeleteBucketResult, list[str]]:
        with self._write() as conn:
            if not self._lock_bucket(conn, name, exclusive=True):
                return DeleteBucketResult.NOT_FOUND, []
            if conn.execute(select(exists().where(s3_objects.c.bucket == name))).scalar():
                return DeleteBucketResult.NOT_EMPTY, []
            uploads = select(s3_uploads.c.upload_id).where(s3_uploads.c.bucket == name)
            # Lock the uploads before reading their parts: a part being written (which holds a KEY SHARE lock on
            # its upload) is then committed and seen here, or refused once the upload is gone - never deleted by
            # the cascade without its blob id being returned.
            conn.execute(uploads.with_for_update()).all()
            blob_ids = list(conn.scalars(select(s3_parts.c.blob_id).where(s3_parts.c.upload_id.in_(uploads))))
            conn.execute(delete(s3_parts).where(s3_parts.c.upload_id.in_(uploads)))
            conn.execute(delete(s3_uploads).where(s3_uploads.c.bucket == name))
            conn.execute(delete(s3_buckets).where(s3_buckets.c.name == name))
        return DeleteBucketResult.DELETED, blob_ids

    def set_bucket_encryption(self, name: str, encryption: BucketEncryption | None) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(s3_buckets)
                .where(s3_buckets.c.name == name)
                .values(encryption=dump_bucket_encryption(encryption))
            )
        return result.rowcount > 0

    def set_bucket_policy(self, name: str, policy: str | None) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(update(s3_buckets).where(s3_buckets.c.name == name).values(policy=policy))
        return result.rowcount > 0

    # -- objects ------------------------------------------------------------------------------------------------

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(s3_objects).where(s3_objects.c.bucket == bucket, s3_objects.c.key == key)).first()
        return object_from_row(row) if row is not None else None

    def put_object(
        self, record: ObjectRecord, if_etag: str | None = None, if_absent: bool = False
    ) -> ObjectRecord | None:
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    if not self._lock_bucket(conn, record.bucket):
                        raise NoSuchBucket(record.bucket)
                    return self._store_object(conn, record, if_etag, if_absent)
            except IntegrityError:
                # A concurrent writer inserted the key between our look and our insert (PostgreSQL; on SQLite
                # writers take turns): that fails an if_absent condition, anything else tries again.
                if if_absent:
                    raise PreconditionFailed("If-None-Match") from None
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _store_object(
        conn: Connection, record: ObjectRecord, if_etag: str | None, if_absent: bool
    ) -> ObjectRecord | None:
        """Insert or replace the object, its bucket locked by the caller; returns the replaced object."""
        where = (s3_objects.c.bucket == record.bucket, s3_objects.c.key == record.key)
        row = conn.execute(select(s3_objects).where(*where).with_for_update()).first()
        old = object_from_row(row) if row is not None else None
        if if_absent and old is not None:
            raise PreconditionFailed("If-None-Match")
        if if_etag is not None and (old is None or old.etag != if_etag):
            raise PreconditionFailed("If-Match")
        values = object_row(record)
        if old is None:
            conn.execute(insert(s3_objects).values(values))
        else:
            conn.execute(update(s3_objects).where(*where).values(without(values, "bucket", "key")))
        return old

    def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        with self._engine.begin() as conn:
            row = conn.execute(
                delete(s3_objects)
                .where(s3_objects.c.bucket == bucket, s3_objects.c.key == key)
                .returning(*s3_objects.c)
            ).first()
        return object_from_row(row) if row is not None else None

    def list_objects(
        self, bucket: str, prefix: str, after: str | None, from_key: str | None, limit: int
    ) -> list[ObjectRecord]:
        if limit <= 0:
            return []
        key = s3_objects.c.key
        query = select(s3_objects).where(s3_objects.c.bucket == bucket, *_prefix_clauses(key, prefix))
        if after is not None:
            query = query.where(key > after)
        if from_key is not None:
            query = query.where(key >= from_key)
        with self._engine.connect() as conn:
            return [object_from_row(row) for row in conn.execute(query.order_by(key).limit(limit))]

    def count_objects(self, bucket: str) -> int:
        query = select(func.count()).select_from(s3_objects).where(s3_objects.c.bucket == bucket)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def referenced_blobs(self) -> set[str]:
        """Parts first, then objects: a blob only ever moves from an uploaded part to a completed object, so under
        READ COMMITTED too (each statement its own snapshot) a blob moving between the two reads is seen once."""
        with self._engine.connect() as conn:
            referenced = set(conn.scalars(select(s3_parts.c.blob_id)))
            for (parts,) in conn.execute(select(s3_objects.c.parts)):
                referenced.update(part.blob_id for part in load_parts(parts))
        return referenced

    # -- multipart uploads --------------------------------------------------------------------------------------

    def create_upload(self, upload: MultipartUpload) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(s3_uploads).values(upload_row(upload)))
        except IntegrityError:
            if self.get_bucket(upload.bucket) is None:
                raise NoSuchBucket(upload.bucket) from None
            raise

    def get_upload(self, upload_id: str) -> MultipartUpload | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(s3_uploads).where(s3_uploads.c.upload_id == upload_id)).first()
        return upload_from_row(row) if row is not None else None

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str | None, upload_id_marker: str | None, limit: int
    ) -> list[MultipartUpload]:
        """The marker upload is placed by its (initiated, upload id); if it is gone (completed or aborted since the
        previous page), the uploads of key_marker that follow are those with a greater upload id, as AWS
        documents it."""
        if limit <= 0:
            return []
        c = s3_uploads.c
        query = select(s3_uploads).where(c.bucket == bucket, *_prefix_clauses(c.key, prefix))
        with self._engine.connect() as conn:
            if key_marker is not None:
                same_key: ColumnElement[bool] | None = None
                if upload_id_marker is not None:
                    initiated = conn.execute(
                        select(c.initiated).where(
                            c.bucket == bucket, c.key == key_marker, c.upload_id == upload_id_marker
                        )
                    ).scalar()
                    later = c.upload_id > upload_id_marker
                    if initiated is not None:
                        later = or_(c.initiated > initiated, and_(c.initiated == initiated, later))
                    same_key = and_(c.key == key_marker, later)
                after_key = c.key > key_marker
                query = query.where(or_(after_key, same_key) if same_key is not None else after_key)
            rows = conn.execute(query.order_by(c.key, c.initiated, c.upload_id).limit(limit)).all()
        return [upload_from_row(row) for row in rows]

    def put_part(self, part: UploadedPart) -> UploadedPart | None:
        where = (s3_parts.c.upload_id == part.upload_id, s3_parts.c.number == part.number)
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    upload = conn.execute(
                        select(s3_uploads.c.upload_id)
                        .where(s3_uploads.c.upload_id == part.upload_id)
                        .with_for_update(read=True, key_share=True)
                    ).first()
                    if upload is None:
                        raise NoSuchUpload(part.upload_id)
                    row = conn.execute(select(s3_parts).where(*where).with_for_update()).first()
                    values = part_row(part)
                    if row is None:
                        conn.execute(insert(s3_parts).values(values))
                        return None
                    conn.execute(update(s3_parts).where(*where).values(without(values, "upload_id", "number")))
                    return part_from_row(row)
            except IntegrityError:
                # The upload went away (a foreign key failure) or a concurrent upload of the same part number
                # inserted it first (the primary key): the first is NoSuchUpload, the second worth another try.
                if self.get_upload(part.upload_id) is None:
                    raise NoSuchUpload(part.upload_id) from None
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def list_parts(self, upload_id: str, after_part: int, limit: int) -> list[UploadedPart]:
        if limit <= 0:
            return []
        query = (
            select(s3_parts)
            .where(s3_parts.c.upload_id == upload_id, s3_parts.c.number > after_part)
            .order_by(s3_parts.c.number)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [part_from_row(row) for row in conn.execute(query)]

    def complete_upload(self, upload_id: str, record: ObjectRecord) -> tuple[ObjectRecord | None, list[UploadedPart]]:
        for attempt in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    # Lock order: the bucket, then the upload, then the object.
                    if not self._lock_bucket(conn, record.bucket):
                        raise NoSuchUpload(upload_id)  # its uploads went with it
                    upload = conn.execute(
                        select(s3_uploads.c.bucket, s3_uploads.c.key)
                        .where(s3_uploads.c.upload_id == upload_id)
                        .with_for_update()
                    ).first()
                    if upload is None:
                        raise NoSuchUpload(upload_id)
                    if (upload.bucket, upload.key) != (record.bucket, record.key):
                        raise ValueError("the object is not the upload's")
                    parts = [
                        part_from_row(row)
                        for row in conn.execute(
                            select(s3_parts).where(s3_parts.c.upload_id == upload_id).order_by(s3_parts.c.number)
                        )
                    ]
                    replaced = self._store_object(conn, record, None, False)
                    conn.execute(delete(s3_parts).where(s3_parts.c.upload_id == upload_id))
                    conn.execute(delete(s3_uploads).where(s3_uploads.c.upload_id == upload_id))
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue  # a concurrent writer created the key first: try again
            used = {part.blob_id for part in record.parts}
            return replaced, [part for part in parts if part.blob_id not in used]
        raise AssertionError("unreachable")

    def abort_upload(self, upload_id: str) -> list[UploadedPart] | None:
        with self._write() as conn:
            upload = conn.execute(
                select(s3_uploads.c.upload_id).where(s3_uploads.c.upload_id == upload_id).with_for_update()
            ).first()
            if upload is None:
                return None
            parts = [
                part_from_row(row)
                for row in conn.execute(
                    select(s3_parts).where(s3_parts.c.upload_id == upload_id).order_by(s3_parts.c.number)
                )
            ]
            conn.execute(delete(s3_parts).where(s3_parts.c.upload_id == upload_id))
            conn.execute(delete(s3_uploads).where(s3_uploads.c.upload_id == upload_id))
        return parts

    # -- the SSE-S3 key -----------------------------------------------------------------------------------------

    def sse_s3_keys(self) -> list[SseS3Key]:
        query = select(s3_sse_keys).order_by(s3_sse_keys.c.created_at, s3_sse_keys.c.key_id)
        with self._engine.connect() as conn:
            return [SseS3Key(row.key_id, row.created_at, bytes(row.wrapped)) for row in conn.execute(query)]

    def add_sse_s3_key(self, key: SseS3Key) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(s3_sse_keys).values(key_id=key.key_id, created_at=key.created_at, wrapped=key.wrapped))
