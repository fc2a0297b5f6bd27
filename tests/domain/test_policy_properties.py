"""Properties of the policy engine, checked with hypothesis: wildcard matching against a reference implementation,
Deny precedence, IfExists on absent keys, ForAllValues/ForAnyValue on empty sets, and negated operators."""

import fnmatch
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.domain.auth import Effect, PolicyKind, Principal, Request, evaluate, parse_policy
from keyhold.domain.auth.policy import DecisionCache

ACCT = "000000000000"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/k1"
CALLERS = [
    Principal(f"arn:aws:iam::{ACCT}:root", ACCT),
    Principal(f"arn:aws:iam::{ACCT}:user/alice", ACCT),
    Principal("arn:aws:iam::111122223333:user/carol", "111122223333"),
    Principal("ses.amazonaws.com", ACCT, "ses.amazonaws.com"),
]


def reference_match(pattern: str, value: str) -> bool:
    """IAM wildcards by way of fnmatch: '[' is escaped so that only '*' and '?' are special."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def allowed(statement: dict[str, Any], request: Request, version: str = "2012-10-17") -> bool:
    policy = parse_policy(json.dumps({"Version": version, "Statement": [statement]}), PolicyKind.RESOURCE)
    return evaluate(policy, request).effect is Effect.ALLOW


def request(context: dict[str, Any] | None = None, action: str = "kms:Encrypt", resource: str = KEY) -> Request:
    return Request(CALLERS[1], action, resource, context or {})


def condition_holds(operator: str, key: str, values: Any, context: dict[str, Any]) -> bool:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    return allowed({**statement, "Condition": {operator: {key: values}}}, request(context))


# Small alphabets make matches and near-misses both common; '$', '{', '}', '[', '.', '\\' check escaping.
pattern_text = st.text(alphabet="ab*?[].:${}\\", max_size=8)
value_text = st.text(alphabet="ab[].:${}\\*?", max_size=8)


@settings(max_examples=400, deadline=None)
@given(pattern_text, value_text)
def test_string_like_agrees_with_the_reference(pattern: str, value: str) -> None:
    expected = reference_match(pattern, value)
    # Version 2008-10-17: no policy variables, so '${' is plain text like in the reference.
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    statement["Condition"] = {"StringLike": {"my:key": pattern}}
    assert allowed(statement, request({"my:key": value}), version="2008-10-17") is expected
    negated = {**statement, "Condition": {"StringNotLike": {"my:key": pattern}}}
    assert allowed(negated, request({"my:key": value}), version="2008-10-17") is not expected


@settings(max_examples=300, deadline=None)
@given(pattern_text, value_text)
def test_resource_wildcards_agree_with_the_reference(pattern: str, value: str) -> None:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:" + pattern}
    expected = reference_match("arn:" + pattern, "arn:" + value)
    assert allowed(statement, request(resource="arn:" + value), version="2008-10-17") is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aAbB*?", max_size=6), st.text(alphabet="aAbB", max_size=6))
def test_action_wildcards_agree_with_the_reference_ignoring_case(pattern: str, name: str) -> None:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "kms:" + pattern, "Resource": "*"}
    expected = reference_match(pattern.lower(), name.lower())
    assert allowed(statement, request(action="kms:" + name)) is expected


# --- Deny precedence ----------------------------------------------------------------------------------------------

principal_elements = st.sampled_from(
    [
        "*",
        {"AWS": "*"},
        {"AWS": ACCT},
        {"AWS": CALLERS[1].arn},
        {"AWS": "111122223333"},
        {"Service": "ses.amazonaws.com"},
    ]
)
actions = st.sampled_from(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:Sign"])
action_elements = st.sampled_from(["kms:*", "*", "kms:Encrypt", "kms:Gen*", "kms:?ecrypt", ["kms:Decrypt", "kms:Sign"]])
conditions = st.sampled_from(
    [
        None,
        {"StringEquals": {"kms:CallerAccount": ACCT}},
        {"StringNotEquals": {"kms:EncryptionContext:dept": "it"}},
        {"Null": {"kms:EncryptionContext:dept": "true"}},
        {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["dept"]}},
    ]
)


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Deny"])),
        "Principal" if draw(st.booleans()) else "NotPrincipal": draw(principal_elements),
        "Action" if draw(st.booleans()) else "NotAction": draw(action_elements),
        "Resource": draw(st.sampled_from(["*", KEY, "arn:aws:kms:*:*:key/*", "arn:aws:kms:us-west-2:*"])),
    }
    condition = draw(conditions)
    if condition is not None:
        statement["Condition"] = condition
    return statement


contexts = st.fixed_dictionaries(
    {},
    optional={
        "kms:CallerAccount": st.sampled_from([ACCT, "111122223333"]),
        "kms:EncryptionContext:dept": st.sampled_from(["it", "hr"]),
        "kms:EncryptionContextKeys": st.lists(st.sampled_from(["dept", "team"]), max_size=2),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(statements(), max_size=5),
    st.sampled_from(CALLERS),
    actions,
    contexts,
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)
def test_a_matching_deny_always_wins(
    existing: list[dict[str, Any]], caller: Principal, action: str, context: dict[str, Any], at: int, upper: bool
) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*" if caller.service else {"AWS": caller.arn},
        "Action": action.upper() if upper else action,
        "Resource": KEY,
    }
    with_deny = [*existing[:at], deny, *existing[at:]]
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": with_deny}), PolicyKind.RESOURCE)
    decision = evaluate(policy, Request(caller, action, KEY, context))
    assert decision.effect is Effect.DENY
    assert decision.via_account is False
    # and the decision without it never depends on statement order
    if existing:
        forward = parse_policy(json.dumps({"Statement": existing}), PolicyKind.RESOURCE)
        backward = parse_policy(json.dumps({"Statement": existing[::-1]}), PolicyKind.RESOURCE)
        one, other = (evaluate(p, Request(caller, action, KEY, context)) for p in (forward, backward))
        assert (one.effect, one.via_account) == (other.effect, other.via_account)


# --- absent keys, empty sets, negation ----------------------------------------------------------------------------

# Every operator but Null, with policy values valid for it.
TYPED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **{
        op: st.lists(st.text(alphabet="ab*?", max_size=3), min_size=1, max_size=3)
        for op in [
            *("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
            *("StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"),
        ]
    },
    **{
        f"Numeric{cmp}": st.lists(st.integers(-5, 5), min_size=1, max_size=3)
        for cmp in ["Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"]
    },
    **{
        f"Date{cmp}": st.lists(st.sampled_from(["2024-01-01T00:00:00Z", 1700000000, "2030-06-01"]), min_size=1)
        for cmp in ["Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"]
    },
    "Bool": st.sampled_from(["true", "false", True, False]),
    "BinaryEquals": st.sampled_from(["QmluYXJ5", "AAAA"]),
    "IpAddress": st.sampled_from(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]),
    "NotIpAddress": st.sampled_from(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]),
}


@st.composite
def operators_with_values(draw: st.DrawFn) -> tuple[str, Any]:
    base = draw(st.sampled_from(sorted(TYPED_VALUES)))
    return base, draw(TYPED_VALUES[base])


qualifiers = st.sampled_from(["", "ForAnyValue:", "ForAllValues:"])
keys = st.sampled_from(["kms:EncryptionContext:dept", "kms:EncryptionContextKeys", "aws:SourceIp", "My:Key"])


@settings(max_examples=300, deadline=None)
@given(operators_with_values(), qualifiers, keys, st.sampled_from([None, []]))
def test_if_exists_on_an_absent_key_is_true(op: tuple[str, Any], qualifier: str, key: str, empty: Any) -> None:
    base, values = op
    absent: dict[str, Any] = {} if empty is None else {key: empty}
    assert condition_holds(f"{qualifier}{base}IfExists", key, values, absent) is True


@settings(max_examples=300, deadline=None)
@given(operators_with_values(), keys, st.sampled_from([None, []]))
def test_set_qualifiers_on_an_empty_set(op: tuple[str, Any], key: str, empty: Any) -> None:
    base, values = op
    absent: dict[str, Any] = {} if empty is None else {key: empty}
    assert condition_holds(f"ForAllValues:{base}", key, values, absent) is True
    assert condition_holds(f"ForAnyValue:{base}", key, values, absent) is False


NEGATIONS = [
    ("StringEquals", "StringNotEquals", st.text(alphabet="aAb*", max_size=3)),
    ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", st.text(alphabet="aAb*", max_size=3)),
    ("StringLike", "StringNotLike", st.text(alphabet="aAb*?", max_size=3)),
    (
        "ArnLike",
        "ArnNotLike",
        st.sampled_from(["arn:aws:iam::*:user/*", "arn:aws:s3:::b/*", "*", "arn:aws:iam::1:root"]),
    ),
    ("NumericEquals", "NumericNotEquals", st.integers(-3, 3)),
    ("DateEquals", "DateNotEquals", st.sampled_from(["2024-01-01T00:00:00Z", 1704067200, 0])),
    ("IpAddress", "NotIpAddress", st.sampled_from(["10.0.0.0/8", "10.1.2.3", "::1"])),
]
request_values = st.one_of(
    st.text(alphabet="aAb*", max_size=3),
    st.integers(-3, 3),
    st.sampled_from(
        ["arn:aws:iam::1:user/x", "arn:aws:s3:::b/k", "10.1.2.3", "::1", "2024-01-01T00:00:00Z", "1704067200"]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(NEGATIONS), st.one_of(st.none(), request_values))
def test_negated_operators_negate_for_single_values(data: st.DataObject, pair: Any, present: Any) -> None:
    positive, negative, value_strategy = pair
    values = data.draw(st.lists(value_strategy, min_size=1, max_size=3))
    context = {} if present is None else {"my:key": present}
    assert condition_holds(negative, "my:key", values, context) is not condition_holds(
        positive, "my:key", values, context
    )


# --- the decision cache -------------------------------------------------------------------------------------------

SHARED_CACHE = DecisionCache(limit=64)  # shared by every example, and small, so entries are reused and evicted
variable_statements = st.sampled_from(
    [
        {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "arn:aws:kms:*:${aws:PrincipalAccount}:*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "arn:aws:kms:*:*:key/${kms:CallerAccount}"},
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Encrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "${kms:CallerAccount, 'it'}"}},
        },
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(statements(), variable_statements), min_size=1, max_size=4),
    st.sampled_from(CALLERS),
    actions,
    contexts,
    st.sampled_from([KEY, "arn:aws:kms:us-east-1:111122223333:key/000000000000"]),
)
def test_cached_decisions_equal_fresh_ones(
    policy_statements: list[dict[str, Any]], caller: Principal, action: str, context: dict[str, Any], resource: str
) -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": policy_statements})
    policy = parse_policy(text, PolicyKind.RESOURCE)
    lowered = {name.lower(): tuple(v) if isinstance(v, list) else v for name, v in context.items()}
    request = Request(caller, action, resource, lowered)
    fresh = evaluate(policy, request)
    assert SHARED_CACHE.evaluate(text, policy, request) == fresh
    assert SHARED_CACHE.evaluate(text, policy, request) == fresh  # and again, from the cache
