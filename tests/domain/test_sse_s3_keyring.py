"""The SSE-S3 key's generations: made on first use, rotated by age and by the number of seals, kept for reading."""

from pathlib import Path

import pytest

from keyhold.crypto.keywrap import RootKey
from keyhold.domain.objects.sse_s3 import SseS3Keyring
from keyhold.storage.sql.db import create_schema, open_engine, sqlite_url
from keyhold.storage.sql.objects import SqlObjectRepo
from support.keys import T0, FakeClock

ROOT = RootKey(bytes(range(32)))
DATA_KEY = bytes(32)


@pytest.fixture
def repo(tmp_path: Path) -> SqlObjectRepo:
    engine = open_engine(sqlite_url(str(tmp_path / "keyhold.db")))
    create_schema(engine)
    return SqlObjectRepo(engine)


def test_first_use_makes_one_generation_and_reuses_it(repo: SqlObjectRepo) -> None:
    keyring = SseS3Keyring(repo, ROOT, clock=FakeClock(T0))
    first, _ = keyring.current()
    second, _ = keyring.current()
    assert first == second
    assert [key.key_id for key in repo.sse_s3_keys()] == [first]


def test_rotates_by_age_and_old_generations_still_open(repo: SqlObjectRepo) -> None:
    clock = FakeClock(T0)
    keyring = SseS3Keyring(repo, ROOT, clock=clock, rotation_seconds=100)
    old_id, old = keyring.current()
    sealed = old.seal(DATA_KEY, b"sse-s3", b"bucket", b"key")
    clock.advance(100)
    new_id, _ = keyring.current()
    assert new_id != old_id
    assert len(repo.sse_s3_keys()) == 2
    reader = SseS3Keyring(repo, ROOT, clock=clock)  # another process: finds the old generation in the database
    assert reader.get(old_id).open(sealed, b"sse-s3", b"bucket", b"key") == DATA_KEY


def test_rotates_after_max_seals_per_process(repo: SqlObjectRepo) -> None:
    keyring = SseS3Keyring(repo, ROOT, clock=FakeClock(T0), max_seals=3)
    ids = [keyring.current()[0] for _ in range(7)]
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] == ids[4] == ids[5] != ids[0]
    assert ids[6] not in (ids[0], ids[3])
    assert len(repo.sse_s3_keys()) == 3


def test_a_newer_generation_made_elsewhere_is_adopted_when_due(repo: SqlObjectRepo) -> None:
    clock = FakeClock(T0)
    mine = SseS3Keyring(repo, ROOT, clock=clock, max_seals=2)
    first, _ = mine.current()
    clock.advance(1)
    other, _ = SseS3Keyring(repo, ROOT, clock=clock, rotation_seconds=0.5).current()  # due by age: makes a new one
    assert other != first
    assert mine.current()[0] == first  # second seal: not due yet
    assert mine.current()[0] == other  # due by count: the newer generation in the database is taken, not a third
    assert len(repo.sse_s3_keys()) == 2
