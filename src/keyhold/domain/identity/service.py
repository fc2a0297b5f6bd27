"""IdentityService: accounts, IAM users, access keys and inline user policies with IAM's semantics, and the
credential lookup every signed request makes (cached in memory, dropped by ``invalidate``).

Every operation acts inside the caller's account and is authorized first, as IAM does it: the account root may
do everything; an IAM user needs an Allow (and no Deny) for the IAM action in its own inline policies
(``authz.IamAuthorizer``). ``user_policies`` serves the same documents to the KMS authorizer.
"""

import base64
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from keyhold.crypto.keywrap import RootKey
from keyhold.crypto.rand import RandomSource
from keyhold.domain.identity import validation as check
from keyhold.domain.identity.authz import IamAuthorizer
from keyhold.domain.identity.errors import DeleteConflict
from keyhold.domain.identity.model import Credential, Principal
from keyhold.domain.identity.policies import UserPolicies
from keyhold.domain.identity.ports import (
    AccessKeyRecord,
    AddKeyOutcome,
    DeleteUserOutcome,
    IdentityRepo,
    PutPolicyOutcome,
    UserRecord,
)
from keyhold.errors import AlreadyExists, InvalidInput, LimitExceeded, NotFound

SECRET_PURPOSE = b"iam-secret-access-key"
ACCESS_KEYS_PER_USER = 2
DEFAULT_MAX_ITEMS = 100
_CACHE_LIMIT = 4096

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class User:
    """An IAM user as IAM shows it; for the account's root identity, ``user_name`` and ``path`` are None."""

    account_id: str
    user_name: str | None
    user_id: str
    path: str | None
    arn: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    user_name: str | None  # None for a root access key
    status: str
    created_at: float


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    key: AccessKey
    secret_access_key: str


@dataclass(frozen=True, slots=True)
class UserPolicy:
    user_name: str
    policy_name: str
    document: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    marker: str | None  # None: this is the last page

    @property
    def is_truncated(self) -> bool:
        return self.marker is not None


def user_arn(account_id: str, path: str, user_name: str) -> str:
    return f"arn:aws:iam::{account_id}:user{path}{user_name}"


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def _no_such_user(name: str) -> NotFound:
    return NotFound(f"The user with name {name} cannot be found.")


def _no_such_key(access_key_id: str) -> NotFound:
    return NotFound(f"The Access Key with id {access_key_id} cannot be found.")


