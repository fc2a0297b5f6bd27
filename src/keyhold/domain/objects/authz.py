"""Who may do what with a bucket and its objects: the bucket policy and the caller's IAM policies, as S3 decides.

    explicit Deny in the bucket policy or an IAM policy       -> denied
    the caller is the bucket owner's root                     -> allowed
    an Allow naming the caller in the bucket policy           -> allowed
    an Allow naming the caller's account in the bucket policy -> allowed if the caller is that account's root, or
                                                                 an IAM policy of the caller allows too
    the caller is an IAM user of the owner and an IAM policy allows -> allowed
    otherwise                                                 -> denied

The owner's root may always read, change and delete the bucket policy, so a policy can never lock it out.
Actions without a bucket (ListBuckets, CreateBucket) are decided by IAM policies alone; a root is allowed them.
"""

import datetime
import threading
from collections.abc import Callable, Mapping, Sequence

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.auth.policy import Decision, DecisionCache, Effect, Policy, PolicyKind, Request, parse_policy
from keyhold.domain.auth.policy import Principal as PolicyPrincipal
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.objects.errors import ObjectAccessDenied
from keyhold.domain.objects.model import Bucket

POLICY_ACTIONS = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})


class BucketAuthorizer:
    def __init__(self, identity_policies: Callable[[Principal], Sequence[str]], clock: Callable[[], float]) -> None:
        self._identity_policies = identity_policies
        self._clock = clock
        self._parsed: dict[tuple[PolicyKind, str], Policy] = {}
        self._decisions = DecisionCache()
        self._lock = threading.Lock()

    def check(
        self,
        ctx: RequestContext,
        bucket: Bucket | None,
        action: str,
        resource: str,
        facts: Mapping[str, ContextValue] | None = None,
    ) -> None:
        """Raise ObjectAccessDenied unless the caller may do ``action`` ("s3:PutObject") on ``resource``."""
        principal = ctx.principal
        request = Request(
            principal=PolicyPrincipal(principal.arn, principal.account_id, ctx.via_service_principal),
            action=action,
            resource=resource,
            context=self._facts(ctx, facts),
        )
        identity = [self._evaluate(PolicyKind.IDENTITY, text, request) for text in self._iam(ctx)]
        identity_denies = any(d.effect is Effect.DENY for d in identity)
        is_root = principal.is_root and ctx.via_service_principal is None
        identity_allows = is_root or any(d.effect is Effect.ALLOW for d in identity)
        if identity_denies:
            raise _denied()
        if bucket is None:
            if not identity_allows:
                raise _denied()
            return
        owner_root = is_root and principal.account_id == bucket.account_id
        if owner_root and action in POLICY_ACTIONS:
            return
        decision = (
            self._evaluate(PolicyKind.RESOURCE, bucket.policy, request)
            if bucket.policy
            else Decision(Effect.NONE, False, ())
        )
        if decision.effect is Effect.DENY:
            raise _denied()
        if owner_root:
            return
        if decision.effect is Effect.ALLOW and (not decision.via_account or identity_allows):
            return
        if principal.account_id == bucket.account_id and identity_allows:
            return
        raise _denied()

    def _iam(self, ctx: RequestContext) -> Sequence[str]:
        return () if ctx.via_service_principal else self._identity_policies(ctx.principal)

    def _evaluate(self, kind: PolicyKind, text: str, request: Request) -> Decision:
        policy = self._parsed.get((kind, text))
        if policy is None:
            policy = parse_policy(text, kind)
            with self._lock:
                if len(self._parsed) > 10_000:
                    self._parsed = {}
                self._parsed[(kind, text)] = policy
        return self._decisions.evaluate(text, policy, request)

    def _facts(self, ctx: RequestContext, extra: Mapping[str, ContextValue] | None) -> dict[str, ContextValue]:
        now = self._clock()
        facts: dict[str, ContextValue] = {
            "aws:principalarn": ctx.principal.arn,
            "aws:principalaccount": ctx.account_id,
            "aws:securetransport": ctx.secure,
            "aws:currenttime": datetime.datetime.fromtimestamp(int(now), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": int(now),
            "aws:sourceip": ctx.source_ip,
            "aws:userid": ctx.principal.user_id,
        }
        if ctx.principal.user_name is not None:
            facts["aws:username"] = ctx.principal.user_name
        if extra:
            facts.update({name.lower(): value for name, value in extra.items()})
        return facts


def _denied() -> ObjectAccessDenied:
    return ObjectAccessDenied("Access Denied")
