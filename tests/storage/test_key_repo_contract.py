"""The KeyRepo contract (keyhold.domain.keys.ports) against SqlKeyRepo on SQLite and PostgreSQL, the "kms"
change counter every write bumps, and the ChangeFeed that turns those counters into cache invalidations."""

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from keyhold.domain.identity.ports import UserRecord
from keyhold.domain.keys.model import (
    DAY,
    Alias,
    Key,
    KeyManager,
    KeyState,
    Material,
    RotationType,
)
from keyhold.storage.sql.changes import ChangeFeed
from keyhold.storage.sql.db import open_engine, read_generations
from keyhold.storage.sql.identity import SqlIdentityRepo
from keyhold.storage.sql.keys import SqlKeyRepo
from support.keys import make_key

ACCOUNT = "000000000000"
OTHER_ACCOUNT = "111111111111"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
T0 = 1_700_000_000.0


@pytest.fixture
def repo(engine: Engine) -> SqlKeyRepo:
    return SqlKeyRepo(engine)


def generation(engine: Engine, name: str = "kms") -> int:
    with engine.connect() as conn:
        return read_generations(conn)[name]


def make_material(
    key: Key,
    seq: int = 0,
    rotation_type: RotationType | None = None,
    material_id: str | None = None,
) -> Material:
    return Material(
        material_id=material_id or os.urandom(32).hex(),
        key_id=key.key_id,
        seq=seq,
        wrapped=b"\x01" + os.urandom(60),
        created_at=T0 + seq,
        rotation_type=rotation_type,
    )


def store(
    repo: SqlKeyRepo,
    key: Key | None = None,
    *,
    tags: dict[str, str] | None = None,
    alias: str | None = None,
) -> tuple[Key, Material]:
    """Insert a key with its first material (and tags, an alias); returns what was stored."""
    key = key or make_key()
    material = make_material(key)
    key = key.with_changes(current_material_id=material.material_id)
    alias_record = Alias(key.account_id, key.region, alias, key.key_id, T0, T0) if alias is not None else None
    assert repo.insert_key(key, material, tags or {}, alias_record)
    return key, material


# ---- keys -------------------------------------------------------------------------------------------------


def test_insert_key_stores_key_material_tags_and_alias(repo: SqlKeyRepo, engine: Engine) -> None:
    before = generation(engine)
    key = make_key(description="with everything")
    material = make_material(key)
    key = key.with_changes(current_material_id=material.material_id)
    alias = Alias(ACCOUNT, REGION, "alias/everything", key.key_id, T0, T0 + 1)

    assert repo.insert_key(key, material, {"team": "payments", "env": "prod"}, alias) is True

    assert generation(engine) == before + 1
    assert repo.get_key(key.key_id) == key
    assert repo.list_materials(key.key_id) == [material]
    assert repo.get_material(material.material_id) == material
    assert repo.get_tags(key.key_id) == {"team": "payments", "env": "prod"}
    assert repo.get_alias(ACCOUNT, REGION, "alias/everything") == alias


def test_insert_key_without_tags_or_alias(repo: SqlKeyRepo, engine: Engine) -> None:
    before = generation(engine)
    key, material = store(repo)
    assert generation(engine) == before + 1
    assert repo.get_key(key.key_id) == key
    assert repo.get_tags(key.key_id) == {}
    assert repo.list_aliases(ACCOUNT, REGION, key.key_id, None, 10) == []
    assert repo.list_materials(key.key_id) == [material]


def test_insert_key_round_trips_every_field(repo: SqlKeyRepo) -> None:
    key = make_key(
        key_manager=KeyManager.AWS,
        state=KeyState.PENDING_DELETION,
        deletion_date=T0 + 7 * DAY + 0.25,
        pending_window_days=7,
        rotation_enabled=True,
        rotation_period_days=365,
        next_rotation_at=T0 + 365 * DAY + 0.5,
        description="ünïcode ✓ description",
        policy='{"Version": "2012-10-17", "Statement": []}',
    )
    stored, _ = store(repo, key)
    assert repo.get_key(stored.key_id) == stored


