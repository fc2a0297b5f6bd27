"""The inline policy documents of the calling IAM user, cached for authorization on every request."""

import threading

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.ports import IdentityRepo

MAX_POLICIES_PER_USER = 1000


class UserPolicies:
    def __init__(self, repo: IdentityRepo) -> None:
        self._repo = repo
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self._epoch = 0

    def documents(self, principal: Principal) -> tuple[str, ...]:
        """The user's inline policies (the root identity has none: IAM policies do not apply to it)."""
        if principal.user_name is None:
            return ()
        ref = (principal.account_id, principal.user_name)
        with self._lock:
            cached = self._cache.get(ref)
            epoch = self._epoch
        if cached is not None:
            return cached
        names = self._repo.list_user_policies(principal.account_id, principal.user_name, None, MAX_POLICIES_PER_USER)
        documents = tuple(
            document
            for name in names
            if (document := self._repo.get_user_policy(principal.account_id, principal.user_name, name)) is not None
        )
        with self._lock:
            if epoch == self._epoch:
                self._cache[ref] = documents
        return documents

    def invalidate(self) -> None:
        with self._lock:
            self._epoch += 1
            self._cache = {}
