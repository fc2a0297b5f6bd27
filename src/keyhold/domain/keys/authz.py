"""Who may do what with a key: key policy, the caller's IAM policies, and grants, evaluated as AWS KMS does.

    explicit Deny in the key policy or an IAM policy      → denied
    Allow in the key policy naming the caller (or "*")     → allowed
    Allow in the key policy naming the caller's account    → allowed if the caller is the account root, or an
                                                             IAM policy of the caller allows too (delegation)
    a grant for the caller covering the operation          → allowed, if its encryption-context constraint holds
    otherwise                                              → denied

Operations without a key (CreateKey, ListKeys, ListAliases, GenerateRandom) are decided by IAM policies alone;
the account root is allowed them.
"""

import datetime
import threading
from collections.abc import Callable, Mapping, Sequence

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.auth.policy import Decision, DecisionCache, Effect, Policy, PolicyKind, Request, parse_policy
from keyhold.domain.auth.policy import Principal as PolicyPrincipal
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.errors import AccessDenied, KeyAccessDenied
from keyhold.domain.keys.model import Grant, Key

Facts = dict[str, ContextValue]

CONTEXT_OPERATIONS = frozenset(
    {"Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
     "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}
)  # fmt: skip


class Authorizer:
    def __init__(
        self,
        grants_for: Callable[[str], Sequence[Grant]],
        identity_policies: Callable[[Principal], Sequence[str]],
        clock: Callable[[], float],
    ) -> None:
        self._grants_for = grants_for
        self._identity_policies = identity_policies
        self._clock = clock
        self._parsed: dict[tuple[PolicyKind, str], Policy] = {}
        self._decisions = DecisionCache()
        self._lock = threading.Lock()
        self._time_second = -1
        self._time_text = ""

    def invalidate(self) -> None:
        with self._lock:
            self._parsed = {}

    def check(
        self,
        ctx: RequestContext,
        key: Key | None,
        action: str,
        facts: Mapping[str, ContextValue] | None = None,
        *,
        encryption_context: Mapping[str, str] | None = None,
        key_policy: str | None = None,
    ) -> None:
        """Raise AccessDenied unless ``ctx``'s caller may do ``action`` (e.g. "Encrypt") on ``key``.

        ``key_policy`` overrides the key's stored policy (the lockout check evaluates a proposed one).
        """
        resource = key.arn if key is not None else "*"
        request = Request(
            principal=PolicyPrincipal(ctx.principal.arn, ctx.account_id, ctx.via_service_principal),
            action=f"kms:{action}",
            resource=resource,
            context=self._facts(ctx, key, facts, encryption_context),
        )
        identity = [self._evaluate(PolicyKind.IDENTITY, text, request) for text in self._iam(ctx)]
        identity_denies = any(d.effect is Effect.DENY for d in identity)
        is_account_root = ctx.principal.is_root and ctx.via_service_principal is None
        identity_allows = is_account_root or any(d.effect is Effect.ALLOW for d in identity)
        if key is None:
            if identity_denies or not identity_allows:
                raise _denied(ctx, action, resource, "identity-based", explicit=identity_denies)
            return
        decision = self._evaluate(PolicyKind.RESOURCE, key_policy or key.policy, request)
        if decision.effect is Effect.DENY:
            raise _denied(ctx, action, resource, "resource-based", explicit=True)
        if identity_denies:
            raise _denied(ctx, action, resource, "identity-based", explicit=True)
        if _allowed(decision, identity_allows):
            return
        if key_policy is None and self._granted(ctx, key, action, encryption_context):
            return
        kind = "identity-based" if decision.effect is Effect.ALLOW else "resource-based"
        raise _denied(ctx, action, resource, kind, explicit=False)

    def _iam(self, ctx: RequestContext) -> Sequence[str]:
        return () if ctx.via_service_principal else self._identity_policies(ctx.principal)

    def _granted(
        self, ctx: RequestContext, key: Key, action: str, encryption_context: Mapping[str, str] | None
    ) -> bool:
        caller = ctx.via_service_principal or ctx.principal.arn
        return any(
            grant.grantee_principal == caller
            and action in grant.operations
            and grant_constraints_hold(grant, encryption_context)
            for grant in self._grants_for(key.key_id)
        )

    def _evaluate(self, kind: PolicyKind, text: str, request: Request) -> Decision:
        return self._decisions.evaluate(text, self._policy(kind, text), request)

    def _policy(self, kind: PolicyKind, text: str) -> Policy:
        cached = self._parsed.get((kind, text))
        if cached is None:
            cached = parse_policy(text, kind)
            with self._lock:
                if len(self._parsed) > 10_000:
                    self._parsed = {}
                self._parsed[(kind, text)] = cached
        return cached

    def _facts(
        self,
        ctx: RequestContext,
        key: Key | None,
        extra: Mapping[str, ContextValue] | None,
        encryption_context: Mapping[str, str] | None,
    ) -> Facts:
        now = int(self._clock())
        if now != self._time_second:  # one strftime a second, not one a request
            self._time_second = now
            self._time_text = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        facts: Facts = {
            "aws:principalarn": ctx.principal.arn,
            "aws:principalaccount": ctx.account_id,
            "aws:sourceaccount": ctx.account_id,
            "aws:securetransport": ctx.secure,
            "aws:currenttime": self._time_text,
            "aws:epochtime": now,
            "aws:sourceip": ctx.source_ip,
            "aws:userid": ctx.principal.user_id,
            "kms:calleraccount": ctx.account_id,
        }
        if ctx.principal.user_name is not None:
            facts["aws:username"] = ctx.principal.user_name
        if ctx.via_service is not None:
            facts["kms:viaservice"] = ctx.via_service
        if key is not None:
            facts["kms:keyspec"] = key.key_spec
            facts["kms:keyusage"] = key.key_usage.value
            facts["kms:keyorigin"] = key.origin
        if encryption_context is not None:
            facts["kms:encryptioncontextkeys"] = tuple(encryption_context)
            for name, value in encryption_context.items():
                facts[f"kms:encryptioncontext:{name.lower()}"] = value
        if extra:
            facts.update({name.lower(): value for name, value in extra.items()})
        return facts


def grant_constraints_hold(grant: Grant, encryption_context: Mapping[str, str] | None) -> bool:
    context = dict(encryption_context or {})
    if grant.context_equals is not None:
        return context == dict(grant.context_equals)
    if grant.context_subset is not None:
        return all(context.get(name) == value for name, value in grant.context_subset)
    return True


def request_alias(key_ref: str) -> str | None:
    """The alias a request named its key by, for kms:RequestAlias."""
    if key_ref.startswith("alias/"):
        return key_ref
    if key_ref.startswith("arn:") and ":alias/" in key_ref:
        return key_ref[key_ref.index(":alias/") + 1 :]
    return None


def _allowed(decision: Decision, identity_allows: bool) -> bool:
    return decision.effect is Effect.ALLOW and (not decision.via_account or identity_allows)


def _denied(ctx: RequestContext, action: str, resource: str, kind: str, *, explicit: bool) -> AccessDenied:
    who = ctx.via_service_principal or ctx.principal.arn
    reason = (
        f"with an explicit deny in {'an' if kind.startswith('identity') else 'a'} {kind} policy"
        if explicit
        else f"because no {kind} policy allows the kms:{action} action"
    )
    message = f"User: {who} is not authorized to perform: kms:{action} on resource: {resource} {reason}"
    return KeyAccessDenied(message, resource) if resource != "*" else AccessDenied(message)