def test_insert_key_with_a_taken_alias_stores_nothing(repo: SqlKeyRepo, engine: Engine) -> None:
    first, _ = store(repo, alias="alias/taken")
    before = generation(engine)

    second = make_key()
    material = make_material(second)
    second = second.with_changes(current_material_id=material.material_id)
    alias = Alias(ACCOUNT, REGION, "alias/taken", second.key_id, T0, T0)

    assert repo.insert_key(second, material, {"k": "v"}, alias) is False

    assert repo.get_key(second.key_id) is None
    assert repo.get_material(material.material_id) is None
    assert repo.list_materials(second.key_id) == []
    assert repo.get_tags(second.key_id) == {}
    alias_now = repo.get_alias(ACCOUNT, REGION, "alias/taken")
    assert alias_now is not None
    assert alias_now.target_key_id == first.key_id
    assert generation(engine) == before


def test_get_unknown_key_and_material(repo: SqlKeyRepo) -> None:
    assert repo.get_key(str(uuid.uuid4())) is None
    assert repo.get_material(os.urandom(32).hex()) is None
    assert repo.list_materials(str(uuid.uuid4())) == []


def test_list_keys_orders_by_key_id_and_pages_with_after_and_limit(repo: SqlKeyRepo, engine: Engine) -> None:
    mine = sorted(store(repo)[0].key_id for _ in range(5))
    store(repo, make_key(account_id=OTHER_ACCOUNT))
    store(repo, make_key(region=OTHER_REGION))
    before = generation(engine)

    assert [k.key_id for k in repo.list_keys(ACCOUNT, REGION, None, 100)] == mine
    assert [k.key_id for k in repo.list_keys(ACCOUNT, REGION, None, 2)] == mine[:2]
    assert [k.key_id for k in repo.list_keys(ACCOUNT, REGION, mine[1], 2)] == mine[2:4]
    assert [k.key_id for k in repo.list_keys(ACCOUNT, REGION, mine[3], 2)] == mine[4:]
    assert repo.list_keys(ACCOUNT, REGION, mine[4], 2) == []
    # "after" need not be a stored id: it is a position in the order.
    assert [k.key_id for k in repo.list_keys(ACCOUNT, REGION, "", 100)] == mine
    assert repo.list_keys(ACCOUNT, REGION, "~", 100) == []
    # Other accounts and regions are not listed.
    assert len(repo.list_keys(OTHER_ACCOUNT, REGION, None, 100)) == 1
    assert len(repo.list_keys(ACCOUNT, OTHER_REGION, None, 100)) == 1
    assert repo.list_keys(OTHER_ACCOUNT, OTHER_REGION, None, 100) == []
    assert generation(engine) == before  # reads bump nothing


def test_update_key_writes_the_mutable_fields(repo: SqlKeyRepo, engine: Engine) -> None:
    key, material = store(repo)
    other, _ = store(repo)
    before = generation(engine)
    changed = key.with_changes(
        description="changed",
        state=KeyState.PENDING_DELETION,
        deletion_date=T0 + 10 * DAY,
        pending_window_days=10,
        rotation_enabled=True,
        rotation_period_days=90,
        next_rotation_at=T0 + 90 * DAY,
        policy='{"Statement": []}',
    )

    repo.update_key(changed)

    assert generation(engine) == before + 1
    assert repo.get_key(key.key_id) == changed
    assert repo.get_key(other.key_id) == other

    back = changed.with_changes(state=KeyState.DISABLED, deletion_date=None, pending_window_days=None)
    repo.update_key(back)
    assert generation(engine) == before + 2
    assert repo.get_key(key.key_id) == back
    assert repo.list_materials(key.key_id) == [material]


def test_add_material_appends_and_makes_it_current(repo: SqlKeyRepo, engine: Engine) -> None:
    key = make_key(rotation_enabled=True, rotation_period_days=90, next_rotation_at=T0 + 90 * DAY)
    # Ids sorting against the sequence: the order must come from the sequence, not the id.
    first = make_material(key, 0, None, material_id="f" * 64)
    key = key.with_changes(current_material_id=first.material_id)
    assert repo.insert_key(key, first, {}, None)
    before = generation(engine)

    second = make_material(key, 1, RotationType.AUTOMATIC, material_id="a" * 64)
    rotated = key.with_changes(current_material_id=second.material_id, next_rotation_at=T0 + 180 * DAY)
    repo.add_material(rotated, second)
    assert generation(engine) == before + 1

    third = make_material(key, 2, RotationType.ON_DEMAND, material_id="0" * 64)
    rotated_again = rotated.with_changes(current_material_id=third.material_id)
    repo.add_material(rotated_again, third)
    assert generation(engine) == before + 2

    assert repo.list_materials(key.key_id) == [first, second, third]
    assert repo.get_key(key.key_id) == rotated_again
    for material in (first, second, third):
        assert repo.get_material(material.material_id) == material


