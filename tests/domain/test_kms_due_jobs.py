"""KmsService's time-driven behaviour over a real SqlKeyRepo on a SQLite file, with a clock the tests move:
scheduled deletions (purged on read and by run_due_jobs) and automatic rotations (customer keys on their
period, AWS managed keys yearly; never while disabled)."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.errors import DisabledKey, InvalidKeyState, NotFound
from keyhold.domain.keys.model import DAY, KeyEvent, KeyManager, KeyState, RotationType
from keyhold.domain.keys.service import KmsService
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.keys import SqlKeyRepo
from keyhold.storage.sql.schema import kms_aliases, kms_keys, kms_materials, kms_tags
from support.keys import FakeClock

ACCOUNT = "000000000000"
REGION = "us-east-1"
T0 = 1_700_000_000.0
CONTEXT = {"purpose": "due-jobs"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'keyhold.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def events() -> list[KeyEvent]:
    """What KMS did to keys on its own, as the audit trail hears it."""
    return []


@pytest.fixture
def kms(engine: Engine, clock: FakeClock, events: list[KeyEvent]) -> KmsService:
    return KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=clock, on_event=events.append)


@pytest.fixture
def ctx() -> RequestContext:
    principal = Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, "AKIAIOSFODNN7EXAMPLE")
    return RequestContext(principal=principal, region=REGION, request_id="test-request")


def rows(engine: Engine, table: object, column: object, key_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table).where(column == key_id)) or 0)  # type: ignore[arg-type]


def stored_rows(engine: Engine, key_id: str) -> dict[str, int]:
    return {
        "keys": rows(engine, kms_keys, kms_keys.c.key_id, key_id),
        "materials": rows(engine, kms_materials, kms_materials.c.key_id, key_id),
        "aliases": rows(engine, kms_aliases, kms_aliases.c.target_key_id, key_id),
        "tags": rows(engine, kms_tags, kms_tags.c.key_id, key_id),
    }


# ---- scheduled deletion -----------------------------------------------------------------------------------


def test_a_key_past_its_deletion_date_is_purged_on_read(
    kms: KmsService, ctx: RequestContext, clock: FakeClock, engine: Engine, events: list[KeyEvent]
) -> None:
    key = kms.keys.create_key(ctx, description="doomed", tags={"team": "a"})
    kms.aliases.create(ctx, "alias/doomed", key.key_id)
    kms.rotation.rotate_on_demand(ctx, key.key_id)
    assert stored_rows(engine, key.key_id) == {"keys": 1, "materials": 2, "aliases": 1, "tags": 1}

    scheduled = kms.keys.schedule_deletion(ctx, key.key_id, 7)
    assert scheduled.deletion_date == T0 + 7 * DAY

    clock.advance(7 * DAY - 1)
    described = kms.keys.describe(ctx, key.key_id)
    assert described.state is KeyState.PENDING_DELETION
    assert stored_rows(engine, key.key_id)["keys"] == 1

    assert events == []
    clock.advance(2)  # 7 days + 1 s after scheduling
    with pytest.raises(NotFound):
        kms.keys.describe(ctx, key.key_id)
    assert stored_rows(engine, key.key_id) == {"keys": 0, "materials": 0, "aliases": 0, "tags": 0}
    assert [(e.name, e.key.key_id, e.at) for e in events] == [("DeleteKey", key.key_id, T0 + 7 * DAY + 1)]
    with pytest.raises(NotFound):
        kms.keys.describe(ctx, "alias/doomed")
    assert kms.run_due_jobs() == (0, 0)  # nothing left to do


def test_run_due_jobs_deletes_due_keys_nobody_touched(
    kms: KmsService, ctx: RequestContext, clock: FakeClock, engine: Engine, events: list[KeyEvent]
) -> None:
    due = kms.keys.create_key(ctx)
    kms.aliases.create(ctx, "alias/due", due.key_id)
    later = kms.keys.create_key(ctx)
    kept = kms.keys.create_key(ctx)
    cancelled = kms.keys.create_key(ctx)
    kms.keys.schedule_deletion(ctx, due.key_id, 7)
    kms.keys.schedule_deletion(ctx, later.key_id, 8)
    kms.keys.schedule_deletion(ctx, cancelled.key_id, 7)
    kms.keys.cancel_deletion(ctx, cancelled.key_id)

    clock.advance(7 * DAY - 1)
    assert kms.run_due_jobs() == (0, 0)
    assert stored_rows(engine, due.key_id)["keys"] == 1

    clock.advance(2)
    assert kms.run_due_jobs() == (1, 0)
    assert stored_rows(engine, due.key_id) == {"keys": 0, "materials": 0, "aliases": 0, "tags": 0}
    assert kms.keys.describe(ctx, later.key_id).state is KeyState.PENDING_DELETION
    assert kms.keys.describe(ctx, kept.key_id).state is KeyState.ENABLED
    assert kms.keys.describe(ctx, cancelled.key_id).state is KeyState.DISABLED
    assert kms.run_due_jobs() == (0, 0)

    clock.advance(DAY)
    assert kms.run_due_jobs() == (1, 0)
    assert stored_rows(engine, later.key_id)["keys"] == 0
    listed, _ = kms.keys.list_keys(ctx, None, 100)
    assert sorted(k.key_id for k in listed) == sorted([kept.key_id, cancelled.key_id])
    assert [(e.name, e.key.key_id) for e in events] == [("DeleteKey", due.key_id), ("DeleteKey", later.key_id)]


def test_another_service_sees_the_deletion_of_a_key_it_had_cached(
    kms: KmsService, ctx: RequestContext, clock: FakeClock, engine: Engine
) -> None:
    """A second process's service (same database) that had cached the key also treats it as gone."""
    other = KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=clock)
    key = kms.keys.create_key(ctx)
    blob = kms.crypto.encrypt(ctx, key.key_id, b"secret", CONTEXT).ciphertext
    assert other.crypto.decrypt(ctx, blob, CONTEXT).plaintext == b"secret"  # caches key and material
    kms.keys.schedule_deletion(ctx, key.key_id, 7)
    other.invalidate()  # what the change feed does
    clock.advance(7 * DAY + 1)
    assert kms.run_due_jobs() == (1, 0)
    other.invalidate()
    with pytest.raises(NotFound):
        other.keys.describe(ctx, key.key_id)


