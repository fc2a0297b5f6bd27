"""Key policies: stored, returned and checked for shape now; evaluated by the policy engine (next issue)."""

import json

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.errors import MalformedPolicyDocument, NotFound
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import DEFAULT_POLICY_NAME

MAX_POLICY_BYTES = 32_768  # AWS's key policy document size quota


def check_policy_document(policy: str) -> None:
    """A key policy must be a JSON object with a non-empty Statement of objects, each with Effect."""
    if len(policy.encode("utf-8")) > MAX_POLICY_BYTES:
        raise MalformedPolicyDocument("The key policy document exceeds the maximum size of 32768 bytes.")
    try:
        document = json.loads(policy)
    except ValueError as exc:
        raise MalformedPolicyDocument("The key policy is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise MalformedPolicyDocument("The key policy must be a JSON object.")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument("The key policy must contain a Statement.")
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocument("Each statement must be an object whose Effect is Allow or Deny.")
        if not any(field in statement for field in ("Action", "NotAction")):
            raise MalformedPolicyDocument("Each statement must name an Action or NotAction.")
        if not any(field in statement for field in ("Principal", "NotPrincipal")):
            raise MalformedPolicyDocument("Policy contains a statement with no principal.")


class Policies:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def get(self, ctx: RequestContext, key_ref: str, policy_name: str | None) -> str:
        key = self._keyring.resolve(ctx, key_ref)
        _check_name(policy_name)
        return key.policy

    def put(self, ctx: RequestContext, key_ref: str, policy_name: str | None, policy: str) -> None:
        key = self._keyring.resolve(ctx, key_ref)
        self._keyring.require_customer_managed(ctx, key, "PutKeyPolicy")
        self._keyring.require_not_pending_deletion(key)
        _check_name(policy_name)
        check_policy_document(policy)
        self._keyring.repo.update_key(key.with_changes(policy=policy))
        self._keyring.invalidate()

    def list_names(self, ctx: RequestContext, key_ref: str) -> list[str]:
        self._keyring.resolve(ctx, key_ref)
        return [DEFAULT_POLICY_NAME]


def _check_name(policy_name: str | None) -> None:
    if policy_name is not None and policy_name != DEFAULT_POLICY_NAME:
        raise NotFound("No such policy exists")
