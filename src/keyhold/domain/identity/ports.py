"""The identity store port: the records IdentityService keeps and the repository Protocol that keeps them.

Every method is one transaction. Writes that change what a credential cache may hold mark the "identity"
caches of all processes stale in the same transaction. User names are looked up case-insensitively (IAM's
rule) and stored as first given. Secrets cross this port only wrapped under the root key.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    account_id: str
    user_name: str
    user_id: str
    path: str
    created_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    access_key_id: str
    account_id: str
    user_name: str | None  # None: the account's root identity
    wrapped_secret: bytes
    status: str  # "Active" or "Inactive"
    created_at: float


class DeleteUserOutcome(enum.Enum):
    DELETED = "deleted"
    NO_SUCH_USER = "no-such-user"
    HAS_ACCESS_KEYS = "has-access-keys"
    HAS_POLICIES = "has-policies"


class AddKeyOutcome(enum.Enum):
    ADDED = "added"
    NO_SUCH_USER = "no-such-user"
    LIMIT_EXCEEDED = "limit-exceeded"


class PutPolicyOutcome(enum.Enum):
    STORED = "stored"
    NO_SUCH_USER = "no-such-user"
    TOO_LARGE = "too-large"


class IdentityRepo(Protocol):
    # Accounts and their root access keys.
    def ensure_account(self, account_id: str, created_at: float) -> None:
        """Create the account unless it exists."""

    def account_created_at(self, account_id: str) -> float | None: ...

    def root_access_keys(self, account_id: str) -> list[AccessKeyRecord]:
        """The account's root access keys, oldest first."""

    def put_root_access_key(self, key: AccessKeyRecord, *, replacing: str | None) -> bool:
        """Store ``key`` as a root key (overwriting a root key with the same id) and delete the root key
        ``replacing``. False, and nothing changed, when the id belongs to another account or to a user."""

    # Users.
    def create_user(self, user: UserRecord) -> bool:
        """False when a user of that name (any case) exists in the account."""

    def get_user(self, account_id: str, user_name: str) -> UserRecord | None: ...

    def list_users(self, account_id: str, path_prefix: str, after: str | None, limit: int) -> list[UserRecord]:
        """Users whose path starts with ``path_prefix``, ordered by lower-cased name, after that name."""

    def delete_user(self, account_id: str, user_name: str) -> DeleteUserOutcome:
        """Delete a user that has neither access keys nor policies."""

    # Access keys.
    def add_access_key(self, key: AccessKeyRecord, *, limit: int) -> AddKeyOutcome:
        """Add a key unless its owner (a user, or the root when user_name is None) already has ``limit``."""

    def get_access_key(self, access_key_id: str) -> tuple[AccessKeyRecord, UserRecord | None] | None:
        """The key and, for a user's key, its user: everything a credential needs, in one read."""

    def list_access_keys(
        self, account_id: str, user_name: str | None, after: str | None, limit: int
    ) -> list[AccessKeyRecord] | None:
        """The owner's keys ordered by id, after that id; None when the user does not exist."""

    def delete_access_key(self, account_id: str, user_name: str | None, access_key_id: str) -> bool:
        """False when the owner has no key of that id."""

    def set_access_key_status(self, account_id: str, user_name: str | None, access_key_id: str, status: str) -> bool:
        """False when the owner has no key of that id."""

    # Inline user policies (names compared exactly).
    def put_user_policy(
        self,
        account_id: str,
        user_name: str,
        policy_name: str,
        document: str,
        *,
        fits: Callable[[list[str]], bool],
    ) -> PutPolicyOutcome:
        """Create or replace a policy if ``fits`` accepts the user's documents as they would then be."""

    def get_user_policy(self, account_id: str, user_name: str, policy_name: str) -> str | None: ...

    def delete_user_policy(self, account_id: str, user_name: str, policy_name: str) -> bool: ...

    def list_user_policies(self, account_id: str, user_name: str, after: str | None, limit: int) -> list[str]:
        """Policy names ordered, after that name."""
