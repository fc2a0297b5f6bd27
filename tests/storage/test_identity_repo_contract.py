"""The IdentityRepo contract (keyhold.domain.identity.ports) against SqlIdentityRepo on SQLite and PostgreSQL,
and the "identity" change counter that successful writes bump (and failed ones leave alone)."""

import os

import pytest
from sqlalchemy import Engine

from keyhold.domain.identity.ports import (
    AccessKeyRecord,
    AddKeyOutcome,
    DeleteUserOutcome,
    IdentityRepo,
    PutPolicyOutcome,
    UserRecord,
)
from keyhold.storage.sql.db import read_generations
from keyhold.storage.sql.identity import SqlIdentityRepo

ACCOUNT = "000000000000"
OTHER_ACCOUNT = "111111111111"
T0 = 1_700_000_000.0
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}'


@pytest.fixture
def repo(engine: Engine) -> IdentityRepo:
    repo = SqlIdentityRepo(engine)
    repo.ensure_account(ACCOUNT, T0)
    return repo


class Counter:
    """The "identity" change counter, and whether it moved since the last look."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last = self.read()

    def read(self) -> int:
        with self._engine.connect() as conn:
            return read_generations(conn)["identity"]

    def moved(self) -> bool:
        now = self.read()
        moved, self._last = now != self._last, now
        assert now >= self._last  # never goes back
        return moved


@pytest.fixture
def counter(engine: Engine, repo: IdentityRepo) -> Counter:
    return Counter(engine)


_ids = iter(range(10**6))


def access_key(
    user_name: str | None = None, *, account_id: str = ACCOUNT, key_id: str | None = None, at: float = T0
) -> AccessKeyRecord:
    key_id = key_id or f"AKIA{next(_ids):016d}"
    return AccessKeyRecord(key_id, account_id, user_name, b"\x01" + os.urandom(40), "Active", at)


def user(name: str, path: str = "/", *, account_id: str = ACCOUNT) -> UserRecord:
    return UserRecord(account_id, name, f"AIDA{next(_ids):016d}", path, T0 + next(_ids))


def always_fits(_documents: list[str]) -> bool:
    return True


# ---- accounts and root access keys ------------------------------------------------------------------------


def test_ensure_account_is_idempotent(engine: Engine) -> None:
    repo = SqlIdentityRepo(engine)
    counter = Counter(engine)
    assert repo.account_created_at(OTHER_ACCOUNT) is None

    repo.ensure_account(OTHER_ACCOUNT, T0 + 5)
    assert repo.account_created_at(OTHER_ACCOUNT) == T0 + 5
    assert counter.moved()

    repo.ensure_account(OTHER_ACCOUNT, T0 + 99)
    assert repo.account_created_at(OTHER_ACCOUNT) == T0 + 5
    assert repo.root_access_keys(OTHER_ACCOUNT) == []


def test_root_access_keys_put_replace_and_overwrite(repo: IdentityRepo, counter: Counter) -> None:
    first = access_key(at=T0 + 1)
    assert repo.put_root_access_key(first, replacing=None)
    assert counter.moved()
    second = access_key(at=T0 + 2)
    assert repo.put_root_access_key(second, replacing=None)
    assert counter.moved()
    assert repo.root_access_keys(ACCOUNT) == [first, second]  # oldest first

    # Replacing: the named root key goes, the new one comes, in one step.
    third = access_key(at=T0 + 3)
    assert repo.put_root_access_key(third, replacing=first.access_key_id)
    assert counter.moved()
    assert repo.root_access_keys(ACCOUNT) == [second, third]
    assert repo.get_access_key(first.access_key_id) is None

    # The same id again overwrites (a new secret, a new status).
    rewrapped = AccessKeyRecord(second.access_key_id, ACCOUNT, None, b"\x01new-secret", "Inactive", T0 + 2)
    assert repo.put_root_access_key(rewrapped, replacing=None)
    assert counter.moved()
    assert repo.root_access_keys(ACCOUNT) == [rewrapped, third]
    assert repo.root_access_keys(OTHER_ACCOUNT) == []


def test_put_root_access_key_refuses_an_id_held_by_a_user_or_another_account(
    repo: IdentityRepo, counter: Counter
) -> None:
    assert repo.create_user(user("holder"))
    users_key = access_key("holder")
    assert repo.add_access_key(users_key, limit=2) is AddKeyOutcome.ADDED
    repo.ensure_account(OTHER_ACCOUNT, T0)
    foreign = access_key(account_id=OTHER_ACCOUNT)
    assert repo.put_root_access_key(foreign, replacing=None)
    counter.moved()

    assert not repo.put_root_access_key(access_key(key_id=users_key.access_key_id), replacing=None)
    assert not repo.put_root_access_key(access_key(key_id=foreign.access_key_id), replacing=None)

    assert not counter.moved()
    assert repo.root_access_keys(ACCOUNT) == []
    assert repo.get_access_key(users_key.access_key_id) == (users_key, repo.get_user(ACCOUNT, "holder"))
    assert repo.get_access_key(foreign.access_key_id) == (foreign, None)


# ---- users ------------------------------------------------------------------------------------------------


def test_create_and_get_user_case_insensitively(repo: IdentityRepo, counter: Counter) -> None:
    alice = user("Alice", "/team/")
    assert repo.create_user(alice)
    assert counter.moved()
    assert repo.get_user(ACCOUNT, "Alice") == alice
    assert repo.get_user(ACCOUNT, "alice") == alice
    assert repo.get_user(ACCOUNT, "ALICE") == alice  # stored as first given
    assert repo.get_user(ACCOUNT, "bob") is None
    assert repo.get_user(OTHER_ACCOUNT, "Alice") is None

    assert not repo.create_user(user("aLiCe"))
    assert not counter.moved()
    assert repo.get_user(ACCOUNT, "alice") == alice


def test_list_users_by_path_prefix_after_and_limit(repo: IdentityRepo, counter: Counter) -> None:
    users = {
        name: user(name, path)
        for name, path in [
            ("carol", "/"),
            ("Bob", "/eng/"),
            ("alice", "/eng/team/"),
            ("dave", "/engineering/"),
            ("Erin", "/ops/"),
        ]
    }
    for record in users.values():
        assert repo.create_user(record)
    counter.moved()

    def listed(prefix: str, after: str | None = None, limit: int = 100) -> list[str]:
        return [u.user_name for u in repo.list_users(ACCOUNT, prefix, after, limit)]

    assert listed("/") == ["alice", "Bob", "carol", "dave", "Erin"]  # by lower-cased name
    assert listed("/", limit=2) == ["alice", "Bob"]
    assert listed("/", after="bob", limit=2) == ["carol", "dave"]
    assert listed("/", after="dave") == ["Erin"]
    assert listed("/", after="erin") == []
    assert listed("/eng/") == ["alice", "Bob"]
    assert listed("/eng") == ["alice", "Bob", "dave"]
    assert listed("/ENG/") == []  # paths are case-sensitive
    assert listed("/eng/team/") == ["alice"]
    assert listed("/none/") == []
    assert repo.list_users(ACCOUNT, "/ops/", None, 10) == [users["Erin"]]
    assert repo.list_users(OTHER_ACCOUNT, "/", None, 10) == []
    assert not counter.moved()


def test_delete_user_outcomes(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Keyed"))
    assert repo.create_user(user("Policied"))
    assert repo.create_user(user("Plain"))
    key = access_key("Keyed")
    assert repo.add_access_key(key, limit=2) is AddKeyOutcome.ADDED
    assert repo.put_user_policy(ACCOUNT, "Policied", "p", POLICY, fits=always_fits) is PutPolicyOutcome.STORED
    counter.moved()

    assert repo.delete_user(ACCOUNT, "nobody") is DeleteUserOutcome.NO_SUCH_USER
    assert repo.delete_user(ACCOUNT, "keyed") is DeleteUserOutcome.HAS_ACCESS_KEYS
    assert repo.delete_user(ACCOUNT, "POLICIED") is DeleteUserOutcome.HAS_POLICIES
    assert repo.delete_user(OTHER_ACCOUNT, "Plain") is DeleteUserOutcome.NO_SUCH_USER
    assert not counter.moved()
    assert repo.get_user(ACCOUNT, "Keyed") is not None
    assert repo.get_user(ACCOUNT, "Policied") is not None

    assert repo.delete_user(ACCOUNT, "plain") is DeleteUserOutcome.DELETED
    assert counter.moved()
    assert repo.get_user(ACCOUNT, "Plain") is None
    assert repo.delete_user(ACCOUNT, "Plain") is DeleteUserOutcome.NO_SUCH_USER

    # Once its keys and policies are gone, a user can go; the name is free again.
    assert repo.delete_access_key(ACCOUNT, "Keyed", key.access_key_id)
    assert repo.delete_user(ACCOUNT, "Keyed") is DeleteUserOutcome.DELETED
    assert repo.delete_user_policy(ACCOUNT, "Policied", "p")
    assert repo.delete_user(ACCOUNT, "Policied") is DeleteUserOutcome.DELETED
    assert repo.create_user(user("keyed"))


# ---- access keys ------------------------------------------------------------------------------------------


def test_add_access_key_outcomes_and_limit(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    counter.moved()

    assert repo.add_access_key(access_key("nobody"), limit=2) is AddKeyOutcome.NO_SUCH_USER
    assert not counter.moved()

    first, second = access_key("Alice"), access_key("alice")  # the owner is found whatever the case
    assert repo.add_access_key(first, limit=2) is AddKeyOutcome.ADDED
    assert counter.moved()
    assert repo.add_access_key(second, limit=2) is AddKeyOutcome.ADDED
    assert counter.moved()
    assert repo.add_access_key(access_key("ALICE"), limit=2) is AddKeyOutcome.LIMIT_EXCEEDED
    assert not counter.moved()
    assert repo.add_access_key(access_key("Alice"), limit=3) is AddKeyOutcome.ADDED

    alice = repo.get_user(ACCOUNT, "Alice")
    found = repo.get_access_key(second.access_key_id)
    assert found is not None
    stored, owner = found
    assert owner == alice
    assert stored.user_name == "Alice"  # the owner as stored
    assert (stored.access_key_id, stored.wrapped_secret, stored.status, stored.created_at) == (
        second.access_key_id,
        second.wrapped_secret,
        "Active",
        T0,
    )


def test_root_access_keys_count_against_their_own_limit(repo: IdentityRepo) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.add_access_key(access_key("Alice"), limit=1) is AddKeyOutcome.ADDED
    root_key = access_key(None)
    assert repo.add_access_key(root_key, limit=1) is AddKeyOutcome.ADDED
    assert repo.add_access_key(access_key(None), limit=1) is AddKeyOutcome.LIMIT_EXCEEDED
    assert repo.root_access_keys(ACCOUNT) == [root_key]
    assert repo.get_access_key(root_key.access_key_id) == (root_key, None)


def test_get_access_key_unknown(repo: IdentityRepo) -> None:
    assert repo.get_access_key("AKIANOSUCHKEY0000000") is None


def test_list_access_keys_by_owner_after_and_limit(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.create_user(user("Bob"))
    alices = [access_key("Alice", key_id=f"AKIAALICE{n:011d}") for n in (3, 1, 2)]
    for key in alices:
        assert repo.add_access_key(key, limit=5) is AddKeyOutcome.ADDED
    bobs = access_key("Bob")
    assert repo.add_access_key(bobs, limit=5) is AddKeyOutcome.ADDED
    root_key = access_key(None)
    assert repo.put_root_access_key(root_key, replacing=None)
    counter.moved()
    ordered = sorted(alices, key=lambda k: k.access_key_id)

    assert repo.list_access_keys(ACCOUNT, "Alice", None, 10) == ordered
    assert repo.list_access_keys(ACCOUNT, "ALICE", None, 2) == ordered[:2]
    assert repo.list_access_keys(ACCOUNT, "alice", ordered[1].access_key_id, 2) == ordered[2:]
    assert repo.list_access_keys(ACCOUNT, "Alice", ordered[2].access_key_id, 2) == []
    assert repo.list_access_keys(ACCOUNT, "Bob", None, 10) == [bobs]
    assert repo.list_access_keys(ACCOUNT, None, None, 10) == [root_key]
    assert repo.list_access_keys(ACCOUNT, "nobody", None, 10) is None
    assert repo.list_access_keys(OTHER_ACCOUNT, "Alice", None, 10) is None
    assert not counter.moved()


def test_delete_access_key_only_by_its_owner(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.create_user(user("Bob"))
    key = access_key("Alice")
    assert repo.add_access_key(key, limit=2) is AddKeyOutcome.ADDED
    root_key = access_key(None)
    assert repo.put_root_access_key(root_key, replacing=None)
    counter.moved()

    assert not repo.delete_access_key(ACCOUNT, "Bob", key.access_key_id)
    assert not repo.delete_access_key(ACCOUNT, None, key.access_key_id)
    assert not repo.delete_access_key(ACCOUNT, "nobody", key.access_key_id)
    assert not repo.delete_access_key(ACCOUNT, "Alice", root_key.access_key_id)
    assert not repo.delete_access_key(ACCOUNT, "Alice", "AKIANOSUCHKEY0000000")
    assert not counter.moved()
    assert repo.get_access_key(key.access_key_id) is not None

    assert repo.delete_access_key(ACCOUNT, "alice", key.access_key_id)
    assert counter.moved()
    assert repo.get_access_key(key.access_key_id) is None
    assert repo.list_access_keys(ACCOUNT, "Alice", None, 10) == []
    assert not repo.delete_access_key(ACCOUNT, "Alice", key.access_key_id)

    assert repo.delete_access_key(ACCOUNT, None, root_key.access_key_id)
    assert repo.root_access_keys(ACCOUNT) == []


def test_set_access_key_status(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.create_user(user("Bob"))
    key = access_key("Alice")
    assert repo.add_access_key(key, limit=2) is AddKeyOutcome.ADDED
    counter.moved()

    assert not repo.set_access_key_status(ACCOUNT, "Bob", key.access_key_id, "Inactive")
    assert not repo.set_access_key_status(ACCOUNT, "nobody", key.access_key_id, "Inactive")
    assert not repo.set_access_key_status(ACCOUNT, None, key.access_key_id, "Inactive")
    assert not counter.moved()

    assert repo.set_access_key_status(ACCOUNT, "ALICE", key.access_key_id, "Inactive")
    assert counter.moved()
    found = repo.get_access_key(key.access_key_id)
    assert found is not None
    assert found[0].status == "Inactive"
    assert repo.set_access_key_status(ACCOUNT, "Alice", key.access_key_id, "Active")
    assert counter.moved()
    assert repo.list_access_keys(ACCOUNT, "Alice", None, 10) == [key]


# ---- inline user policies ---------------------------------------------------------------------------------


def test_put_get_and_replace_user_policy(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    counter.moved()
    seen: list[list[str]] = []

    def fits(documents: list[str]) -> bool:
        seen.append(sorted(documents))
        return True

    assert repo.put_user_policy(ACCOUNT, "Alice", "one", "doc-1", fits=fits) is PutPolicyOutcome.STORED
    assert counter.moved()
    assert repo.put_user_policy(ACCOUNT, "alice", "two", "doc-2", fits=fits) is PutPolicyOutcome.STORED
    assert repo.put_user_policy(ACCOUNT, "Alice", "one", "doc-1b", fits=fits) is PutPolicyOutcome.STORED
    assert counter.moved()
    # fits sees the user's documents as they would be after the write.
    assert seen == [["doc-1"], ["doc-1", "doc-2"], ["doc-1b", "doc-2"]]

    assert repo.get_user_policy(ACCOUNT, "ALICE", "one") == "doc-1b"
    assert repo.get_user_policy(ACCOUNT, "Alice", "two") == "doc-2"
    assert repo.get_user_policy(ACCOUNT, "Alice", "ONE") is None  # policy names compared exactly
    assert repo.get_user_policy(ACCOUNT, "Alice", "three") is None
    assert repo.get_user_policy(ACCOUNT, "Bob", "one") is None


def test_put_user_policy_refusals(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.put_user_policy(ACCOUNT, "Alice", "p", "kept", fits=always_fits) is PutPolicyOutcome.STORED
    counter.moved()

    assert repo.put_user_policy(ACCOUNT, "nobody", "p", POLICY, fits=always_fits) is PutPolicyOutcome.NO_SUCH_USER
    assert (
        repo.put_user_policy(ACCOUNT, "Alice", "p", "too big", fits=lambda _docs: False) is PutPolicyOutcome.TOO_LARGE
    )
    assert (
        repo.put_user_policy(ACCOUNT, "Alice", "q", "too big", fits=lambda _docs: False) is PutPolicyOutcome.TOO_LARGE
    )
    assert not counter.moved()
    assert repo.get_user_policy(ACCOUNT, "Alice", "p") == "kept"
    assert repo.list_user_policies(ACCOUNT, "Alice", None, 10) == ["p"]


def test_list_and_delete_user_policies(repo: IdentityRepo, counter: Counter) -> None:
    assert repo.create_user(user("Alice"))
    assert repo.create_user(user("Bob"))
    for name in ["c", "a", "B", "b"]:
        assert repo.put_user_policy(ACCOUNT, "Alice", name, POLICY, fits=always_fits) is PutPolicyOutcome.STORED
    assert repo.put_user_policy(ACCOUNT, "Bob", "z", POLICY, fits=always_fits) is PutPolicyOutcome.STORED
    counter.moved()

    ordered = sorted(["c", "a", "B", "b"])
    assert repo.list_user_policies(ACCOUNT, "alice", None, 10) == ordered
    assert repo.list_user_policies(ACCOUNT, "Alice", None, 2) == ordered[:2]
    assert repo.list_user_policies(ACCOUNT, "Alice", ordered[1], 10) == ordered[2:]
    assert repo.list_user_policies(ACCOUNT, "Bob", None, 10) == ["z"]
    assert repo.list_user_policies(ACCOUNT, "nobody", None, 10) == []
    assert not counter.moved()

    assert not repo.delete_user_policy(ACCOUNT, "Alice", "z")
    assert not repo.delete_user_policy(ACCOUNT, "Alice", "C")
    assert not repo.delete_user_policy(ACCOUNT, "nobody", "a")
    assert not counter.moved()

    assert repo.delete_user_policy(ACCOUNT, "ALICE", "b")
    assert counter.moved()
    assert repo.list_user_policies(ACCOUNT, "Alice", None, 10) == ["B", "a", "c"]
    assert not repo.delete_user_policy(ACCOUNT, "Alice", "b")
    assert repo.list_user_policies(ACCOUNT, "Bob", None, 10) == ["z"]
