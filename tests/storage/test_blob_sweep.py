"""The sweep of blobs that no row refers to (domain/objects/sweeper.py) over the real repository (SQLite and
PostgreSQL) and the filesystem blob store: what a crash between a blob's commit and its row's commit leaves."""

import os
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from keyhold.domain.objects.model import StoredPart
from keyhold.domain.objects.sweeper import sweep_unreferenced_blobs
from keyhold.storage.blob.filesystem import FilesystemBlobStore
from keyhold.storage.sql.objects import SqlObjectRepo
from support.objects import make_bucket, make_part, make_record, make_upload


def committed(store: FilesystemBlobStore, age: float) -> str:
    writer = store.create()
    writer.write(b"stored bytes")
    writer.commit()
    then = time.time() - age
    os.utime(store.path(writer.blob_id), (then, then))
    return writer.blob_id


def test_only_old_unreferenced_blobs_are_removed(engine: Engine, tmp_path: Path) -> None:
    repo = SqlObjectRepo(engine)
    store = FilesystemBlobStore(tmp_path / "blobs")
    repo.create_bucket(make_bucket())
    in_object = committed(store, age=7200)
    record = make_record()
    repo.put_object(replace(record, parts=(replace(record.parts[0], blob_id=in_object),)))
    upload = make_upload()
    repo.create_upload(upload)
    in_part = committed(store, age=7200)
    repo.put_part(make_part(upload.upload_id, 1, blob_id=in_part))
    orphan = committed(store, age=7200)
    recent_orphan = committed(store, age=10)  # maybe a write whose row is about to commit: left alone

    assert sorted(store.list_blobs(3600)) == sorted([in_object, in_part, orphan])
    assert repo.referenced_blobs() == {in_object, in_part}
    assert sweep_unreferenced_blobs(repo, store, grace=3600) == 1
    assert not store.path(orphan).exists()
    for kept in (in_object, in_part, recent_orphan):
        assert store.path(kept).exists()
    assert sweep_unreferenced_blobs(repo, store, grace=3600) == 0


def test_multipart_object_parts_count_as_referenced(engine: Engine, tmp_path: Path) -> None:
    repo = SqlObjectRepo(engine)
    store = FilesystemBlobStore(tmp_path / "blobs")
    repo.create_bucket(make_bucket())
    ids = [committed(store, age=7200) for _ in range(3)]
    parts = tuple(StoredPart(n + 1, 12, blob, "ab" * 16) for n, blob in enumerate(ids))
    repo.put_object(make_record(size=36, parts=parts))
    assert sweep_unreferenced_blobs(repo, store, grace=3600) == 0
    assert all(store.path(blob).exists() for blob in ids)
