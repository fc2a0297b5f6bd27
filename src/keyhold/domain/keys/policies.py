"""Key policies: stored, returned and checked for shape now; evaluated by the policy engine (next issue)."""

from keyhold.domain.auth.errors import MalformedPolicy
from keyhold.domain.auth.policy import PolicyKind, parse_policy
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import AccessDenied, MalformedPolicyDocument, NotFound
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import DEFAULT_POLICY_NAME, Key

MAX_POLICY_BYTES = 32_768  # AWS's key policy document size quota


def check_policy_document(policy: str) -> None:
    """A key policy must parse as a resource policy (Principal required) and fit AWS's size quota."""
    if len(policy.encode("utf-8")) > MAX_POLICY_BYTES:
        raise MalformedPolicyDocument("The key policy document exceeds the maximum size of 32768 bytes.")
    try:
        parse_policy(policy, PolicyKind.RESOURCE)
    except MalformedPolicy as exc:
        raise MalformedPolicyDocument(exc.message) from exc


def check_lockout(authz: Authorizer, ctx: RequestContext, key: Key) -> None:
    """The lockout safety check: the caller must still be able to PutKeyPolicy under the key's new policy."""
    try:
        authz.check(ctx, key, "PutKeyPolicy", key_policy=key.policy)
    except AccessDenied as exc:
        raise MalformedPolicyDocument(
            "The new key policy will not allow you to update the key policy in the future."
        ) from exc


class Policies:
    def __init__(self, keyring: Keyring, authz: Authorizer) -> None:
        self._keyring = keyring
        self._authz = authz

    def get(self, ctx: RequestContext, key_ref: str, policy_name: str | None) -> str:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "GetKeyPolicy")
        _check_name(policy_name)
        return key.policy

    def put(
        self, ctx: RequestContext, key_ref: str, policy_name: str | None, policy: str, *, bypass_lockout_check: bool
    ) -> None:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "PutKeyPolicy", {"kms:BypassPolicyLockoutSafetyCheck": bypass_lockout_check})
        self._keyring.require_not_pending_deletion(key)
        _check_name(policy_name)
        check_policy_document(policy)
        updated = key.with_changes(policy=policy)
        if not bypass_lockout_check:
            check_lockout(self._authz, ctx, updated)
        self._keyring.repo.update_key(updated)
        self._keyring.invalidate()

    def list_names(self, ctx: RequestContext, key_ref: str) -> list[str]:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "ListKeyPolicies")
        return [DEFAULT_POLICY_NAME]


def _check_name(policy_name: str | None) -> None:
    if policy_name is not None and policy_name != DEFAULT_POLICY_NAME:
        raise NotFound("No such policy exists")
