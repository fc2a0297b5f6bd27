"""The policy engine: IAM JSON policies parsed once into matchers, then evaluated against a request.

One engine serves KMS key policies and S3 bucket policies (``PolicyKind.RESOURCE``: every statement names a
Principal or NotPrincipal) and IAM identity policies (``PolicyKind.IDENTITY``: no statement may). Pure: no I/O.

Evaluation of one policy (AWS IAM's rules): a statement applies when its Action/NotAction, Resource/NotResource,
Principal/NotPrincipal and every condition match. Any applying Deny gives DENY; otherwise any applying Allow gives
ALLOW; otherwise NONE (an implicit deny, which the caller may combine with other policies). Combining policies
(key policy, IAM policies, grants) is the caller's job.

Matching:

- Action: case-insensitive, ``*`` and ``?`` wildcards; NotAction applies to every action except those listed.
- Resource: case-sensitive wildcards over the whole string; NotResource likewise negated.
- Principal ``"*"`` and ``{"AWS": "*"}`` are treated alike and match every caller, AWS service principals included
  (AWS documents them as equivalent, and its resource-policy examples exclude services from ``"*"`` with
  ``aws:PrincipalIsAWSService``, which only makes sense if ``"*"`` includes them).
- ``{"AWS": "<account id>"}`` and ``{"AWS": "arn:aws:iam::<account id>:root"}`` match every IAM principal of that
  account (root, users, role sessions) but not a service principal acting for it; such a match is "via the
  account" (``Decision.via_account``). A user or role ARN matches exactly that principal; a role ARN also matches
  its sessions (``arn:aws:sts::<acct>:assumed-role/<name>/<session>``). ``{"Service": ...}`` matches a service
  principal by name (case-insensitive; ``"*"`` matches every service). Federated and CanonicalUser principals are
  accepted and never match. Wildcards inside a principal ARN are invalid, as in AWS.
- NotPrincipal applies to every caller the same principal block would not match (no AWS-style check of the
  account before the user: excluding a user excludes that user only).

Condition keys that the request context does not give are derived from the principal when they can be:
``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:username`` (IAM users only), ``aws:PrincipalIsAWSService``,
``aws:PrincipalServiceName`` (service principals only); a key given in the context wins. See conditions.py for the
condition operators and policy variables.
"""

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyhold.domain.auth.conditions import (
    VENDOR_MESSAGE,
    Condition,
    Context,
    ContextValue,
    ValueSet,
    parse_conditions,
    variable_keys,
)
from keyhold.domain.auth.errors import MalformedPolicy

VERSIONS = ("2012-10-17", "2008-10-17")
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."
NOT_JSON = "The policy is not in the valid JSON format."
_TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_NAME = r"[\w+=,.@-]+"
_IAM_ARN = re.compile(
    rf"arn:aws[a-z-]*:(?:iam::(\d{{12}}):(?:(root)|user/(?:[!-~]*/)?{_NAME}|role/(?:[!-~]*/)?({_NAME}))"
    rf"|sts::(\d{{12}}):(?:assumed-role/{_NAME}/{_NAME}|federated-user/{_NAME}))",
    re.ASCII,
)
_SESSION = re.compile(rf"arn:aws[a-z-]*:sts::(\d{{12}}):assumed-role/({_NAME})/", re.ASCII)
_USER = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:user/(?:.*/)?([^/]+)")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*", re.ASCII)
_ACTION = re.compile(r"[A-Za-z0-9*?-]+:[\x21-\x7e]*", re.ASCII)


class PolicyKind(enum.Enum):
    RESOURCE = "resource"  # key and bucket policies: statements need Principal or NotPrincipal
    IDENTITY = "identity"  # IAM user policies: statements must not have them