def test_delete_key_removes_its_aliases_tags_and_materials(repo: SqlKeyRepo, engine: Engine) -> None:
    key, material = store(repo, tags={"a": "1", "b": "2"}, alias="alias/doomed-1")
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/doomed-2", key.key_id, T0, T0))
    second = make_material(key, 1, RotationType.ON_DEMAND)
    repo.add_material(key.with_changes(current_material_id=second.material_id), second)
    survivor, survivor_material = store(repo, tags={"a": "1"}, alias="alias/survivor")
    before = generation(engine)

    assert repo.delete_key(key.key_id) is True

    assert generation(engine) == before + 1
    assert repo.delete_key(key.key_id) is False  # already gone: the second of two racing purges knows it
    assert repo.get_key(key.key_id) is None
    assert repo.list_materials(key.key_id) == []
    assert repo.get_material(material.material_id) is None
    assert repo.get_material(second.material_id) is None
    assert repo.get_tags(key.key_id) == {}
    assert repo.get_alias(ACCOUNT, REGION, "alias/doomed-1") is None
    assert repo.get_alias(ACCOUNT, REGION, "alias/doomed-2") is None
    assert [a.name for a in repo.list_aliases(ACCOUNT, REGION, None, None, 100)] == ["alias/survivor"]
    # The other key is untouched.
    assert repo.get_key(survivor.key_id) == survivor
    assert repo.list_materials(survivor.key_id) == [survivor_material]
    assert repo.get_tags(survivor.key_id) == {"a": "1"}
    # The freed alias name can be used again.
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/doomed-1", survivor.key_id, T0, T0))


def pending_deletion(when: float) -> Key:
    return make_key(state=KeyState.PENDING_DELETION, deletion_date=when, pending_window_days=7)


def rotating(when: float, *, enabled: bool = True) -> Key:
    return make_key(rotation_enabled=enabled, rotation_period_days=90, next_rotation_at=when)


def test_keys_due_finds_deletions_and_rotations_whose_time_has_come(repo: SqlKeyRepo, engine: Engine) -> None:
    now = T0 + 100 * DAY
    due_now = [
        store(repo, pending_deletion(now - 1))[0],
        store(repo, pending_deletion(now))[0],
        store(repo, rotating(now - DAY))[0],
        store(repo, rotating(now))[0],
        store(repo, pending_deletion(now - 1).with_changes(account_id=OTHER_ACCOUNT))[0],
    ]
    store(repo, pending_deletion(now + 1))
    store(repo, rotating(now + 1))
    store(repo, rotating(now - DAY, enabled=False))
    store(repo)
    before = generation(engine)

    due = repo.keys_due(now)

    assert sorted(k.key_id for k in due) == sorted(k.key_id for k in due_now)
    assert {k.key_id: k for k in due}[due_now[3].key_id] == due_now[3]
    assert repo.keys_due(T0) == []
    assert len(repo.keys_due(now + DAY)) == 7
    assert generation(engine) == before


# ---- aliases ----------------------------------------------------------------------------------------------


