"""Who may manage identities: IAM's own rule for IAM actions, decided by the caller's identity-based policies.

    the account root                                   → allowed (IAM policies do not apply to it)
    an explicit Deny in one of the user's policies     → denied
    an Allow in one of the user's policies             → allowed
    otherwise                                          → denied

So an IAM user can create users, access keys or policies (including for itself) only when a policy says so.
"""

import datetime
import threading
from collections.abc import Callable, Sequence

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.auth.policy import Effect, Policy, PolicyKind, Request, evaluate, parse_policy
from keyhold.domain.auth.policy import Principal as PolicyPrincipal
from keyhold.domain.identity.model import Principal
from keyhold.errors import AccessDenied

_PARSED_LIMIT = 10_000


class IamAuthorizer:
    def __init__(self, documents: Callable[[Principal], Sequence[str]], clock: Callable[[], float]) -> None:
        self._documents = documents
        self._clock = clock
        self._parsed: dict[str, Policy] = {}
        self._lock = threading.Lock()

    def check(self, caller: Principal, action: str, resource: str) -> None:
        """Raise AccessDenied unless ``caller`` may do ``action`` (e.g. "iam:CreateUser") on ``resource``."""
        if caller.is_root:
            return
        request = Request(PolicyPrincipal(caller.arn, caller.account_id), action, resource, self._facts(caller))
        effects = {evaluate(self._policy(text), request).effect for text in self._documents(caller)}
        if Effect.DENY in effects:
            reason = "with an explicit deny in an identity-based policy"
        elif Effect.ALLOW in effects:
            return
        else:
            reason = f"because no identity-based policy allows the {action} action"
        who = f"User: {caller.arn} is not authorized to perform: {action}"
        raise AccessDenied(f"{who} on resource: {resource} {reason}")

    def _policy(self, text: str) -> Policy:
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = parse_policy(text, PolicyKind.IDENTITY)
            with self._lock:
                if len(self._parsed) >= _PARSED_LIMIT:
                    self._parsed = {}
                self._parsed[text] = parsed
        return parsed

    def _facts(self, caller: Principal) -> dict[str, ContextValue]:
        now = self._clock()
        facts: dict[str, ContextValue] = {
            "aws:principalarn": caller.arn,
            "aws:principalaccount": caller.account_id,
            "aws:userid": caller.user_id,
            "aws:currenttime": datetime.datetime.fromtimestamp(int(now), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:epochtime": int(now),
        }
        if caller.user_name is not None:
            facts["aws:username"] = caller.user_name
        return facts