class Effect(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as the engine sees it."""

    arn: str  # an IAM ARN, or for an AWS service principal its name, e.g. "ses.amazonaws.com"
    account_id: str  # the principal's account (for a service principal: the account it acts for)
    service: str | None = None  # set for AWS service principals


@dataclass(frozen=True, slots=True)
class Request:
    principal: Principal
    action: str  # "kms:Encrypt"
    resource: str  # an ARN, or "*" for actions without a resource
    context: Mapping[str, ContextValue]  # condition keys; a Sequence[str] is multi-valued; missing = absent


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect  # DENY if a Deny applies; else ALLOW if an Allow applies; else NONE
    via_account: bool  # ALLOW only through statements that name the caller's account (KMS: delegated to IAM)
    matched_sids: tuple[str, ...]  # the Sids of the applying statements of ``effect`` (statements without Sid left out)


@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal/NotPrincipal block, compiled. ``everyone`` is ``"*"`` or ``{"AWS": "*"}``."""

    everyone: bool
    accounts: frozenset[str]  # account ids named by id or root ARN: matched "via the account"
    arns: frozenset[str]  # user, role, role-session and federated-user ARNs
    roles: frozenset[tuple[str, str]]  # (account, role name) whose sessions also match
    services: frozenset[str]  # lower-cased service principal names
    every_service: bool


_NO_MATCH, _VIA_ACCOUNT, _DIRECT = 0, 1, 2
_EFFECTS = {"Allow": Effect.ALLOW, "Deny": Effect.DENY}


def _principal_match(block: Principals, principal: Principal) -> int:
    if block.everyone:
        return _DIRECT
    if principal.service is not None:
        return _DIRECT if block.every_service or principal.service.lower() in block.services else _NO_MATCH
    if principal.arn in block.arns:
        return _DIRECT
    if block.roles:
        session = _SESSION.match(principal.arn)
        if session is not None and (session.group(1), session.group(2)) in block.roles:
            return _DIRECT
    return _VIA_ACCOUNT if principal.account_id in block.accounts else _NO_MATCH


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: Effect  # ALLOW or DENY
    principals: Principals | None  # None in identity policies
    not_principal: bool
    actions: ValueSet
    not_action: bool
    resources: ValueSet
    not_resource: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    # Every condition key the policy can read (in conditions and in policy variables), lower-cased: a decision
    # depends on the request only through its principal, action, resource and the values of these keys.
    context_keys: tuple[str, ...] = ()


# --- parsing ------------------------------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise MalformedPolicy(f"The policy contains the element {name!r} more than once in one object.")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise MalformedPolicy(NOT_JSON)


def _strings(raw: object, element: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str) for item in items):
        raise MalformedPolicy(f"The {element} element must be a string or a non-empty list of strings.")
    return [item for item in items if isinstance(item, str)]


def _principals(raw: object) -> Principals:
    if raw == "*":
        return Principals(True, frozenset(), frozenset(), frozenset(), frozenset(), False)
    if not isinstance(raw, dict) or not raw or not raw.keys() <= _PRINCIPAL_TYPES:
        raise MalformedPolicy(INVALID_PRINCIPALS)
    everyone = every_service = False
    accounts: set[str] = set()
    arns: set[str] = set()
    roles: set[tuple[str, str]] = set()
    services: set[str] = set()
    for kind, value in raw.items():
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, str) and item.strip() for item in items):
            raise MalformedPolicy(INVALID_PRINCIPALS)
        for item in (item.strip() for item in items if isinstance(item, str)):
            if kind == "AWS":
                iam = _IAM_ARN.fullmatch(item)
                if item == "*":
                    everyone = True
                elif _ACCOUNT.fullmatch(item):
                    accounts.add(item)
                elif iam is None or "*" in item or "?" in item:
                    raise MalformedPolicy(INVALID_PRINCIPALS)
                elif iam.group(2):
                    accounts.add(iam.group(1))
                else:
                    arns.add(item)
                    if iam.group(3):
                        roles.add((iam.group(1), iam.group(3)))
            elif kind == "Service":
                if item == "*":
                    every_service = True
                elif _SERVICE.fullmatch(item.lower()):
                    services.add(item.lower())
                else:
                    raise MalformedPolicy(INVALID_PRINCIPALS)
    return Principals(
        everyone, frozenset(accounts), frozenset(arns), frozenset(roles), frozenset(services), every_service
    )


def _pick(statement: dict[str, Any], name: str) -> tuple[object, bool] | None:
    """The element ``name`` or ``Not<name>``: (its value, negated), None when neither is present."""
    if name in statement and f"Not{name}" in statement:
        raise MalformedPolicy(f"A statement cannot contain both {name} and Not{name}.")
    if name in statement:
        return statement[name], False
    if f"Not{name}" in statement:
        return statement[f"Not{name}"], True
    return None