def _encode_marker(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii")


def _decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raise InvalidInput("Invalid Marker.") from None


def _page(rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """``rows`` holds up to limit + 1 items; the extra one only says that there is more."""
    if len(rows) > limit:
        return Page(rows[:limit], _encode_marker(key(rows[limit - 1])))
    return Page(rows, None)


class IdentityService:
    def __init__(
        self,
        repo: IdentityRepo,
        root_key: RootKey,
        *,
        clock: Callable[[], float] = time.time,
        random: RandomSource = os.urandom,
    ) -> None:
        self._repo = repo
        self._root_key = root_key
        self._clock = clock
        self._random = random
        self._lock = threading.Lock()
        self._cache: dict[str, Credential | None] = {}
        self._epoch = 0
        self.user_policies = UserPolicies(repo)
        self._authz = IamAuthorizer(self.user_policies.documents, clock)

    # ---- identifiers and secrets --------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return prefix + base64.b32encode(self._random(10)).decode("ascii")

    def _new_secret(self) -> str:
        return base64.b64encode(self._random(30)).decode("ascii")

    def _wrap(self, access_key_id: str, secret: str) -> bytes:
        return self._root_key.wrap(secret.encode("utf-8"), SECRET_PURPOSE, access_key_id.encode("utf-8"))

    def _unwrap(self, key: AccessKeyRecord) -> str:
        secret = self._root_key.unwrap(key.wrapped_secret, SECRET_PURPOSE, key.access_key_id.encode("utf-8"))
        return secret.decode("utf-8")

    # ---- accounts and credentials -------------------------------------------------------------------------

    def bootstrap_account(
        self, account_id: str, access_key_id: str | None = None, secret_access_key: str | None = None
    ) -> tuple[str, str]:
        """Make sure the account exists and has a root access key; returns that key's id and secret.

        With an explicit pair, that pair becomes the root key, replacing the oldest root key (the one an
        earlier bootstrap generated) when it differs. Without one, the oldest root key is reused, or one made.
        """
        if (access_key_id is None) != (secret_access_key is None):
            raise InvalidInput("Give both the root access key id and its secret, or neither.")
        now = self._clock()
        self._repo.ensure_account(account_id, now)
        existing = self._repo.root_access_keys(account_id)
        if access_key_id is None or secret_access_key is None:
            if existing:
                return existing[0].access_key_id, self._unwrap(existing[0])
            access_key_id, secret_access_key = self._id("AKIA"), self._new_secret()
            replacing = None
        else:
            # Any word characters: operators may choose short ids such as "test", which AWS would not issue.
            if not re.fullmatch(r"\w{1,128}", access_key_id, re.ASCII) or not secret_access_key:
                raise InvalidInput("The root access key id must be 1-128 letters, digits or '_'; the secret non-empty.")
            same = [key for key in existing if key.access_key_id == access_key_id]
            if same and same[0].status == "Active" and self._unwrap(same[0]) == secret_access_key:
                return access_key_id, secret_access_key
            replacing = None if same or not existing else existing[0].access_key_id
            if same:
                now = same[0].created_at
        record = AccessKeyRecord(
            access_key_id, account_id, None, self._wrap(access_key_id, secret_access_key), "Active", now
        )
        if not self._repo.put_root_access_key(record, replacing=replacing):
            raise AlreadyExists(f"The access key id {access_key_id} already belongs to another identity.")
        self.invalidate()
        return access_key_id, secret_access_key

    def credential(self, access_key_id: str) -> Credential | None:
        """The secret and principal behind an access key id, or None when no such key exists."""
        with self._lock:
            if access_key_id in self._cache:
                return self._cache[access_key_id]
            epoch = self._epoch
        credential = self._load_credential(access_key_id)
        with self._lock:
            # An invalidate() since we read the epoch means our row may be older than the change it announced.
            if self._epoch == epoch:
                if len(self._cache) >= _CACHE_LIMIT:
                    del self._cache[next(iter(self._cache))]
                self._cache[access_key_id] = credential
        return credential

    def invalidate(self) -> None:
        """Forget every cached credential and policy (call when another process may have changed identities)."""
        with self._lock:
            self._epoch += 1
            self._cache.clear()
        self.user_policies.invalidate()

    def _load_credential(self, access_key_id: str) -> Credential | None:
        found = self._repo.get_access_key(access_key_id)
        if found is None:
            return None
        key, user = found
        if key.user_name is None:
            principal = Principal(key.account_id, root_arn(key.account_id), key.account_id, None, access_key_id)
        elif user is None:
            return None
        else:
            arn = user_arn(user.account_id, user.path, user.user_name)
            principal = Principal(user.account_id, arn, user.user_id, user.user_name, access_key_id)
        return Credential(self._unwrap(key), principal, key.status == "Active")

    # ---- authorization ------------------------------------------------------------------------------------

    def _authorize(self, caller: Principal, action: str, user_name: str | None = None, path: str | None = None) -> None:
        """``action`` on the user ``user_name`` (the caller itself when None; no resource for ListUsers).

        Checked after the parameters are validated and before anything is looked up, as IAM does: a caller
        without permission learns nothing about which users exist.
        """
        if caller.is_root:
            return
        if action == "ListUsers":
            resource = "*"
        elif user_name is None:
            resource = caller.arn
        else:
            record = None if path is not None else self._repo.get_user(caller.account_id, user_name)
            if record is not None:
                user_name, path = record.user_name, record.path
            resource = user_arn(caller.account_id, path or "/", user_name)
        self._authz.check(caller, f"iam:{action}", resource)

    # ---- users --------------------------------------------------------------------------------------------

    @staticmethod
    def _user(record: UserRecord) -> User:
        arn = user_arn(record.account_id, record.path, record.user_name)
        return User(record.account_id, record.user_name, record.user_id, record.path, arn, record.created_at)

    def _existing_user(self, caller: Principal, user_name: str) -> UserRecord:
        record = self._repo.get_user(caller.account_id, check.check_user_name(user_name))
        if record is None:
            raise _no_such_user(user_name)
        return record

    def create_user(self, caller: Principal, user_name: str, path: str | None = None) -> User:
        check.check_new_user_name(user_name)
        path = check.check_path("/" if path is None else path)
        self._authorize(caller, "CreateUser", user_name, path)
        record = UserRecord(caller.account_id, user_name, self._id("AIDA"), path, self._clock())
        if not self._repo.create_user(record):
            raise AlreadyExists(f"User with name {user_name} already exists.")
        return self._user(record)

    def get_user(self, caller: Principal, user_name: str | None = None) -> User:
        """The named user, or the caller itself (for the root identity, IAM's root-user shape)."""
        self._authorize(caller, "GetUser", check.check_user_name(user_name) if user_name is not None else None)
        if user_name is None:
            if caller.user_name is not None:
                return self._user(self._existing_user(caller, caller.user_name))
            created = self._repo.account_created_at(caller.account_id) or 0.0
            account = caller.account_id
            return User(account, None, account, None, root_arn(account), created)
        return self._user(self._existing_user(caller, user_name))

    def list_users(
        self,
        caller: Principal,
        path_prefix: str | None = None,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> Page[User]:
        prefix = check.check_path_prefix("/" if path_prefix is None else path_prefix)
        limit = check.check_max_items(DEFAULT_MAX_ITEMS if max_items is None else max_items)
        self._authorize(caller, "ListUsers")
        rows = self._repo.list_users(caller.account_id, prefix, _decode_marker(marker), limit + 1)
        page = _page(rows, limit, lambda row: row.user_name.lower())
        return Page([self._user(row) for row in page.items], page.marker)

    def delete_user(self, caller: Principal, user_name: str) -> None:
        self._authorize(caller, "DeleteUser", check.check_user_name(user_name))
        outcome = self._repo.delete_user(caller.account_id, user_name)
        if outcome is DeleteUserOutcome.NO_SUCH_USER:
            raise _no_such_user(user_name)
        if outcome is DeleteUserOutcome.HAS_ACCESS_KEYS:
            raise DeleteConflict("Cannot delete entity, must delete access keys first.")
        if outcome is DeleteUserOutcome.HAS_POLICIES:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")

    # ---- access keys --------------------------------------------------------------------------------------

    def _key_owner(self, caller: Principal, user_name: str | None) -> str | None:
        """Whose keys an access-key call means: the named user, else the caller (None: the root identity)."""
        return caller.user_name if user_name is None else check.check_user_name(user_name)

    def create_access_key(self, caller: Principal, user_name: str | None = None) -> NewAccessKey:
        owner = self._key_owner(caller, user_name)
        self._authorize(caller, "CreateAccessKey", owner)
        if owner is not None:
            owner = self._existing_user(caller, owner).user_name
        access_key_id, secret = self._id("AKIA"), self._new_secret()
        record = AccessKeyRecord(
            access_key_id,
            caller.account_id,
            owner,
            self._wrap(access_key_id, secret),
            "Active",
            self._clock(),
        )
        outcome = self._repo.add_access_key(record, limit=ACCESS_KEYS_PER_USER)
        if outcome is AddKeyOutcome.NO_SUCH_USER:
            raise _no_such_user(owner or "")
        if outcome is AddKeyOutcome.LIMIT_EXCEEDED:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")
        self.invalidate()
        return NewAccessKey(AccessKey(access_key_id, owner, "Active", record.created_at), secret)

    def list_access_keys(
        self,
        caller: Principal,
        user_name: str | None = None,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> Page[AccessKey]:
        owner = self._key_owner(caller, user_name)
        limit = check.check_max_items(DEFAULT_MAX_ITEMS if max_items is None else max_items)
        self._authorize(caller, "ListAccessKeys", owner)
        rows = self._repo.list_access_keys(caller.account_id, owner, _decode_marker(marker), limit + 1)
        if rows is None:
            raise _no_such_user(owner or "")
        page = _page(rows, limit, lambda row: row.access_key_id)
        keys = [AccessKey(row.access_key_id, row.user_name, row.status, row.created_at) for row in page.items]
        return Page(keys, page.marker)

    def delete_access_key(self, caller: Principal, access_key_id: str, user_name: str | None = None) -> None:
        owner = self._key_owner(caller, user_name)
        check.check_access_key_id(access_key_id)
        self._authorize(caller, "DeleteAccessKey", owner)
        if owner is not None:
            self._existing_user(caller, owner)
        if not self._repo.delete_access_key(caller.account_id, owner, access_key_id):
            raise _no_such_key(access_key_id)
        self.invalidate()

    def update_access_key(
        self, caller: Principal, access_key_id: str, status: str, user_name: str | None = None
    ) -> None:
        owner = self._key_owner(caller, user_name)
        check.check_access_key_id(access_key_id)
        check.check_status(status)
        self._authorize(caller, "UpdateAccessKey", owner)
        if owner is not None:
            self._existing_user(caller, owner)
        if not self._repo.set_access_key_status(caller.account_id, owner, access_key_id, status):
            raise _no_such_key(access_key_id)
        self.invalidate()

    # ---- inline user policies -----------------------------------------------------------------------------

    def put_user_policy(self, caller: Principal, user_name: str, policy_name: str, document: str) -> None:
        check.check_user_name(user_name)
        check.check_policy_name(policy_name)
        document = check.check_policy_document(document)
        self._authorize(caller, "PutUserPolicy", user_name)

        def fits(documents: list[str]) -> bool:
            return sum(check.policy_size(doc) for doc in documents) <= check.MAX_INLINE_USER_POLICY_SIZE

        outcome = self._repo.put_user_policy(caller.account_id, user_name, policy_name, document, fits=fits)
        if outcome is PutPolicyOutcome.NO_SUCH_USER:
            raise _no_such_user(user_name)
        if outcome is PutPolicyOutcome.TOO_LARGE:
            limit = check.MAX_INLINE_USER_POLICY_SIZE
            raise LimitExceeded(f"Maximum policy size of {limit} bytes exceeded for user {user_name}")
        self.user_policies.invalidate()

    def get_user_policy(self, caller: Principal, user_name: str, policy_name: str) -> UserPolicy:
        check.check_policy_name(policy_name)
        self._authorize(caller, "GetUserPolicy", check.check_user_name(user_name))
        user = self._existing_user(caller, user_name)
        document = self._repo.get_user_policy(caller.account_id, user.user_name, policy_name)
        if document is None:
            raise NotFound(f"The user policy with name {policy_name} cannot be found.")
        return UserPolicy(user.user_name, policy_name, document)

    def delete_user_policy(self, caller: Principal, user_name: str, policy_name: str) -> None:
        check.check_policy_name(policy_name)
        self._authorize(caller, "DeleteUserPolicy", check.check_user_name(user_name))
        user = self._existing_user(caller, user_name)
        if not self._repo.delete_user_policy(caller.account_id, user.user_name, policy_name):
            raise NotFound(f"The user policy with name {policy_name} cannot be found.")
        self.user_policies.invalidate()

    def list_user_policies(
        self,
        caller: Principal,
        user_name: str,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> Page[str]:
        limit = check.check_max_items(DEFAULT_MAX_ITEMS if max_items is None else max_items)
        self._authorize(caller, "ListUserPolicies", check.check_user_name(user_name))
        user = self._existing_user(caller, user_name)
        names = self._repo.list_user_policies(caller.account_id, user.user_name, _decode_marker(marker), limit + 1)
        return _page(names, limit, lambda name: name)
