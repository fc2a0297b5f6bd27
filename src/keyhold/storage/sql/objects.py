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

import json
from collections.abc import Iterator, Mapping
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
    Checksum,
    Envelope,
    MultipartUpload,
    ObjectRecord,
    SseS3Key,
    StoredPart,
    UploadedPart,
)
from keyhold.domain.objects.ports import DeleteBucketResult
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


# ---- serialisation ----------------------------------------------------------------------------------------------


def _dump_map(value: Mapping[str, str]) -> str:
    return json.dumps(dict(value), separators=(",", ":"))


def _load_map(text: str) -> dict[str, str]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored metadata is not a JSON object")
    return value


def _dump_bucket_encryption(encryption: BucketEncryption | None) -> str | None:
    if encryption is None:
        return None
    return json.dumps(
        {
            "algorithm": encryption.algorithm,
            "kms_key_id": encryption.kms_key_id,
            "bucket_key_enabled": encryption.bucket_key_enabled,
            "blocked_types": list(encryption.blocked_types),
        },
        separators=(",", ":"),
    )


def _load_bucket_encryption(text: str | None) -> BucketEncryption | None:
    if text is None:
        return None
    document = json.loads(text)
    return BucketEncryption(
        algorithm=document["algorithm"],
        kms_key_id=document.get("kms_key_id"),
        bucket_key_enabled=bool(document.get("bucket_key_enabled", False)),
        blocked_types=tuple(document.get("blocked_types", ())),
    )


def _dump_parts(parts: tuple[StoredPart, ...]) -> str:
    return json.dumps(
        [
            {"number": p.number, "size": p.size, "blob_id": p.blob_id, "etag": p.etag, "salt": p.stream_salt}
            for p in parts
        ],
        separators=(",", ":"),
    )


def _load_parts(text: str) -> tuple[StoredPart, ...]:
    return tuple(
        StoredPart(p["number"], p["size"], p["blob_id"], p["etag"], p.get("salt", "")) for p in json.loads(text)
    )


def _bucket_row(bucket: Bucket) -> dict[str, object]:
    return {
        "name": bucket.name,
        "account_id": bucket.account_id,
        "region": bucket.region,
        "created_at": bucket.created_at,
        "encryption": _dump_bucket_encryption(bucket.encryption),
        "policy": bucket.policy,
    }


def _bucket(row: Any) -> Bucket:
    return Bucket(
        name=row.name,
        account_id=row.account_id,
        region=row.region,
        created_at=row.created_at,
        encryption=_load_bucket_encryption(row.encryption),
        policy=row.policy,
    )


def _object_row(record: ObjectRecord) -> dict[str, object]:
    checksum = record.checksum
    return {
        "bucket": record.bucket,
        "key": record.key,
        "size": record.size,
        "etag": record.etag,
        "last_modified": record.last_modified,
        "content_type": record.content_type,
        "headers": _dump_map(record.headers),
        "user_metadata": _dump_map(record.user_metadata),
        "checksum_algorithm": checksum.algorithm if checksum is not None else None,
        "checksum_value": checksum.value if checksum is not None else None,
        "checksum_type": checksum.type if checksum is not None else None,
        "encryption": record.encryption.to_json(),
        "parts": _dump_parts(record.parts),
        "seal": record.seal,
    }


def _object(row: Any) -> ObjectRecord:
    checksum = None
    if row.checksum_algorithm is not None:
        checksum = Checksum(row.checksum_algorithm, row.checksum_value, row.checksum_type)
    return ObjectRecord(
        bucket=row.bucket,
        key=row.key,
        size=row.size,
        etag=row.etag,
        last_modified=row.last_modified,
        content_type=row.content_type,
        headers=_load_map(row.headers),
        user_metadata=_load_map(row.user_metadata),
        checksum=checksum,
        encryption=Envelope.from_json(row.encryption),
        parts=_load_parts(row.parts),
        seal=bytes(row.seal),
    )