def _statement(raw: object, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy("Each statement must be a JSON object.")
    unknown = raw.keys() - _STATEMENT_ELEMENTS
    if unknown:
        raise MalformedPolicy(f"Policy statement contains an unknown element: {sorted(unknown)[0]}.")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicy("The Sid element must be a string.")
    effect = _EFFECTS.get(raw["Effect"]) if isinstance(raw.get("Effect"), str) else None
    if effect is None:
        raise MalformedPolicy("The Effect element of each statement must be Allow or Deny.")
    action = _pick(raw, "Action")
    if action is None:
        raise MalformedPolicy("Policy statement must contain actions.")
    actions = _strings(action[0], "Action")
    for name in actions:
        if name != "*" and not _ACTION.fullmatch(name):
            raise MalformedPolicy(VENDOR_MESSAGE)
    resource = _pick(raw, "Resource")
    if resource is None:
        raise MalformedPolicy("Policy statement must contain resources.")
    resources = _strings(resource[0], "Resource")
    for name in resources:
        if name != "*" and not name.startswith("arn:"):
            raise MalformedPolicy(f'Resource {name} must be in ARN format or "*".')
    principal = _pick(raw, "Principal")
    if kind is PolicyKind.IDENTITY and principal is not None:
        raise MalformedPolicy("Has prohibited field " + ("NotPrincipal." if principal[1] else "Principal."))
    if kind is PolicyKind.RESOURCE and principal is None:
        raise MalformedPolicy("Policy contains a statement with no principal.")
    return Statement(
        sid=sid,
        effect=effect,
        principals=None if principal is None else _principals(principal[0]),
        not_principal=principal is not None and principal[1],
        actions=ValueSet(actions, wildcards=True, fold=True, arn=False, variables=False),
        not_action=action[1],
        resources=ValueSet(resources, wildcards=True, fold=False, arn=False, variables=variables),
        not_resource=resource[1],
        conditions=parse_conditions(raw["Condition"], variables) if "Condition" in raw else (),
    )


def parse_policy(text: str, kind: PolicyKind) -> Policy:
    """Parse and compile a policy document; raise MalformedPolicy when it is not valid for ``kind``."""
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, TypeError, RecursionError) as exc:
        raise MalformedPolicy(NOT_JSON) from exc
    if not isinstance(document, dict):
        raise MalformedPolicy(NOT_JSON)
    unknown = document.keys() - _TOP_ELEMENTS
    if unknown:
        raise MalformedPolicy(f"Policy contains an unknown element: {sorted(unknown)[0]}.")
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicy(f"The policy Version must be {VERSIONS[0]} or {VERSIONS[1]}.")
    if "Id" in document and not isinstance(document["Id"], str):
        raise MalformedPolicy("The Id element must be a string.")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicy("The policy must contain a Statement with one or more statements.")
    parsed = tuple(_statement(statement, kind, version == VERSIONS[0]) for statement in statements)
    sids = [statement.sid for statement in parsed if statement.sid is not None]
    if len(sids) != len(set(sids)):
        raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
    keys = {condition.key for statement in parsed for condition in statement.conditions}
    if version == VERSIONS[0]:
        keys |= variable_keys(text)
    return Policy(parsed, tuple(sorted(keys)))


# --- evaluation ---------------------------------------------------------------------------------------------------


def _derived(principal: Principal) -> dict[str, ContextValue]:
    if principal.service is not None:
        return {"aws:principalisawsservice": True, "aws:principalservicename": principal.service}
    derived: dict[str, ContextValue] = {
        "aws:principalarn": principal.arn,
        "aws:principalaccount": principal.account_id,
        "aws:principalisawsservice": False,
    }
    user = _USER.fullmatch(principal.arn)
    if user is not None:
        derived["aws:username"] = user.group(1)
    return derived


def evaluate(policy: Policy, request: Request) -> Decision:
    """Decide ``request`` against one policy: DENY beats ALLOW beats NONE."""
    action = request.action.lower()
    resource = request.resource
    principal = request.principal
    ctx = Context(request.context, lambda: _derived(principal))
    denied: list[str] = []
    allowed: list[str] = []
    any_deny = any_allow = direct_allow = False
    for statement in policy.statements:
        if statement.actions.matches(action, ctx) is statement.not_action:
            continue
        if statement.resources.matches(resource, ctx) is statement.not_resource:
            continue
        how = _DIRECT
        if statement.principals is not None:
            how = _principal_match(statement.principals, principal)
            if statement.not_principal:
                how = _DIRECT if how == _NO_MATCH else _NO_MATCH
            if how == _NO_MATCH:
                continue
        if not all(condition.holds(ctx) for condition in statement.conditions):
            continue
        if statement.effect is Effect.DENY:
            any_deny = True
            if statement.sid is not None:
                denied.append(statement.sid)
        else:
            any_allow = True
            direct_allow = direct_allow or how == _DIRECT
            if statement.sid is not None:
                allowed.append(statement.sid)
    if any_deny:
        return Decision(Effect.DENY, False, tuple(denied))
    if any_allow:
        return Decision(Effect.ALLOW, not direct_allow, tuple(allowed))
    return Decision(Effect.NONE, False, ())


class DecisionCache:
    """``evaluate`` memoized: a decision is a pure function of the policy text, the principal, the action, the
    resource and the values of the condition keys the policy reads (``Policy.context_keys``), so those are the
    cache key. Nothing ever needs invalidating; a changed policy is a different text. The request's context keys
    must be lower-cased (as the authorizers build them), since the cache reads them without the engine's folding.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._entries: dict[tuple[object, ...], Decision] = {}

    def evaluate(self, text: str, policy: Policy, request: Request) -> Decision:
        context = request.context
        principal = request.principal
        values = tuple(context.get(key) for key in policy.context_keys)
        key = (text, principal.arn, principal.account_id, principal.service, request.action, request.resource, values)
        try:
            cached = self._entries.get(key)
        except TypeError:  # a list-valued key: not hashable, so not cached
            return evaluate(policy, request)
        if cached is None:
            cached = evaluate(policy, request)
            if len(self._entries) >= self._limit:
                self._entries = {}
            self._entries[key] = cached
        return cached


__all__ = [
    "INVALID_PRINCIPALS",
    "NOT_JSON",
    "Decision",
    "DecisionCache",
    "Effect",
    "MalformedPolicy",
    "Policy",
    "PolicyKind",
    "Principal",
    "Principals",
    "Request",
    "Statement",
    "evaluate",
    "parse_policy",
    "variable_keys",
]
