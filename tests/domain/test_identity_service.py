"""IdentityService over the real SqlIdentityRepo: bootstrap, users, access keys, inline policies, the
credential cache and its invalidation race guard, and secrets at rest (the SQLite files are scanned byte by
byte). Each test runs on SQLite and, marked ``postgres``, on PostgreSQL."""

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, delete, select

from keyhold.crypto.keywrap import RootKey
from keyhold.domain.identity.errors import DeleteConflict, MalformedPolicyDocument
from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.errors import AccessDenied, AlreadyExists, InvalidInput, LimitExceeded, NotFound
from keyhold.storage.sql.db import create_schema, open_engine, read_generations
from keyhold.storage.sql.identity import SqlIdentityRepo
from keyhold.storage.sql.schema import access_keys, accounts, iam_users, user_policies

ACCOUNT = "000000000000"
ROOT_KEY = bytes(range(32))
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'keyhold.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    engine = open_engine(url)
    create_schema(engine)
    if request.param == "postgres":
        with engine.begin() as conn:  # the session's database is shared: start from empty identity tables
            for table in (user_policies, access_keys, iam_users, accounts):
                conn.execute(delete(table))
    yield engine
    engine.dispose()


@pytest.fixture
def repo(engine: Engine) -> SqlIdentityRepo:
    return SqlIdentityRepo(engine)


@pytest.fixture
def service(repo: SqlIdentityRepo) -> IdentityService:
    return IdentityService(repo, RootKey(ROOT_KEY))


@pytest.fixture
def root(service: IdentityService) -> Principal:
    access_key_id, _secret = service.bootstrap_account(ACCOUNT)
    credential = service.credential(access_key_id)
    assert credential is not None
    return credential.principal


def test_bootstrap_generates_an_aws_shaped_root_key_once(service: IdentityService, repo: SqlIdentityRepo) -> None:
    access_key_id, secret = service.bootstrap_account(ACCOUNT)
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)
    assert service.bootstrap_account(ACCOUNT) == (access_key_id, secret)
    # A fresh process (new service, same store) finds the same key.
    assert IdentityService(repo, RootKey(ROOT_KEY)).bootstrap_account(ACCOUNT) == (access_key_id, secret)
    credential = service.credential(access_key_id)
    assert credential is not None
    assert credential.active
    assert credential.secret_access_key == secret
    assert credential.principal == Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, access_key_id)


def test_bootstrap_with_an_explicit_pair_replaces_the_generated_key(service: IdentityService) -> None:
    generated, _ = service.bootstrap_account(ACCOUNT)
    pair = ("AKIAEXPLICIT00000001", "explicit/secret+value")
    assert service.bootstrap_account(ACCOUNT, *pair) == pair
    assert service.credential(generated) is None
    assert service.bootstrap_account(ACCOUNT, *pair) == pair
    # Same id, new secret (the operator changed KEYHOLD_ROOT_SECRET_ACCESS_KEY).
    assert service.bootstrap_account(ACCOUNT, pair[0], "another-secret") == (pair[0], "another-secret")
    credential = service.credential(pair[0])
    assert credential is not None
    assert credential.secret_access_key == "another-secret"
    # Without the pair, the existing root key is reused.
    assert service.bootstrap_account(ACCOUNT) == (pair[0], "another-secret")
    with pytest.raises(InvalidInput):
        service.bootstrap_account(ACCOUNT, pair[0], None)
    with pytest.raises(InvalidInput):
        service.bootstrap_account(ACCOUNT, "has space", "secret")
    # Operators may pick short ids that AWS would never issue, as with other emulators ("test"/"test").
    assert service.bootstrap_account(ACCOUNT, "test", "test") == ("test", "test")


def test_bootstrap_refuses_a_key_id_that_belongs_to_a_user(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "alice")
    key = service.create_access_key(root, "alice").key
    with pytest.raises(AlreadyExists):
        service.bootstrap_account(ACCOUNT, key.access_key_id, "secret")


def test_users_are_unique_case_insensitively(service: IdentityService, root: Principal) -> None:
    user = service.create_user(root, "Alice", "/team/")
    assert re.fullmatch(r"AIDA[A-Z2-7]{16}", user.user_id)
    assert user.arn == f"arn:aws:iam::{ACCOUNT}:user/team/Alice"
    with pytest.raises(AlreadyExists, match=r"^User with name alice already exists\.$"):
        service.create_user(root, "alice")
    assert service.get_user(root, "ALICE") == user


@pytest.mark.parametrize(
    ("name", "path"), [("", None), ("a b", None), ("x" * 65, None), ("bob", "team"), ("bob", "/a b/")]
)
def test_bad_user_names_and_paths_are_validation_errors(
    service: IdentityService, root: Principal, name: str, path: str | None
) -> None:
    with pytest.raises(InvalidInput, match="1 validation error detected"):
        service.create_user(root, name, path)