# ---- automatic rotation -----------------------------------------------------------------------------------


def test_automatic_rotation_when_the_period_has_passed(
    kms: KmsService, ctx: RequestContext, clock: FakeClock, events: list[KeyEvent]
) -> None:
    key = kms.keys.create_key(ctx)
    before = kms.crypto.encrypt(ctx, key.key_id, b"written before rotation", CONTEXT)
    kms.rotation.enable(ctx, key.key_id, 90)
    status = kms.rotation.status(ctx, key.key_id)
    assert (status.rotation_enabled, status.rotation_period_days, status.next_rotation_at) == (
        True,
        90,
        T0 + 90 * DAY,
    )

    clock.advance(90 * DAY - 1)
    assert kms.run_due_jobs() == (0, 0)
    assert kms.keys.describe(ctx, key.key_id).current_material_id == key.current_material_id

    clock.advance(1)
    assert kms.run_due_jobs() == (0, 1)

    rotated = kms.keys.describe(ctx, key.key_id)
    assert rotated.current_material_id != key.current_material_id
    assert rotated.next_rotation_at == T0 + 180 * DAY
    [event] = events
    assert (event.name, event.key.key_id, event.at) == ("RotateKey", key.key_id, T0 + 90 * DAY)
    assert dict(event.details) == {
        "rotationType": "AUTOMATIC",
        "keyOrigin": "AWS_KMS",
        "previousKeyMaterialId": key.current_material_id,
        "currentKeyMaterialId": rotated.current_material_id,
    }
    assert rotated.rotation_enabled
    assert rotated.state is KeyState.ENABLED
    entries, marker = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert marker is None
    assert [(e.material.rotation_type, e.current, e.material.created_at) for e in entries] == [
        (RotationType.AUTOMATIC, True, T0 + 90 * DAY)
    ]
    assert entries[0].material.material_id == rotated.current_material_id

    # Old ciphertext still decrypts (with its own material); new ciphertext uses the new material.
    opened = kms.crypto.decrypt(ctx, before.ciphertext, CONTEXT)
    assert opened.plaintext == b"written before rotation"
    assert opened.material_id == key.current_material_id
    after = kms.crypto.encrypt(ctx, key.key_id, b"written after", CONTEXT)
    assert after.material_id == rotated.current_material_id
    assert kms.crypto.decrypt(ctx, after.ciphertext, CONTEXT).plaintext == b"written after"

    # Not again until the next period has passed.
    assert kms.run_due_jobs() == (0, 0)
    clock.advance(90 * DAY)
    assert kms.run_due_jobs() == (0, 1)
    entries, _ = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert [e.material.rotation_type for e in entries] == [RotationType.AUTOMATIC] * 2
    assert kms.rotation.status(ctx, key.key_id).next_rotation_at == T0 + 270 * DAY
    assert kms.crypto.decrypt(ctx, before.ciphertext, CONTEXT).plaintext == b"written before rotation"