def _upload_row(upload: MultipartUpload) -> dict[str, object]:
    return {
        "upload_id": upload.upload_id,
        "bucket": upload.bucket,
        "key": upload.key,
        "initiated": upload.initiated,
        "initiator_arn": upload.initiator_arn,
        "content_type": upload.content_type,
        "headers": _dump_map(upload.headers),
        "user_metadata": _dump_map(upload.user_metadata),
        "checksum_algorithm": upload.checksum_algorithm,
        "checksum_type": upload.checksum_type,
        "encryption": upload.encryption.to_json(),
    }


def _upload(row: Any) -> MultipartUpload:
    return MultipartUpload(
        upload_id=row.upload_id,
        bucket=row.bucket,
        key=row.key,
        initiated=row.initiated,
        initiator_arn=row.initiator_arn,
        content_type=row.content_type,
        headers=_load_map(row.headers),
        user_metadata=_load_map(row.user_metadata),
        checksum_algorithm=row.checksum_algorithm,
        checksum_type=row.checksum_type,
        encryption=Envelope.from_json(row.encryption),
    )


def _part_row(part: UploadedPart) -> dict[str, object]:
    return {
        "upload_id": part.upload_id,
        "number": part.number,
        "size": part.size,
        "etag": part.etag,
        "blob_id": part.blob_id,
        "last_modified": part.last_modified,
        "checksum": part.checksum,
        "stream_salt": part.stream_salt,
    }


def _part(row: Any) -> UploadedPart:
    return UploadedPart(
        upload_id=row.upload_id,
        number=row.number,
        size=row.size,
        etag=row.etag,
        blob_id=row.blob_id,
        last_modified=row.last_modified,
        checksum=row.checksum,
        stream_salt=row.stream_salt,
    )


def _without(values: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in values.items() if k not in names}


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
                    conn.execute(insert(s3_buckets).values(_bucket_row(bucket)))
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
        return _bucket(row) if row is not None else None

    def list_buckets(self, account_id: str) -> list[Bucket]:
        query = select(s3_buckets).where(s3_buckets.c.account_id == account_id).order_by(s3_buckets.c.name)
        with self._engine.connect() as conn:
            return [_bucket(row) for row in conn.execute(query)]

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
                .values(encryption=_dump_bucket_encryption(encryption))
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
        return _object(row) if row is not None else None

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
        old = _object(row) if row is not None else None
        if if_absent and old is not None:
            raise PreconditionFailed("If-None-Match")
        if if_etag is not None and (old is None or old.etag != if_etag):
            raise PreconditionFailed("If-Match")
        values = _object_row(record)
        if old is None:
            conn.execute(insert(s3_objects).values(values))
        else:
            conn.execute(update(s3_objects).where(*where).values(_without(values, "bucket", "key")))
        return old

    def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        with self._engine.begin() as conn:
            row = conn.execute(
                delete(s3_objects)
                .where(s3_objects.c.bucket == bucket, s3_objects.c.key == key)
                .returning(*s3_objects.c)
            ).first()
        return _object(row) if row is not None else None

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
            return [_object(row) for row in conn.execute(query.order_by(key).limit(limit))]

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
                referenced.update(part.blob_id for part in _load_parts(parts))
        return referenced

    # -- multipart uploads --------------------------------------------------------------------------------------

    def create_upload(self, upload: MultipartUpload) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(s3_uploads).values(_upload_row(upload)))
        except IntegrityError:
            if self.get_bucket(upload.bucket) is None:
                raise NoSuchBucket(upload.bucket) from None
            raise

    def get_upload(self, upload_id: str) -> MultipartUpload | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(s3_uploads).where(s3_uploads.c.upload_id == upload_id)).first()
        return _upload(row) if row is not None else None

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
        return [_upload(row) for row in rows]

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
                    values = _part_row(part)
                    if row is None:
                        conn.execute(insert(s3_parts).values(values))
                        return None
                    conn.execute(update(s3_parts).where(*where).values(_without(values, "upload_id", "number")))
                    return _part(row)
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
            return [_part(row) for row in conn.execute(query)]

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
                        _part(row)
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
                _part(row)
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