def test_get_user_without_a_name_is_the_caller(service: IdentityService, root: Principal) -> None:
    me = service.get_user(root)
    assert (me.user_name, me.user_id, me.arn) == (None, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")
    service.create_user(root, "carol")
    created = service.create_access_key(root, "carol")
    service.put_user_policy(root, "carol", "self", _allow("iam:GetUser", "arn:aws:iam::*:user/${aws:username}"))
    credential = service.credential(created.key.access_key_id)
    assert credential is not None
    assert service.get_user(credential.principal).user_name == "carol"
    with pytest.raises(NotFound, match=r"^The user with name nobody cannot be found\.$"):
        service.get_user(root, "nobody")


def _allow(action: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
    )


def _user_principal(service: IdentityService, root: Principal, name: str) -> Principal:
    service.create_user(root, name)
    credential = service.credential(service.create_access_key(root, name).key.access_key_id)
    assert credential is not None
    return credential.principal


def test_iam_users_need_an_identity_policy_for_every_iam_action(service: IdentityService, root: Principal) -> None:
    dave = _user_principal(service, root, "dave")
    denied = (
        r"^User: arn:aws:iam::000000000000:user/dave is not authorized to perform: iam:{action} on resource: "
        r"{resource} because no identity-based policy allows the iam:{action} action$"
    )
    calls: list[tuple[str, str, Callable[[], object]]] = [
        ("CreateUser", "arn:aws:iam::000000000000:user/ops/erin", lambda: service.create_user(dave, "erin", "/ops/")),
        ("GetUser", "arn:aws:iam::000000000000:user/dave", lambda: service.get_user(dave)),
        ("ListUsers", r"\*", lambda: service.list_users(dave)),
        ("CreateAccessKey", "arn:aws:iam::000000000000:user/dave", lambda: service.create_access_key(dave)),
        ("ListAccessKeys", "arn:aws:iam::000000000000:user/dave", lambda: service.list_access_keys(dave)),
        (
            "PutUserPolicy",
            "arn:aws:iam::000000000000:user/dave",
            lambda: service.put_user_policy(dave, "dave", "p", POLICY),
        ),
        ("ListUserPolicies", "arn:aws:iam::000000000000:user/dave", lambda: service.list_user_policies(dave, "dave")),
        ("DeleteUser", "arn:aws:iam::000000000000:user/nobody", lambda: service.delete_user(dave, "nobody")),
    ]
    for action, resource, call in calls:
        with pytest.raises(AccessDenied, match=denied.format(action=action, resource=resource)):
            call()
    assert service.list_user_policies(root, "dave").items == []  # the denied PutUserPolicy changed nothing
    # An Allow for its own access keys lets the user manage exactly those, and nobody else's.
    own_keys = _allow("iam:*AccessKey*", "arn:aws:iam::000000000000:user/${aws:username}")
    service.put_user_policy(root, "dave", "own-keys", own_keys)
    assert len(service.list_access_keys(dave).items) == 1
    service.create_user(root, "frank")
    with pytest.raises(AccessDenied, match="iam:ListAccessKeys on resource: arn:aws:iam::000000000000:user/frank"):
        service.list_access_keys(dave, "frank")
    # An explicit Deny wins over an Allow.
    deny = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*"}]}
    )
    service.put_user_policy(root, "dave", "no-new-keys", deny)
    with pytest.raises(AccessDenied, match=r"with an explicit deny in an identity-based policy$"):
        service.create_access_key(dave)
    assert service.list_users(root).items[0].user_name == "dave"  # the root is never subject to IAM policies


def test_list_users_pages_and_filters_by_path(service: IdentityService, root: Principal) -> None:
    for index in range(5):
        service.create_user(root, f"user{index}", "/a/" if index % 2 else "/b/")
    first = service.list_users(root, max_items=2)
    assert [user.user_name for user in first.items] == ["user0", "user1"]
    assert first.is_truncated
    assert first.marker
    rest = service.list_users(root, marker=first.marker, max_items=10)
    assert [user.user_name for user in rest.items] == ["user2", "user3", "user4"]
    assert not rest.is_truncated
    assert [user.user_name for user in service.list_users(root, "/a/").items] == ["user1", "user3"]
    assert service.list_users(root, "/A/").items == []  # path prefixes are case-sensitive
    with pytest.raises(InvalidInput):
        service.list_users(root, max_items=0)


