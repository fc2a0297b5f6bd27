"""The KeyRepo contract for imported material (keyhold.domain.keys.ports) on SQLite and PostgreSQL: keys stored
without material or with several versions, the expiry fields of keys and materials, replace_materials, keys whose
material is due to expire, and the "kms" change counter every such write bumps."""

import os

import pytest
from sqlalchemy import Engine

from keyhold.domain.keys.model import DAY, Key, KeyState, Material, RotationType
from keyhold.storage.sql.db import read_generations
from keyhold.storage.sql.keys import SqlKeyRepo
from support.keys import make_key

ACCOUNT = "000000000000"
REGION = "us-east-1"
T0 = 1_700_000_000.0


@pytest.fixture
def repo(engine: Engine) -> SqlKeyRepo:
    return SqlKeyRepo(engine)


def generation(engine: Engine) -> int:
    with engine.connect() as conn:
        return read_generations(conn)["kms"]


def external_key(**changes: object) -> Key:
    pending = {"description": "imported", "origin": "EXTERNAL", "state": KeyState.PENDING_IMPORT, "policy": "{}"}
    return make_key(**{**pending, **changes})


def imported(key: Key, seq: int = 0, **changes: object) -> Material:
    material = Material(
        material_id=os.urandom(32).hex(),
        key_id=key.key_id,
        seq=seq,
        wrapped=b"\x01" + os.urandom(60),
        created_at=T0 + seq,
        rotation_type=RotationType.ON_DEMAND if seq else None,
        expiration_model="KEY_MATERIAL_EXPIRES",
        valid_to=T0 + 10 * DAY + 0.5,
        description="from the HSM",
        pending_rotation=False,
    )
    return material.with_changes(**changes)


def test_a_key_pending_import_is_stored_without_material(repo: SqlKeyRepo, engine: Engine) -> None:
    before = generation(engine)
    key = external_key()
    assert repo.insert_key(key, [], {"t": "v"}, None)
    assert generation(engine) == before + 1
    assert repo.get_key(key.key_id) == key
    assert repo.list_materials(key.key_id) == []
    assert repo.get_tags(key.key_id) == {"t": "v"}


def test_a_key_is_stored_with_several_material_versions_and_every_field(repo: SqlKeyRepo) -> None:
    key = external_key(state=KeyState.ENABLED, expiration_model="KEY_MATERIAL_EXPIRES", valid_to=T0 + 10 * DAY + 0.5)
    first = imported(key, 0)
    second = imported(key, 1, expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE", valid_to=None, description=None)
    pending = imported(key, 2, rotation_type=None, pending_rotation=True)
    absent = imported(key, 3, wrapped=None, expiration_model=None, valid_to=None)
    key = key.with_changes(current_material_id=second.material_id)
    assert repo.insert_key(key, [first, second, pending, absent], {}, None)
    assert repo.get_key(key.key_id) == key
    assert repo.list_materials(key.key_id) == [first, second, pending, absent]
    assert repo.get_material(absent.material_id) == absent
    assert repo.get_material(pending.material_id) == pending


def test_replace_materials_inserts_overwrites_removes_and_writes_the_key(repo: SqlKeyRepo, engine: Engine) -> None:
    key = external_key()
    first = imported(key, 0)
    key = key.with_changes(current_material_id=first.material_id, state=KeyState.ENABLED)
    assert repo.insert_key(key, [first], {}, None)
    other = external_key()
    assert repo.insert_key(other, [], {}, None)

    before = generation(engine)
    deleted = first.with_changes(wrapped=None, expiration_model=None, valid_to=None)
    pending_import = key.with_changes(state=KeyState.PENDING_IMPORT, expiration_model=None, valid_to=None)
    repo.replace_materials(pending_import, [deleted])
    assert generation(engine) == before + 1
    assert repo.list_materials(key.key_id) == [deleted]
    assert repo.get_key(key.key_id) == pending_import

    reimported = first.with_changes(valid_to=T0 + 20 * DAY)
    pending_rotation = imported(key, 1, rotation_type=None, pending_rotation=True)
    enabled = key.with_changes(state=KeyState.ENABLED, expiration_model="KEY_MATERIAL_EXPIRES", valid_to=T0 + 20 * DAY)
    repo.replace_materials(enabled, [reimported, pending_rotation])
    assert generation(engine) == before + 2
    assert repo.list_materials(key.key_id) == [reimported, pending_rotation]
    assert repo.get_key(key.key_id) == enabled

    repo.replace_materials(enabled, [], [pending_rotation.material_id])
    assert generation(engine) == before + 3
    assert repo.list_materials(key.key_id) == [reimported]
    assert repo.get_material(pending_rotation.material_id) is None
    assert repo.get_key(other.key_id) == other  # nothing else changed


def test_replace_materials_never_touches_another_keys_material(repo: SqlKeyRepo) -> None:
    key, other = external_key(), external_key()
    mine = imported(key)
    theirs = imported(other)
    assert repo.insert_key(key, [mine], {}, None)
    assert repo.insert_key(other, [theirs], {}, None)
    repo.replace_materials(key, [], [theirs.material_id])
    assert repo.list_materials(other.key_id) == [theirs]


def test_keys_due_includes_keys_with_present_material_past_its_valid_to(repo: SqlKeyRepo) -> None:
    due, later, gone, forever = external_key(), external_key(), external_key(), external_key()
    assert repo.insert_key(due, [imported(due, valid_to=T0 + DAY)], {}, None)
    assert repo.insert_key(later, [imported(later, valid_to=T0 + 2 * DAY)], {}, None)
    assert repo.insert_key(gone, [imported(gone, wrapped=None, valid_to=T0)], {}, None)  # already deleted
    assert repo.insert_key(
        forever, [imported(forever, expiration_model="KEY_MATERIAL_DOES_NOT_EXPIRE", valid_to=None)], {}, None
    )
    assert {k.key_id for k in repo.keys_due(T0 + DAY - 1)} == set()
    assert {k.key_id for k in repo.keys_due(T0 + DAY)} == {due.key_id}
    assert {k.key_id for k in repo.keys_due(T0 + 3 * DAY)} == {due.key_id, later.key_id}
