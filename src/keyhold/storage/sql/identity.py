"""SqlIdentityRepo: the identity store (accounts, IAM users, access keys, inline user policies) on
SQLAlchemy Core, for SQLite and PostgreSQL alike. Implements keyhold.domain.identity.ports.IdentityRepo.

Each method is one transaction. Every write transaction starts by bumping the "identity" change counter:
that tells other processes to drop their credential caches and, being a write to one shared row, it also
serialises identity writes (SQLite takes its write lock, PostgreSQL a row lock), so check-then-write rules
such as "at most two access keys" hold under concurrency. A write that turns out to change nothing is rolled
back.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RootTransaction,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from keyhold.domain.identity.ports import (
    AccessKeyRecord,
    AddKeyOutcome,
    DeleteUserOutcome,
    PutPolicyOutcome,
    UserRecord,
)
from keyhold.storage.sql.db import bump_generations
from keyhold.storage.sql.schema import access_keys, accounts, iam_users, user_policies

_IDENTITY = ("identity",)


def _name_key(user_name: str) -> str:
    return user_name.lower()


def _user(row: Any) -> UserRecord:
    return UserRecord(row.account_id, row.user_name, row.user_id, row.path, row.created_at)


def _key(row: Any) -> AccessKeyRecord:
    return AccessKeyRecord(
        row.access_key_id,
        row.account_id,
        row.user_name,
        bytes(row.wrapped_secret),
        row.status,
        row.created_at,
    )


_USER_COLUMNS = (iam_users.c.account_id, iam_users.c.user_name, iam_users.c.user_id, iam_users.c.path)
_KEY_COLUMNS = (
    access_keys.c.access_key_id,
    access_keys.c.account_id,
    access_keys.c.user_name,
    access_keys.c.wrapped_secret,
    access_keys.c.status,
    access_keys.c.created_at,
)


class SqlIdentityRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, RootTransaction]]:
        """A write transaction; call ``tx.rollback()`` to leave it without changing anything."""
        with self._engine.connect() as conn, conn.begin() as tx:
            bump_generations(conn, _IDENTITY)
            yield conn, tx

    def _find_user(self, conn: Connection, account_id: str, user_name: str) -> UserRecord | None:
        row = conn.execute(
            select(*_USER_COLUMNS, iam_users.c.created_at).where(
                iam_users.c.account_id == account_id, iam_users.c.name_key == _name_key(user_name)
            )
        ).first()
        return None if row is None else _user(row)

    @staticmethod
    def _owner_clause(account_id: str, user_name: str | None) -> ColumnElement[bool]:
        owner = access_keys.c.user_name.is_(None) if user_name is None else access_keys.c.user_name == user_name
        return and_(access_keys.c.account_id == account_id, owner)

    def _canonical_owner(self, conn: Connection, account_id: str, user_name: str | None) -> tuple[bool, str | None]:
        """(exists, the user's name as stored) for a user; (True, None) for the root identity."""
        if user_name is None:
            return True, None
        user = self._find_user(conn, account_id, user_name)
        return (False, None) if user is None else (True, user.user_name)

    # ---- accounts -----------------------------------------------------------------------------------------

    def ensure_account(self, account_id: str, created_at: float) -> None:
        with self._engine.begin() as conn:
            if conn.execute(select(accounts.c.account_id).where(accounts.c.account_id == account_id)).first():
                return
        with self._write() as (conn, _tx):
            if not conn.execute(select(accounts.c.account_id).where(accounts.c.account_id == account_id)).first():
                conn.execute(insert(accounts).values(account_id=account_id, created_at=created_at))

    def account_created_at(self, account_id: str) -> float | None:
        with self._engine.connect() as conn:
            value = conn.scalar(select(accounts.c.created_at).where(accounts.c.account_id == account_id))
            return None if value is None else float(value)

    def root_access_keys(self, account_id: str) -> list[AccessKeyRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(*_KEY_COLUMNS)
                .where(access_keys.c.account_id == account_id, access_keys.c.user_name.is_(None))
                .order_by(access_keys.c.created_at, access_keys.c.access_key_id)
            )
            return [_key(row) for row in rows]

    def put_root_access_key(self, key: AccessKeyRecord, *, replacing: str | None) -> bool:
        with self._write() as (conn, tx):
            holder = conn.execute(
                select(access_keys.c.account_id, access_keys.c.user_name).where(
                    access_keys.c.access_key_id == key.access_key_id
                )
            ).first()
            if holder is not None and (holder.account_id != key.account_id or holder.user_name is not None):
                tx.rollback()
                return False
            doomed = {key.access_key_id} | ({replacing} if replacing else set())
            conn.execute(
                delete(access_keys).where(
                    access_keys.c.access_key_id.in_(doomed),
                    access_keys.c.account_id == key.account_id,
                    access_keys.c.user_name.is_(None),
                )
            )
            conn.execute(insert(access_keys).values(**_key_values(key)))
            return True

    # ---- users --------------------------------------------------------------------------------------------

    def create_user(self, user: UserRecord) -> bool:
        with self._write() as (conn, tx):
            if self._find_user(conn, user.account_id, user.user_name) is not None:
                tx.rollback()
                return False
            conn.execute(
                insert(iam_users).values(
                    account_id=user.account_id,
                    name_key=_name_key(user.user_name),
                    user_name=user.user_name,
                    user_id=user.user_id,
                    path=user.path,
                    created_at=user.created_at,
                )
            )
            return True

    def get_user(self, account_id: str, user_name: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            return self._find_user(conn, account_id, user_name)

    def list_users(self, account_id: str, path_prefix: str, after: str | None, limit: int) -> list[UserRecord]:
        query = select(*_USER_COLUMNS, iam_users.c.created_at).where(iam_users.c.account_id == account_id)
        if path_prefix != "/":
            # substr, not LIKE: exact and case-sensitive on both databases, no wildcard escaping.
            query = query.where(func.substr(iam_users.c.path, 1, len(path_prefix)) == path_prefix)
        if after is not None:
            query = query.where(iam_users.c.name_key > after)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(iam_users.c.name_key).limit(limit))
            return [_user(row) for row in rows]

    def delete_user(self, account_id: str, user_name: str) -> DeleteUserOutcome:
        with self._write() as (conn, tx):
            user = self._find_user(conn, account_id, user_name)
            if user is None:
                tx.rollback()
                return DeleteUserOutcome.NO_SUCH_USER
            has_keys = conn.execute(
                select(access_keys.c.access_key_id).where(self._owner_clause(account_id, user.user_name)).limit(1)
            ).first()
            if has_keys:
                tx.rollback()
                return DeleteUserOutcome.HAS_ACCESS_KEYS
            policy_owner = and_(
                user_policies.c.account_id == account_id, user_policies.c.name_key == _name_key(user_name)
            )
            if conn.execute(select(user_policies.c.policy_name).where(policy_owner).limit(1)).first():
                tx.rollback()
                return DeleteUserOutcome.HAS_POLICIES
            conn.execute(
                delete(iam_users).where(
                    iam_users.c.account_id == account_id, iam_users.c.name_key == _name_key(user_name)
                )
            )
            return DeleteUserOutcome.DELETED

    # ---- access keys --------------------------------------------------------------------------------------

    def add_access_key(self, key: AccessKeyRecord, *, limit: int) -> AddKeyOutcome:
        with self._write() as (conn, tx):
            exists, owner = self._canonical_owner(conn, key.account_id, key.user_name)
            if not exists:
                tx.rollback()
                return AddKeyOutcome.NO_SUCH_USER
            count = conn.scalar(
                select(func.count()).select_from(access_keys).where(self._owner_clause(key.account_id, owner))
            )
            if (count or 0) >= limit:
                tx.rollback()
                return AddKeyOutcome.LIMIT_EXCEEDED
            values = _key_values(key)
            values["user_name"] = owner
            conn.execute(insert(access_keys).values(**values))
            return AddKeyOutcome.ADDED

    def get_access_key(self, access_key_id: str) -> tuple[AccessKeyRecord, UserRecord | None] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(access_keys.c.access_key_id == access_key_id)).first()
            if row is None:
                return None
            key = _key(row)
            if key.user_name is None:
                return key, None
            return key, self._find_user(conn, key.account_id, key.user_name)

    def list_access_keys(
        self, account_id: str, user_name: str | None, after: str | None, limit: int
    ) -> list[AccessKeyRecord] | None:
        with self._engine.connect() as conn:
            exists, owner = self._canonical_owner(conn, account_id, user_name)
            if not exists:
                return None
            query = select(*_KEY_COLUMNS).where(self._owner_clause(account_id, owner))
            if after is not None:
                query = query.where(access_keys.c.access_key_id > after)
            rows = conn.execute(query.order_by(access_keys.c.access_key_id).limit(limit))
            return [_key(row) for row in rows]

    def _change_key(self, account_id: str, user_name: str | None, access_key_id: str, status: str | None) -> bool:
        """Delete the owner's key (status None) or set its status; False when the owner has no such key."""
        with self._write() as (conn, tx):
            exists, owner = self._canonical_owner(conn, account_id, user_name)
            if not exists:
                tx.rollback()
                return False
            where = and_(access_keys.c.access_key_id == access_key_id, self._owner_clause(account_id, owner))
            if status is None:
                result = conn.execute(delete(access_keys).where(where))
            else:
                result = conn.execute(update(access_keys).where(where).values(status=status))
            if result.rowcount != 1:
                tx.rollback()
                return False
            return True

    def delete_access_key(self, account_id: str, user_name: str | None, access_key_id: str) -> bool:
        return self._change_key(account_id, user_name, access_key_id, None)

    def set_access_key_status(self, account_id: str, user_name: str | None, access_key_id: str, status: str) -> bool:
        return self._change_key(account_id, user_name, access_key_id, status)

    # ---- inline user policies -----------------------------------------------------------------------------

    @staticmethod
    def _policy_owner(account_id: str, user_name: str) -> ColumnElement[bool]:
        return and_(user_policies.c.account_id == account_id, user_policies.c.name_key == _name_key(user_name))

    def put_user_policy(
        self,
        account_id: str,
        user_name: str,
        policy_name: str,
        document: str,
        *,
        fits: Callable[[list[str]], bool],
    ) -> PutPolicyOutcome:
        with self._write() as (conn, tx):
            if self._find_user(conn, account_id, user_name) is None:
                tx.rollback()
                return PutPolicyOutcome.NO_SUCH_USER
            owner = self._policy_owner(account_id, user_name)
            others = conn.scalars(
                select(user_policies.c.document).where(owner, user_policies.c.policy_name != policy_name)
            )
            if not fits([*others, document]):
                tx.rollback()
                return PutPolicyOutcome.TOO_LARGE
            conn.execute(delete(user_policies).where(owner, user_policies.c.policy_name == policy_name))
            conn.execute(
                insert(user_policies).values(
                    account_id=account_id,
                    name_key=_name_key(user_name),
                    policy_name=policy_name,
                    document=document,
                )
            )
            return PutPolicyOutcome.STORED

    def get_user_policy(self, account_id: str, user_name: str, policy_name: str) -> str | None:
        with self._engine.connect() as conn:
            return conn.scalar(
                select(user_policies.c.document).where(
                    self._policy_owner(account_id, user_name), user_policies.c.policy_name == policy_name
                )
            )

    def delete_user_policy(self, account_id: str, user_name: str, policy_name: str) -> bool:
        with self._write() as (conn, tx):
            result = conn.execute(
                delete(user_policies).where(
                    self._policy_owner(account_id, user_name), user_policies.c.policy_name == policy_name
                )
            )
            if result.rowcount != 1:
                tx.rollback()
                return False
            return True

    def list_user_policies(self, account_id: str, user_name: str, after: str | None, limit: int) -> list[str]:
        query = select(user_policies.c.policy_name).where(self._policy_owner(account_id, user_name))
        if after is not None:
            query = query.where(user_policies.c.policy_name > after)
        with self._engine.connect() as conn:
            return list(conn.scalars(query.order_by(user_policies.c.policy_name).limit(limit)))


def _key_values(key: AccessKeyRecord) -> dict[str, object]:
    return {
        "access_key_id": key.access_key_id,
        "account_id": key.account_id,
        "user_name": key.user_name,
        "wrapped_secret": key.wrapped_secret,
        "status": key.status,
        "created_at": key.created_at,
    }