def test_delete_user_needs_keys_and_policies_gone_first(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "dave")
    key = service.create_access_key(root, "dave").key
    service.put_user_policy(root, "dave", "p1", POLICY)
    with pytest.raises(DeleteConflict, match=r"^Cannot delete entity, must delete access keys first\.$"):
        service.delete_user(root, "dave")
    service.delete_access_key(root, key.access_key_id, "dave")
    with pytest.raises(DeleteConflict, match=r"^Cannot delete entity, must delete policies first\.$"):
        service.delete_user(root, "dave")
    service.delete_user_policy(root, "dave", "p1")
    service.delete_user(root, "DAVE")
    with pytest.raises(NotFound, match=r"^The user with name dave cannot be found\.$"):
        service.delete_user(root, "dave")


def test_access_keys_limit_status_and_deletion(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "erin", "/ops/")
    first = service.create_access_key(root, "ERIN")
    second = service.create_access_key(root, "erin")
    assert first.key.user_name == "erin"
    with pytest.raises(LimitExceeded, match=r"^Cannot exceed quota for AccessKeysPerUser: 2$"):
        service.create_access_key(root, "erin")
    listed = service.list_access_keys(root, "erin").items
    assert {key.access_key_id for key in listed} == {first.key.access_key_id, second.key.access_key_id}

    credential = service.credential(first.key.access_key_id)
    assert credential is not None
    assert credential.active
    assert credential.secret_access_key == first.secret_access_key
    assert credential.principal.arn == f"arn:aws:iam::{ACCOUNT}:user/ops/erin"
    assert credential.principal.user_name == "erin"

    service.update_access_key(root, first.key.access_key_id, "Inactive", "erin")
    credential = service.credential(first.key.access_key_id)
    assert credential is not None
    assert not credential.active
    with pytest.raises(InvalidInput):
        service.update_access_key(root, first.key.access_key_id, "Sleeping", "erin")

    service.delete_access_key(root, first.key.access_key_id, "erin")
    assert service.credential(first.key.access_key_id) is None
    with pytest.raises(NotFound, match=rf"^The Access Key with id {first.key.access_key_id} cannot be found\.$"):
        service.delete_access_key(root, first.key.access_key_id, "erin")
    # A key is found only under its owner.
    service.create_user(root, "frank")
    with pytest.raises(NotFound):
        service.delete_access_key(root, second.key.access_key_id, "frank")
    with pytest.raises(NotFound, match=r"^The user with name ghost cannot be found\.$"):
        service.create_access_key(root, "ghost")


def test_a_user_manages_its_own_keys_without_naming_itself(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "gina")
    credential = service.credential(service.create_access_key(root, "gina").key.access_key_id)
    assert credential is not None
    gina = credential.principal
    service.put_user_policy(root, "gina", "own-keys", _allow("iam:*AccessKey*", "arn:aws:iam::*:user/${aws:username}"))
    created = service.create_access_key(gina)
    assert created.key.user_name == "gina"
    assert len(service.list_access_keys(gina).items) == 2
    # The root caller's own keys are root keys.
    assert [key.user_name for key in service.list_access_keys(root).items] == [None]


def test_inline_policies(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "hank")
    service.put_user_policy(root, "hank", "b-policy", POLICY)
    service.put_user_policy(root, "hank", "a-policy", quote(POLICY))  # IAM also accepts it URL-encoded
    assert service.get_user_policy(root, "HANK", "a-policy").document == POLICY
    assert service.get_user_policy(root, "HANK", "a-policy").user_name == "hank"
    assert service.list_user_policies(root, "hank").items == ["a-policy", "b-policy"]
    page = service.list_user_policies(root, "hank", max_items=1)
    assert page.items == ["a-policy"]
    assert service.list_user_policies(root, "hank", marker=page.marker).items == ["b-policy"]
    replacement = POLICY.replace("kms:*", "kms:Decrypt")
    service.put_user_policy(root, "hank", "b-policy", replacement)
    assert service.get_user_policy(root, "hank", "b-policy").document == replacement
    service.delete_user_policy(root, "hank", "a-policy")
    with pytest.raises(NotFound, match=r"^The user policy with name a-policy cannot be found\.$"):
        service.get_user_policy(root, "hank", "a-policy")
    with pytest.raises(NotFound, match=r"^The user with name nobody cannot be found\.$"):
        service.put_user_policy(root, "nobody", "p", POLICY)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "Syntax errors in policy."),
        ("[]", "Syntax errors in policy."),
        ('{"Version": "2012-10-17"}', "Syntax errors in policy."),
        ('{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}', "Syntax errors in policy."),
        ('{"Statement": {"Effect": "Allow", "Resource": "*"}}', "Policy statement must contain actions."),
        ('{"Statement": {"Effect": "Allow", "Action": "s3:*"}}', "Policy statement must contain resources."),
        (
            '{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}}',
            "Policy document should not specify a principal.",
        ),
    ],
)
def test_malformed_policy_documents(service: IdentityService, root: Principal, document: str, message: str) -> None:
    service.create_user(root, "ivy")
    with pytest.raises(MalformedPolicyDocument) as caught:
        service.put_user_policy(root, "ivy", "p", document)
    assert caught.value.message == message