def test_insert_alias_and_duplicates(repo: SqlKeyRepo, engine: Engine) -> None:
    key, _ = store(repo)
    other, _ = store(repo)
    before = generation(engine)
    alias = Alias(ACCOUNT, REGION, "alias/app", key.key_id, T0, T0 + 5)

    assert repo.insert_alias(alias) is True
    assert generation(engine) == before + 1
    assert repo.get_alias(ACCOUNT, REGION, "alias/app") == alias

    # The name is taken in this account and region, whichever key the new one names.
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/app", other.key_id, T0, T0)) is False
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/app", key.key_id, T0, T0)) is False
    assert generation(engine) == before + 1
    assert repo.get_alias(ACCOUNT, REGION, "alias/app") == alias

    # The same name in another region or account is another alias.
    elsewhere = Alias(ACCOUNT, OTHER_REGION, "alias/app", other.key_id, T0, T0)
    assert repo.insert_alias(elsewhere) is True
    assert repo.get_alias(ACCOUNT, OTHER_REGION, "alias/app") == elsewhere
    assert repo.get_alias(OTHER_ACCOUNT, REGION, "alias/app") is None
    assert repo.get_alias(ACCOUNT, REGION, "alias/none") is None


def test_list_aliases_by_key_with_after_and_limit(repo: SqlKeyRepo, engine: Engine) -> None:
    key, _ = store(repo)
    other, _ = store(repo)
    names = ["alias/c", "alias/a", "alias/e", "alias/b"]
    for name in names:
        assert repo.insert_alias(Alias(ACCOUNT, REGION, name, key.key_id, T0, T0))
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/d", other.key_id, T0, T0))
    assert repo.insert_alias(Alias(ACCOUNT, OTHER_REGION, "alias/0", key.key_id, T0, T0))
    before = generation(engine)

    def listed(key_id: str | None, after: str | None, limit: int) -> list[str]:
        return [a.name for a in repo.list_aliases(ACCOUNT, REGION, key_id, after, limit)]

    assert listed(None, None, 100) == ["alias/a", "alias/b", "alias/c", "alias/d", "alias/e"]
    assert listed(key.key_id, None, 100) == ["alias/a", "alias/b", "alias/c", "alias/e"]
    assert listed(other.key_id, None, 100) == ["alias/d"]
    assert listed(key.key_id, None, 2) == ["alias/a", "alias/b"]
    assert listed(key.key_id, "alias/b", 2) == ["alias/c", "alias/e"]
    assert listed(None, "alias/c", 100) == ["alias/d", "alias/e"]
    assert listed(key.key_id, "alias/e", 100) == []
    assert listed(str(uuid.uuid4()), None, 100) == []
    aliases = repo.list_aliases(ACCOUNT, REGION, other.key_id, None, 100)
    assert aliases == [Alias(ACCOUNT, REGION, "alias/d", other.key_id, T0, T0)]
    assert generation(engine) == before


def test_retarget_alias(repo: SqlKeyRepo, engine: Engine) -> None:
    key, _ = store(repo, alias="alias/moving")
    other, _ = store(repo)
    before = generation(engine)

    repo.retarget_alias(Alias(ACCOUNT, REGION, "alias/moving", other.key_id, T0 + 50, T0 + 100))

    assert generation(engine) == before + 1
    moved = repo.get_alias(ACCOUNT, REGION, "alias/moving")
    assert moved == Alias(ACCOUNT, REGION, "alias/moving", other.key_id, T0, T0 + 100)
    assert [a.name for a in repo.list_aliases(ACCOUNT, REGION, other.key_id, None, 10)] == ["alias/moving"]
    assert repo.list_aliases(ACCOUNT, REGION, key.key_id, None, 10) == []


def test_delete_alias(repo: SqlKeyRepo, engine: Engine) -> None:
    key, _ = store(repo, alias="alias/gone")
    assert repo.insert_alias(Alias(ACCOUNT, REGION, "alias/kept", key.key_id, T0, T0))
    assert repo.insert_alias(Alias(ACCOUNT, OTHER_REGION, "alias/gone", key.key_id, T0, T0))
    before = generation(engine)

    repo.delete_alias(ACCOUNT, REGION, "alias/gone")

    assert generation(engine) == before + 1
    assert repo.get_alias(ACCOUNT, REGION, "alias/gone") is None
    assert repo.get_alias(ACCOUNT, REGION, "alias/kept") is not None
    assert repo.get_alias(ACCOUNT, OTHER_REGION, "alias/gone") is not None
    assert repo.get_key(key.key_id) == key


# ---- tags -------------------------------------------------------------------------------------------------