def test_a_long_overdue_rotation_happens_once_and_schedules_the_next_in_the_future(
    kms: KmsService, ctx: RequestContext, clock: FakeClock
) -> None:
    key = kms.keys.create_key(ctx)
    kms.rotation.enable(ctx, key.key_id, 90)
    clock.advance(400 * DAY)  # the server was down for more than four periods
    assert kms.run_due_jobs() == (0, 1)
    entries, _ = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert len(entries) == 1
    next_at = kms.rotation.status(ctx, key.key_id).next_rotation_at
    assert next_at is not None
    assert next_at > clock.now
    clock.advance(60)  # the background job's next run
    assert kms.run_due_jobs() == (0, 0)
    entries, _ = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert len(entries) == 1


def test_a_disabled_key_is_not_rotated_automatically(kms: KmsService, ctx: RequestContext, clock: FakeClock) -> None:
    key = kms.keys.create_key(ctx)
    kms.rotation.enable(ctx, key.key_id, 90)
    kms.keys.disable(ctx, key.key_id)

    clock.advance(91 * DAY)
    assert kms.run_due_jobs() == (0, 0)
    assert kms.rotation.list(ctx, key.key_id, False, None, 100) == ([], None)
    assert kms.keys.describe(ctx, key.key_id).current_material_id == key.current_material_id
    with pytest.raises(DisabledKey):
        kms.crypto.encrypt(ctx, key.key_id, b"x", {})

    # Re-enabled after its rotation date: AWS rotates it at once.
    kms.keys.enable(ctx, key.key_id)
    assert kms.run_due_jobs() == (0, 1)
    entries, _ = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert [(e.material.rotation_type, e.current) for e in entries] == [(RotationType.AUTOMATIC, True)]


def test_a_key_pending_deletion_is_not_rotated(kms: KmsService, ctx: RequestContext, clock: FakeClock) -> None:
    key = kms.keys.create_key(ctx)
    kms.rotation.enable(ctx, key.key_id, 90)
    clock.advance(89 * DAY)
    kms.keys.schedule_deletion(ctx, key.key_id, 30)
    clock.advance(2 * DAY)
    assert kms.run_due_jobs() == (0, 0)
    with pytest.raises(InvalidKeyState):
        kms.crypto.encrypt(ctx, key.key_id, b"x", {})
    assert [m.rotation_type for m in kms.keyring.repo.list_materials(key.key_id)] == [None]


def test_aws_managed_keys_rotate_every_year(kms: KmsService, ctx: RequestContext, clock: FakeClock) -> None:
    managed = kms.keys.describe(ctx, "alias/aws/s3")  # comes into being when first named
    assert managed.key_manager is KeyManager.AWS
    status = kms.rotation.status(ctx, managed.key_id)
    assert (status.rotation_enabled, status.rotation_period_days, status.next_rotation_at) == (
        True,
        365,
        T0 + 365 * DAY,
    )
    # An AWS managed key's policy lets the account use it only through its service (kms:ViaService).
    via_s3 = dataclasses.replace(ctx, via_service=f"s3.{REGION}.amazonaws.com")
    blob = kms.crypto.encrypt(via_s3, "alias/aws/s3", b"managed", CONTEXT).ciphertext

    clock.advance(364 * DAY)
    assert kms.run_due_jobs() == (0, 0)
    clock.advance(DAY)
    assert kms.run_due_jobs() == (0, 1)

    rotated = kms.keys.describe(ctx, "alias/aws/s3")
    assert rotated.key_id == managed.key_id
    assert rotated.current_material_id != managed.current_material_id
    assert rotated.next_rotation_at == T0 + 730 * DAY
    entries, _ = kms.rotation.list(ctx, managed.key_id, False, None, 100)
    assert [(e.material.rotation_type, e.current) for e in entries] == [(RotationType.AUTOMATIC, True)]
    assert kms.crypto.decrypt(via_s3, blob, CONTEXT).plaintext == b"managed"