def test_inline_policies_share_a_size_quota(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "jack")
    statement = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "r" * 1000}
    big = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    service.put_user_policy(root, "jack", "one", big)
    service.put_user_policy(root, "jack", "one", big)  # replacing does not count the old version
    with pytest.raises(LimitExceeded, match="Maximum policy size of 2048 bytes exceeded for user jack"):
        service.put_user_policy(root, "jack", "two", big)


# --- the credential cache -----------------------------------------------------------------------------------


class CountingRepo:
    """Delegates to the real repository, counting key reads and running a hook after each read."""

    def __init__(self, inner: SqlIdentityRepo) -> None:
        self.inner = inner
        self.reads = 0
        self.after_read: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_access_key(self, access_key_id: str) -> Any:
        self.reads += 1
        found = self.inner.get_access_key(access_key_id)
        if self.after_read is not None:
            hook, self.after_read = self.after_read, None
            hook()
        return found


@pytest.fixture
def counting(repo: SqlIdentityRepo) -> CountingRepo:
    return CountingRepo(repo)


def test_credentials_are_cached_until_invalidated(counting: CountingRepo) -> None:
    service = IdentityService(counting, RootKey(ROOT_KEY))  # type: ignore[arg-type]
    access_key_id, _ = service.bootstrap_account(ACCOUNT)
    for _ in range(3):
        assert service.credential(access_key_id) is not None
        assert service.credential("AKIANOSUCHKEY0000000") is None
    assert counting.reads == 2
    service.invalidate()
    assert service.credential(access_key_id) is not None
    assert counting.reads == 3


def test_a_load_that_races_an_invalidation_is_not_cached(counting: CountingRepo, repo: SqlIdentityRepo) -> None:
    """The loader reads the old row, another process deletes the key and invalidate() runs, then the loader
    would store the old row: the epoch check must keep that stale row out of the cache."""
    service = IdentityService(counting, RootKey(ROOT_KEY))  # type: ignore[arg-type]
    other_process = IdentityService(repo, RootKey(ROOT_KEY))
    root_key_id, _ = service.bootstrap_account(ACCOUNT)
    caller = service.credential(root_key_id)
    assert caller is not None
    other_process.create_user(caller.principal, "kim")
    key_id = other_process.create_access_key(caller.principal, "kim").key.access_key_id

    def delete_meanwhile() -> None:
        other_process.delete_access_key(caller.principal, key_id, "kim")
        service.invalidate()  # what the change feed does when it sees the identity generation move

    counting.after_read = delete_meanwhile
    assert service.credential(key_id) is not None  # this request raced the deletion and saw the old row
    assert service.credential(key_id) is None  # ... but the old row was not cached


def test_identity_writes_bump_the_generation_and_failed_writes_do_not(
    service: IdentityService, root: Principal, engine: Engine
) -> None:
    def generation() -> int:
        with engine.connect() as conn:
            return read_generations(conn)["identity"]

    before = generation()
    service.create_user(root, "lee")
    service.create_access_key(root, "lee")
    assert generation() == before + 2
    with pytest.raises(NotFound):
        service.delete_access_key(root, "AKIANOSUCHKEY0000000", "lee")
    with pytest.raises(AlreadyExists):
        service.create_user(root, "lee")
    assert generation() == before + 2


def test_concurrent_key_creation_respects_the_limit(service: IdentityService, root: Principal) -> None:
    service.create_user(root, "max")
    outcomes: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            service.create_access_key(root, "max")
            result = "ok"
        except LimitExceeded:
            result = "limit"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["limit"] * 4 + ["ok"] * 2
    assert len(service.list_access_keys(root, "max").items) == 2


# --- secrets at rest ----------------------------------------------------------------------------------------


def test_secrets_are_stored_only_wrapped(service: IdentityService, root: Principal, engine: Engine) -> None:
    service.create_user(root, "nina")
    secrets = [service.create_access_key(root, "nina").secret_access_key]
    secrets.append(service.bootstrap_account(ACCOUNT, "AKIAEXPLICIT00000002", "explicit-plain-secret")[1])
    with engine.connect() as conn:
        stored = [bytes(row.wrapped_secret) for row in conn.execute(select(access_keys.c.wrapped_secret))]
    assert stored
    for secret in secrets:
        assert all(secret.encode() not in blob for blob in stored)
    if engine.dialect.name != "sqlite":
        return
    database = Path(str(engine.url.database))
    files = [path for path in database.parent.iterdir() if path.name.startswith(database.name)]
    assert files
    for path in files:  # keyhold.db, and its -wal journal, where fresh pages live
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, path
            assert secret.encode("utf-16-le") not in content, path