def test_put_tags_merges_and_remove_tags_removes(repo: SqlKeyRepo, engine: Engine) -> None:
    key, _ = store(repo, tags={"a": "1", "b": "2"})
    other, _ = store(repo, tags={"a": "other"})
    before = generation(engine)

    repo.put_tags(key.key_id, {"b": "20", "c": "3"})
    assert generation(engine) == before + 1
    assert repo.get_tags(key.key_id) == {"a": "1", "b": "20", "c": "3"}

    repo.remove_tags(key.key_id, ["a", "c", "not-there"])
    assert generation(engine) == before + 2
    assert repo.get_tags(key.key_id) == {"b": "20"}

    repo.put_tags(key.key_id, {"b": ""})
    assert repo.get_tags(key.key_id) == {"b": ""}
    assert repo.get_tags(other.key_id) == {"a": "other"}


def test_tags_of_a_key_without_tags(repo: SqlKeyRepo) -> None:
    key, _ = store(repo)
    repo.put_tags(key.key_id, {"first": "tag"})
    assert repo.get_tags(key.key_id) == {"first": "tag"}
    repo.remove_tags(key.key_id, ["first"])
    assert repo.get_tags(key.key_id) == {}


# ---- the change feed --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def listener(self, name: str) -> Callable[[], None]:
        return lambda: self.calls.append(name)


@pytest.fixture
def feed(engine: Engine) -> Iterator[ChangeFeed]:
    feed = ChangeFeed(engine)
    yield feed
    feed.close()


@pytest.fixture
def other_engine(sql_url: str) -> Iterator[Engine]:
    """A second engine on the same database, standing for another process."""
    engine = open_engine(sql_url)
    yield engine
    engine.dispose()


def test_change_feed_calls_subscribers_after_a_write_elsewhere(feed: ChangeFeed, other_engine: Engine) -> None:
    recorder = Recorder()
    feed.subscribe("kms", recorder.listener("kms"))
    feed.subscribe("kms", recorder.listener("kms-2"))
    feed.subscribe("identity", recorder.listener("identity"))
    feed.poll()  # the first poll learns the counters
    recorder.calls.clear()

    feed.poll()
    assert recorder.calls == []  # nothing changed

    elsewhere = SqlKeyRepo(other_engine)
    store(elsewhere)
    feed.poll()
    assert sorted(recorder.calls) == ["kms", "kms-2"]
    recorder.calls.clear()

    feed.poll()
    assert recorder.calls == []

    identity = SqlIdentityRepo(other_engine)
    identity.ensure_account(ACCOUNT, T0)
    assert identity.create_user(UserRecord(ACCOUNT, "feed-user", "AIDAFEEDUSER0000000A", "/", T0))
    feed.poll()
    assert recorder.calls == ["identity"]
    recorder.calls.clear()

    # Several writes between two polls: one call.
    key, _ = store(elsewhere)
    elsewhere.put_tags(key.key_id, {"a": "b"})
    feed.poll()
    assert sorted(recorder.calls) == ["kms", "kms-2"]


def test_change_feed_sees_every_new_commit_on_its_long_lived_connection(feed: ChangeFeed, other_engine: Engine) -> None:
    recorder = Recorder()
    feed.subscribe("kms", recorder.listener("kms"))
    feed.poll()
    recorder.calls.clear()
    elsewhere = SqlKeyRepo(other_engine)
    key, _ = store(elsewhere)
    for round_ in range(5):
        elsewhere.put_tags(key.key_id, {"round": str(round_)})
        feed.poll()
        assert recorder.calls == ["kms"] * (round_ + 1)
        feed.poll()
        assert recorder.calls == ["kms"] * (round_ + 1)


def test_change_feed_ignores_failed_writes(engine: Engine, feed: ChangeFeed, other_engine: Engine) -> None:
    store(SqlKeyRepo(engine), alias="alias/once")
    recorder = Recorder()
    feed.subscribe("kms", recorder.listener("kms"))
    feed.poll()
    recorder.calls.clear()

    elsewhere = SqlKeyRepo(other_engine)
    key = make_key()
    material = make_material(key)
    key = key.with_changes(current_material_id=material.material_id)
    assert not elsewhere.insert_key(key, material, {}, Alias(ACCOUNT, REGION, "alias/once", key.key_id, T0, T0))
    feed.poll()
    assert recorder.calls == []
