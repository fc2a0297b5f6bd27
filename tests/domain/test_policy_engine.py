"""The policy engine (keyhold.domain.auth): parsing, principal/action/resource matching, every condition operator
with its IfExists and set-qualifier forms, policy variables, the SES key-policy statement of issue 3, and the
documents that must be refused. Pure functions: no server, no storage."""

import json
import time
from typing import Any

import pytest

from keyhold.domain.auth import (
    Decision,
    Effect,
    MalformedPolicy,
    Policy,
    PolicyKind,
    Principal,
    Request,
    evaluate,
    parse_policy,
)
from keyhold.errors import InvalidInput

ACCT = "000000000000"
OTHER = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT = Principal(f"arn:aws:iam::{ACCT}:root", ACCT)
ALICE = Principal(f"arn:aws:iam::{ACCT}:user/alice", ACCT)
BOB = Principal(f"arn:aws:iam::{ACCT}:user/team/bob", ACCT)
CAROL = Principal(f"arn:aws:iam::{OTHER}:user/carol", OTHER)
OTHER_ROOT = Principal(f"arn:aws:iam::{OTHER}:root", OTHER)
SES = Principal("ses.amazonaws.com", ACCT, "ses.amazonaws.com")
S3 = Principal("s3.amazonaws.com", ACCT, "s3.amazonaws.com")
DEPLOYER = Principal(f"arn:aws:sts::{ACCT}:assumed-role/deployer/session-1", ACCT)
AUDITOR = Principal(f"arn:aws:sts::{ACCT}:assumed-role/auditor/session-1", ACCT)

ALLOW = (Effect.ALLOW, False)
VIA_ACCOUNT = (Effect.ALLOW, True)
NONE = (Effect.NONE, False)
DENY = (Effect.DENY, False)


def stmt(effect: str = "Allow", principal: Any = "*", **elements: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, "Action": "kms:*", "Resource": "*"}
    if principal is not None:
        statement["Principal"] = principal
    statement.update(elements)
    return statement


def compile_policy(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.RESOURCE, **top: Any) -> Policy:
    document: dict[str, Any] = {"Version": "2012-10-17", **top, "Statement": list(statements)}
    if document["Version"] is None:
        del document["Version"]
    return parse_policy(json.dumps(document), kind)


def decide(
    policy: Policy,
    principal: Principal = ALICE,
    action: str = "kms:Encrypt",
    resource: str = KEY,
    context: dict[str, Any] | None = None,
) -> Decision:
    return evaluate(policy, Request(principal, action, resource, context or {}))


def outcome(decision: Decision) -> tuple[Effect, bool]:
    return decision.effect, decision.via_account


# --- principals ---------------------------------------------------------------------------------------------------

ACCOUNT_ROOT_ARN = f"arn:aws:iam::{ACCT}:root"
PRINCIPAL_MATRIX = [
    # (Principal element, caller, (effect, via_account))
    ("*", ALICE, ALLOW),
    ("*", SES, ALLOW),
    ("*", CAROL, ALLOW),
    ({"AWS": "*"}, ALICE, ALLOW),
    ({"AWS": "*"}, SES, ALLOW),
    ({"AWS": "*"}, OTHER_ROOT, ALLOW),
    ({"AWS": ACCT}, ALICE, VIA_ACCOUNT),
    ({"AWS": ACCT}, ROOT, VIA_ACCOUNT),
    ({"AWS": ACCT}, DEPLOYER, VIA_ACCOUNT),
    ({"AWS": ACCT}, CAROL, NONE),
    ({"AWS": ACCT}, SES, NONE),
    ({"AWS": ACCOUNT_ROOT_ARN}, BOB, VIA_ACCOUNT),
    ({"AWS": ACCOUNT_ROOT_ARN}, ROOT, VIA_ACCOUNT),
    ({"AWS": ACCOUNT_ROOT_ARN}, OTHER_ROOT, NONE),
    ({"AWS": ACCOUNT_ROOT_ARN}, SES, NONE),
    ({"AWS": ALICE.arn}, ALICE, ALLOW),
    ({"AWS": ALICE.arn}, BOB, NONE),
    ({"AWS": ALICE.arn}, ROOT, NONE),
    ({"AWS": BOB.arn}, BOB, ALLOW),
    ({"AWS": [ACCT, ALICE.arn]}, ALICE, ALLOW),
    ({"AWS": [ACCT, ALICE.arn]}, BOB, VIA_ACCOUNT),
    ({"AWS": [OTHER, ALICE.arn]}, CAROL, VIA_ACCOUNT),
    ({"AWS": f"arn:aws:iam::{ACCT}:role/deployer"}, DEPLOYER, ALLOW),
    ({"AWS": f"arn:aws:iam::{ACCT}:role/ci/deployer"}, DEPLOYER, ALLOW),
    ({"AWS": f"arn:aws:iam::{ACCT}:role/deployer"}, AUDITOR, NONE),
    ({"AWS": f"arn:aws:iam::{OTHER}:role/deployer"}, DEPLOYER, NONE),
    ({"AWS": DEPLOYER.arn}, DEPLOYER, ALLOW),
    ({"Service": "ses.amazonaws.com"}, SES, ALLOW),
    ({"Service": "SES.amazonaws.com"}, SES, ALLOW),
    ({"Service": "ses.amazonaws.com"}, S3, NONE),
    ({"Service": "ses.amazonaws.com"}, ALICE, NONE),
    ({"Service": ["s3.amazonaws.com", "ses.amazonaws.com"]}, S3, ALLOW),
    ({"Service": "*"}, S3, ALLOW),
    ({"Service": "*"}, ALICE, NONE),
    ({"AWS": ACCT, "Service": "ses.amazonaws.com"}, SES, ALLOW),
    ({"AWS": ACCT, "Service": "ses.amazonaws.com"}, ALICE, VIA_ACCOUNT),
    ({"Federated": "cognito-identity.amazonaws.com"}, ALICE, NONE),
    ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, ROOT, NONE),
]


@pytest.mark.parametrize(("element", "caller", "expected"), PRINCIPAL_MATRIX)
def test_principal_matrix(element: Any, caller: Principal, expected: tuple[Effect, bool]) -> None:
    assert outcome(decide(compile_policy(stmt(principal=element)), caller)) == expected


NOT_PRINCIPAL_MATRIX = [
    ({"AWS": ALICE.arn}, ALICE, VIA_ACCOUNT),  # excluded from the Deny, allowed by the account statement
    ({"AWS": ALICE.arn}, BOB, DENY),
    ({"AWS": ALICE.arn}, SES, DENY),
    ({"AWS": ACCT}, BOB, VIA_ACCOUNT),
    ({"AWS": ACCT}, CAROL, DENY),
    ({"Service": "ses.amazonaws.com"}, SES, NONE),  # not denied, and the account statement does not cover SES
    ({"Service": "ses.amazonaws.com"}, ALICE, DENY),
    ("*", ALICE, VIA_ACCOUNT),
]


@pytest.mark.parametrize(("excluded", "caller", "expected"), NOT_PRINCIPAL_MATRIX)
def test_not_principal_denies_everyone_else(excluded: Any, caller: Principal, expected: tuple[Effect, bool]) -> None:
    policy = compile_policy(
        stmt(principal={"AWS": [ACCT, OTHER]}),
        {"Effect": "Deny", "NotPrincipal": excluded, "Action": "kms:*", "Resource": "*"},
    )
    assert outcome(decide(policy, caller)) == expected


def test_via_account_only_when_every_applying_allow_names_the_account() -> None:
    account = stmt(Sid="Account", principal={"AWS": ACCOUNT_ROOT_ARN})
    alice = stmt(Sid="Alice", principal={"AWS": ALICE.arn}, Action="kms:Encrypt")
    policy = compile_policy(account, alice)
    both = decide(policy, ALICE, "kms:Encrypt")
    assert both == Decision(Effect.ALLOW, False, ("Account", "Alice"))
    assert decide(policy, ALICE, "kms:Decrypt") == Decision(Effect.ALLOW, True, ("Account",))
    assert decide(policy, BOB, "kms:Encrypt") == Decision(Effect.ALLOW, True, ("Account",))


# --- effects, actions, resources ----------------------------------------------------------------------------------


@pytest.mark.parametrize("deny_first", [True, False])
def test_explicit_deny_wins_whatever_the_order(deny_first: bool) -> None:
    allow = stmt(Sid="AllowAll")
    deny = stmt("Deny", {"AWS": ALICE.arn}, Sid="DenyAliceDecrypt", Action="kms:Decrypt")
    policy = compile_policy(*([deny, allow] if deny_first else [allow, deny]))
    assert decide(policy, ALICE, "kms:Decrypt") == Decision(Effect.DENY, False, ("DenyAliceDecrypt",))
    assert decide(policy, ALICE, "kms:Encrypt") == Decision(Effect.ALLOW, False, ("AllowAll",))
    assert decide(policy, BOB, "kms:Decrypt") == Decision(Effect.ALLOW, False, ("AllowAll",))


def test_no_applying_statement_is_none_and_unnamed_statements_leave_no_sid() -> None:
    policy = compile_policy(stmt(Action="kms:Decrypt"), stmt("Deny", Action="kms:Sign"))
    assert decide(policy, action="kms:Encrypt") == Decision(Effect.NONE, False, ())
    assert decide(policy, action="kms:Decrypt") == Decision(Effect.ALLOW, False, ())
    assert decide(policy, action="kms:Sign") == Decision(Effect.DENY, False, ())


ACTION_MATRIX = [
    # (Action element, requested action, applies)
    ("kms:Encrypt", "kms:Encrypt", True),
    ("kms:Encrypt", "kms:encrypt", True),
    ("KMS:ENCRYPT", "kms:Encrypt", True),
    ("kms:Encrypt", "kms:Decrypt", False),
    ("kms:Encrypt", "kms:EncryptX", False),
    ("kms:*", "kms:Decrypt", True),
    ("kms:*", "s3:GetObject", False),
    ("*", "s3:GetObject", True),
    ("kms:GenerateDataKey*", "kms:GenerateDataKey", True),
    ("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", True),
    ("kms:GenerateDataKey*", "kms:GenerateMac", False),
    ("kms:generatedatakey*", "kms:GenerateDataKeyPair", True),
    ("kms:?ncrypt", "kms:Encrypt", True),
    ("kms:?ncrypt", "kms:ReEncrypt", False),
    ("kms:*crypt", "kms:ReEncrypt", True),
    ("kms:Re*", "kms:ReEncryptFrom", True),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Decrypt", True),
    (["kms:Encrypt", "kms:Decrypt"], "kms:Sign", False),
    ("kms:Describe.*", "kms:DescribeKey", False),  # '.' is literal, not a regex
]


@pytest.mark.parametrize(("element", "action", "applies"), ACTION_MATRIX)
def test_action_matching(element: Any, action: str, applies: bool) -> None:
    assert decide(compile_policy(stmt(Action=element)), action=action).effect is (
        Effect.ALLOW if applies else Effect.NONE
    )


@pytest.mark.parametrize(("element", "action", "applies"), ACTION_MATRIX)
def test_not_action_is_every_other_action(element: Any, action: str, applies: bool) -> None:
    statement = stmt()
    del statement["Action"]
    statement["NotAction"] = element
    expected = Effect.NONE if applies else Effect.ALLOW
    assert decide(compile_policy(statement), action=action).effect is expected


RESOURCE_MATRIX = [
    ("*", KEY, True),
    (KEY, KEY, True),
    (KEY.upper().replace("ARN:AWS:KMS", "arn:aws:kms"), KEY, False),  # resources are case-sensitive
    (f"arn:aws:kms:*:{ACCT}:key/*", KEY, True),
    (f"arn:aws:kms:*:{OTHER}:key/*", KEY, False),
    ("arn:aws:kms:us-east-1:*", KEY, True),
    (f"arn:aws:kms:us-east-?:{ACCT}:key/*", KEY, True),
    (f"arn:aws:kms:us-east-1:{ACCT}:alias/*", KEY, False),
    ([f"arn:aws:kms:us-west-2:{ACCT}:key/*", KEY], KEY, True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
]


@pytest.mark.parametrize(("element", "resource", "applies"), RESOURCE_MATRIX)
def test_resource_and_not_resource(element: Any, resource: str, applies: bool) -> None:
    assert decide(compile_policy(stmt(Resource=element)), resource=resource).effect is (
        Effect.ALLOW if applies else Effect.NONE
    )
    statement = stmt()
    del statement["Resource"]
    statement["NotResource"] = element
    assert decide(compile_policy(statement), resource=resource).effect is (Effect.NONE if applies else Effect.ALLOW)


def test_identity_policies_have_no_principal_and_apply_to_the_caller() -> None:
    policy = compile_policy(stmt(principal=None, Action="kms:Encrypt"), kind=PolicyKind.IDENTITY)
    for caller in (ALICE, ROOT, SES):
        assert outcome(decide(policy, caller)) == ALLOW
    assert outcome(decide(policy, ALICE, "kms:Decrypt")) == NONE


# --- conditions ---------------------------------------------------------------------------------------------------

ABSENT = object()


def holds(operator: str, key: str, values: Any, present: Any = ABSENT, *, version: str = "2012-10-17") -> bool:
    """Whether a lone Allow statement with this one condition applies to a request with ``{key: present}``."""
    policy = compile_policy(stmt(Condition={operator: {key: values}}), Version=version)
    context = {} if present is ABSENT else {key: present}
    effect = decide(policy, context=context).effect
    assert effect is not Effect.DENY
    return effect is Effect.ALLOW


K = "kms:EncryptionContext:dept"
KEYS = "kms:EncryptionContextKeys"
OPERATOR_MATRIX = [
    # (operator, key, policy values, request value or ABSENT, expected)
    ("StringEquals", K, "a", "a", True),
    ("StringEquals", K, "a", "A", False),
    ("StringEquals", K, "a", ABSENT, False),
    ("StringEquals", K, ["a", "b"], "b", True),
    ("StringEquals", K, "a*", "abc", False),
    ("StringEquals", K, 12, "12", True),
    ("StringEquals", K, True, "true", True),
    ("StringNotEquals", K, "a", "a", False),
    ("StringNotEquals", K, "a", "c", True),
    ("StringNotEquals", K, "a", ABSENT, True),  # AWS: a negated operator on an absent key is true
    ("StringNotEquals", K, ["a", "b"], "b", False),  # values NORed
    ("StringNotEquals", K, ["a", "b"], "c", True),
    ("StringEqualsIgnoreCase", K, "AbC", "aBc", True),
    ("StringEqualsIgnoreCase", K, "AbC", "abd", False),
    ("StringNotEqualsIgnoreCase", K, "AbC", "aBc", False),
    ("StringNotEqualsIgnoreCase", K, "AbC", "x", True),
    ("StringLike", K, "a*c", "abbc", True),
    ("StringLike", K, "a?c", "abc", True),
    ("StringLike", K, "a?c", "abbc", False),
    ("StringLike", K, "A*", "abc", False),
    ("StringLike", K, "*", "", True),
    ("StringLike", K, "a.c", "abc", False),
    ("StringNotLike", K, "a*", "abc", False),
    ("StringNotLike", K, ["x*", "b*"], "abc", True),
    ("StringNotLike", K, "a*", ABSENT, True),
    ("NumericEquals", "kms:RotationPeriodInDays", 90, "90", True),
    ("NumericEquals", "kms:RotationPeriodInDays", "90", 90, True),
    ("NumericEquals", "kms:RotationPeriodInDays", "90", "90.0", True),
    ("NumericEquals", "kms:RotationPeriodInDays", "90", "abc", False),
    ("NumericNotEquals", "kms:RotationPeriodInDays", "90", 91, True),
    ("NumericNotEquals", "kms:RotationPeriodInDays", "90", 90, False),
    ("NumericLessThan", "kms:RotationPeriodInDays", "10", 9, True),
    ("NumericLessThan", "kms:RotationPeriodInDays", "10", 10, False),
    ("NumericLessThanEquals", "kms:RotationPeriodInDays", "10", 10, True),
    ("NumericLessThanEquals", "kms:RotationPeriodInDays", "10", 10.5, False),
    ("NumericGreaterThan", "kms:RotationPeriodInDays", "10", 11, True),
    ("NumericGreaterThan", "kms:RotationPeriodInDays", "10", 10, False),
    ("NumericGreaterThanEquals", "kms:RotationPeriodInDays", "10", 10, True),
    ("NumericGreaterThanEquals", "kms:RotationPeriodInDays", "10", 9, False),
    ("NumericLessThan", "kms:RotationPeriodInDays", "10", ABSENT, False),
    ("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", "2025-06-01T12:00:00Z", True),
    ("DateLessThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", "2025-06-01T12:00:00Z", False),
    ("DateGreaterThan", "aws:CurrentTime", 1700000000, "2024-01-01T00:00:00Z", True),
    ("DateEquals", "aws:CurrentTime", "2024-01-01T00:00:00Z", 1704067200, True),
    ("DateEquals", "aws:CurrentTime", "2024-01-01", "2024-01-01T00:00:00Z", True),
    ("DateEquals", "aws:CurrentTime", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", True),
    ("DateNotEquals", "aws:CurrentTime", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", True),
    ("DateLessThanEquals", "aws:CurrentTime", "2024-01-01T00:00:00Z", "1704067200", True),
    ("DateGreaterThanEquals", "aws:CurrentTime", "2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z", False),
    ("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", "not a date", False),
    ("Bool", "aws:SecureTransport", "true", True, True),
    ("Bool", "aws:SecureTransport", "true", "true", True),
    ("Bool", "aws:SecureTransport", True, "TRUE", True),
    ("Bool", "aws:SecureTransport", "false", True, False),
    ("Bool", "aws:SecureTransport", "false", False, True),
    ("Bool", "aws:SecureTransport", "true", ABSENT, False),
    ("BinaryEquals", "my:blob", "QmluYXJ5", "QmluYXJ5", True),
    ("BinaryEquals", "my:blob", "QmluYXJ5", "QmluYXJ6", False),
    ("BinaryEquals", "my:blob", "QmluYXJ5", "not base64!", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "198.51.100.1", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", "203.0.113.7", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "nope", False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", "10.1.2.3", False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", "192.168.0.1", True),
    ("ArnEquals", "aws:SourceArn", ALICE.arn, ALICE.arn, True),
    ("ArnEquals", "aws:SourceArn", ALICE.arn, BOB.arn, False),
    ("ArnEquals", "aws:SourceArn", "arn:aws:iam::*:user/*", ALICE.arn, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::*:user/*", BOB.arn, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::*:user/*", DEPLOYER.arn, False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b", True),
    # a wildcard in one of the first five components does not cross a ':' ...
    ("ArnLike", "aws:SourceArn", f"arn:*:kms:us-east-1:{ACCT}:key/k", f"arn:aws:x:kms:us-east-1:{ACCT}:key/k", False),
    ("ArnLike", "aws:SourceArn", f"arn:*:kms:us-east-1:{ACCT}:key/k", f"arn:aws:kms:us-east-1:{ACCT}:key/k", True),
    # ... while StringLike matches the whole string
    ("StringLike", "aws:SourceArn", f"arn:*:kms:us-east-1:{ACCT}:key/k", f"arn:aws:x:kms:us-east-1:{ACCT}:key/k", True),
    ("ArnLike", "aws:SourceArn", "*", "anything at all", True),
    ("ArnNotEquals", "aws:SourceArn", ALICE.arn, BOB.arn, True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:user/*", ALICE.arn, False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:user/*", ABSENT, True),
    ("Null", K, "true", ABSENT, True),
    ("Null", K, "true", "x", False),
    ("Null", K, False, "x", True),
    ("Null", K, "false", ABSENT, False),
    ("Null", K, "true", None, True),
    ("Null", KEYS, "true", [], True),
    ("Null", KEYS, "false", ["a"], True),
    ("Null", K, "true", "", False),
    ("StringEqualsIfExists", K, "a", ABSENT, True),
    ("StringEqualsIfExists", K, "a", "b", False),
    ("StringEqualsIfExists", K, "a", "a", True),
    ("StringNotEqualsIfExists", K, "a", "a", False),
    ("NumericLessThanIfExists", "kms:RotationPeriodInDays", "10", ABSENT, True),
    ("NumericLessThanIfExists", "kms:RotationPeriodInDays", "10", 11, False),
    ("BoolIfExists", "aws:SecureTransport", "true", ABSENT, True),
    ("BoolIfExists", "aws:SecureTransport", "true", False, False),
    ("IpAddressIfExists", "aws:SourceIp", "10.0.0.0/8", ABSENT, True),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:iam::*:user/*", ABSENT, True),
    ("DateGreaterThanIfExists", "aws:CurrentTime", "2020-01-01T00:00:00Z", ABSENT, True),
    ("BinaryEqualsIfExists", "my:blob", "QmluYXJ5", ABSENT, True),
    # set qualifiers on the multi-valued kms:EncryptionContextKeys
    ("ForAnyValue:StringEquals", KEYS, ["a", "b"], ["b", "c"], True),
    ("ForAnyValue:StringEquals", KEYS, ["a", "b"], ["c"], False),
    ("ForAnyValue:StringEquals", KEYS, ["a", "b"], ABSENT, False),
    ("ForAnyValue:StringEquals", KEYS, ["a", "b"], [], False),
    ("ForAllValues:StringEquals", KEYS, ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", KEYS, ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", KEYS, ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", KEYS, ["a", "b"], ABSENT, True),  # AWS's gotcha
    ("ForAllValues:StringEquals", KEYS, ["a", "b"], [], True),
    ("ForAllValues:StringLike", KEYS, "aws:ses:*", ["aws:ses:rule-name", "aws:ses:message-id"], True),
    ("ForAllValues:StringLike", KEYS, "aws:ses:*", ["aws:ses:rule-name", "other"], False),
    # AWS's documented table for ForAllValues:StringNotLike {"aws:TagKeys": "key1*"}
    ("ForAllValues:StringNotLike", KEYS, "key1*", ["key1:legal"], False),
    ("ForAllValues:StringNotLike", KEYS, "key1*", ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", KEYS, "key1*", ["key2:audit"], True),
    ("ForAllValues:StringNotLike", KEYS, "key1*", ABSENT, True),
    ("ForAnyValue:StringNotEquals", KEYS, "a", ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", KEYS, "a", ["a"], False),
    ("ForAnyValue:StringNotEquals", KEYS, "a", ABSENT, False),
    ("ForAnyValue:StringEqualsIfExists", KEYS, "a", ABSENT, True),
    ("ForAllValues:StringEqualsIgnoreCase", KEYS, ["A", "B"], ["a", "b"], True),
    ("ForAnyValue:NumericGreaterThan", "my:numbers", "5", ["1", "7"], True),
    ("ForAllValues:NumericGreaterThan", "my:numbers", "5", ["1", "7"], False),
    # a single value under a qualifier is a set of one
    ("ForAllValues:StringEquals", K, "a", "a", True),
    ("ForAllValues:StringEquals", K, "a", "b", False),
    ("ForAnyValue:StringEquals", K, "a", "a", True),
    # a multi-valued key without a qualifier: any value matches; a negated operator: none matches
    ("StringEquals", KEYS, "a", ["a", "b"], True),
    ("StringEquals", KEYS, "a", ["b", "c"], False),
    ("StringNotEquals", KEYS, "a", ["a", "b"], False),
    ("StringNotEquals", KEYS, "a", ["b", "c"], True),
    ("StringEquals", KEYS, "a", [], False),
]


@pytest.mark.parametrize(("operator", "key", "values", "present", "expected"), OPERATOR_MATRIX)
def test_condition_operators(operator: str, key: str, values: Any, present: Any, expected: bool) -> None:
    assert holds(operator, key, values, present) is expected


def test_dates_without_a_zone_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert holds("DateEquals", "aws:CurrentTime", "2024-01-01T00:00:00", "2024-01-01T00:00:00Z") is True
        assert holds("DateEquals", "aws:CurrentTime", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00") is True
    finally:
        monkeypatch.undo()
        time.tzset()


def test_condition_key_names_are_case_insensitive_and_values_are_not() -> None:
    policy = compile_policy(stmt(Condition={"StringEquals": {"KMS:EncryptionContext:Department": "IT"}}))
    assert decide(policy, context={"kms:encryptioncontext:department": "IT"}).effect is Effect.ALLOW
    assert decide(policy, context={"kms:EncryptionContext:DEPARTMENT": "IT"}).effect is Effect.ALLOW
    assert decide(policy, context={"kms:EncryptionContext:Department": "it"}).effect is Effect.NONE


def test_keys_and_operators_are_anded_values_ored() -> None:
    condition = {
        "StringEquals": {"kms:CallerAccount": ACCT, "kms:ViaService": ["s3.us-east-1.amazonaws.com", "ses.x"]},
        "Bool": {"aws:SecureTransport": "true"},
    }
    policy = compile_policy(stmt(Condition=condition))
    good = {"kms:CallerAccount": ACCT, "kms:ViaService": "ses.x", "aws:SecureTransport": True}
    assert decide(policy, context=good).effect is Effect.ALLOW
    for key, wrong in [("kms:CallerAccount", OTHER), ("kms:ViaService", "ec2.x"), ("aws:SecureTransport", False)]:
        assert decide(policy, context={**good, key: wrong}).effect is Effect.NONE, key
        assert decide(policy, context={k: v for k, v in good.items() if k != key}).effect is Effect.NONE, key


def test_principal_keys_are_derived_when_the_context_lacks_them() -> None:
    assert holds("StringEquals", "aws:PrincipalArn", ALICE.arn) is True
    assert holds("StringEquals", "aws:PrincipalAccount", ACCT) is True
    assert holds("StringEquals", "aws:username", "alice") is True
    assert holds("Bool", "aws:PrincipalIsAWSService", "false") is True
    policy = compile_policy(stmt(Condition={"Bool": {"aws:PrincipalIsAWSService": "true"}}))
    assert decide(policy, SES).effect is Effect.ALLOW
    assert decide(policy, ALICE).effect is Effect.NONE
    arn = compile_policy(stmt(Condition={"StringEquals": {"aws:PrincipalArn": ALICE.arn}}))
    assert decide(arn, SES).effect is Effect.NONE  # service principals have no aws:PrincipalArn
    assert decide(arn, BOB, context={"aws:PrincipalArn": ALICE.arn}).effect is Effect.ALLOW  # the context wins


def test_deny_everyone_but_aws_services_with_principal_star() -> None:
    """The resource-control-policy idiom: Principal "*" covers services, so they are exempted by a condition."""
    deny = stmt("Deny", Condition={"BoolIfExists": {"aws:PrincipalIsAWSService": "false"}})
    policy = compile_policy(stmt(), deny)
    assert outcome(decide(policy, ALICE)) == DENY
    assert outcome(decide(policy, SES)) == ALLOW


# --- policy variables ---------------------------------------------------------------------------------------------

VARIABLE_MATRIX = [
    ("StringEquals", "${aws:username}", "alice", {}, True),
    ("StringEquals", "${aws:username}", "bob", {}, False),
    ("StringLike", "home/${aws:username}/*", "home/alice/x", {}, True),
    ("StringLike", "home/${aws:username}/*", "home/bob/x", {}, False),
    ("StringEquals", "${aws:userid}", "AIDAEXAMPLE", {"aws:userid": "AIDAEXAMPLE"}, True),
    ("StringEquals", "${aws:userid}", "${aws:userid}", {}, False),  # unresolved: matches nothing
    ("StringEquals", "${aws:userid, 'nobody'}", "nobody", {}, True),
    ("StringEquals", "${aws:userid, 'it''s'}", "it's", {}, True),
    ("StringEquals", "${aws:PrincipalAccount}", ACCT, {}, True),
    ("StringEquals", "a${*}", "a*", {}, True),
    ("StringLike", "a${*}", "ab", {}, False),
    ("StringLike", "a${*}", "a*", {}, True),
    ("StringLike", "a${?}", "a?", {}, True),
    ("StringEquals", "cost${$}", "cost$", {}, True),
    # a substituted value is literal text, never a wildcard
    ("StringLike", "x/${my:key}", "x/abc", {"my:key": "a*"}, False),
    ("StringLike", "x/${my:key}", "x/a*", {"my:key": "a*"}, True),
    ("StringEqualsIgnoreCase", "${aws:username}", "ALICE", {}, True),
    ("StringEqualsIgnoreCase", "${my:name}", "mixed", {"my:name": "MiXeD"}, True),
    ("StringEquals", "${my:name}", "mixed", {"my:name": "MiXeD"}, False),
    ("StringEquals", "${my:names}", "a", {"my:names": ["a"]}, False),  # multi-valued keys are no variables
    ("StringEquals", "${my:names, 'none'}", "none", {"my:names": ["a"]}, True),
    ("StringEquals", "${aws:SecureTransport}", "true", {"aws:SecureTransport": True}, True),
    ("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:user/*", BOB.arn, {}, True),
    ("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:user/*", CAROL.arn, {}, False),
]


@pytest.mark.parametrize(("operator", "value", "present", "extra", "expected"), VARIABLE_MATRIX)
def test_policy_variables_in_conditions(
    operator: str, value: str, present: str, extra: dict[str, str], expected: bool
) -> None:
    policy = compile_policy(stmt(Condition={operator: {"my:subject": value}}))
    decision = decide(policy, ALICE, context={"my:subject": present, **extra})
    assert decision.effect is (Effect.ALLOW if expected else Effect.NONE)


def test_policy_variables_in_resources_and_only_in_version_2012() -> None:
    statement = stmt(principal=None, Action="s3:GetObject", Resource="arn:aws:s3:::home/${aws:username}/*")
    modern = compile_policy(statement, kind=PolicyKind.IDENTITY)
    assert decide(modern, ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes").effect is Effect.ALLOW
    assert decide(modern, ALICE, "s3:GetObject", "arn:aws:s3:::home/bob/notes").effect is Effect.NONE
    assert decide(modern, ROOT, "s3:GetObject", "arn:aws:s3:::home/root/notes").effect is Effect.NONE
    for version in ("2008-10-17", None):
        legacy = compile_policy(statement, kind=PolicyKind.IDENTITY, Version=version)
        assert decide(legacy, ALICE, "s3:GetObject", "arn:aws:s3:::home/alice/notes").effect is Effect.NONE
        literal = "arn:aws:s3:::home/${aws:username}/notes"
        assert decide(legacy, ALICE, "s3:GetObject", literal).effect is Effect.ALLOW
    assert holds("StringEquals", "my:subject", "${aws:username}", "alice", version="2008-10-17") is False
    assert holds("StringEquals", "my:subject", "${aws:username}", "${aws:username}", version="2008-10-17") is True


# --- the SES statement of issue 3 ---------------------------------------------------------------------------------

SES_STATEMENT = {
    "Sid": "Allow SES to encrypt messages using this CMK",
    "Effect": "Allow",
    "Principal": {"Service": "ses.amazonaws.com"},
    "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {
        "Null": {
            "kms:EncryptionContext:aws:ses:rule-name": False,
            "kms:EncryptionContext:aws:ses:message-id": False,
        },
        "StringEquals": {"kms:EncryptionContext:aws:ses:source-account": "000000000000"},
    },
}
SES_CONTEXT = {
    "kms:EncryptionContext:aws:ses:rule-name": "store-to-s3",
    "kms:EncryptionContext:aws:ses:message-id": "0100018c-example",
    "kms:EncryptionContext:aws:ses:source-account": "000000000000",
    "kms:EncryptionContextKeys": ["aws:ses:rule-name", "aws:ses:message-id", "aws:ses:source-account"],
}


def ses_policy() -> Policy:
    default = {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ACCOUNT_ROOT_ARN}}
    return compile_policy({**default, "Action": "kms:*", "Resource": "*"}, SES_STATEMENT)


@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"])
def test_ses_statement_allows_with_all_three_context_keys(action: str) -> None:
    decision = decide(ses_policy(), SES, action, context=SES_CONTEXT)
    assert decision == Decision(Effect.ALLOW, False, ("Allow SES to encrypt messages using this CMK",))


@pytest.mark.parametrize(
    "change",
    [
        {"kms:EncryptionContext:aws:ses:rule-name": None},
        {"kms:EncryptionContext:aws:ses:message-id": None},
        {"kms:EncryptionContext:aws:ses:source-account": OTHER},
        {"kms:EncryptionContext:aws:ses:source-account": None},
    ],
    ids=["no-rule-name", "no-message-id", "wrong-source-account", "no-source-account"],
)
def test_ses_statement_gives_nothing_without_a_key_or_with_a_wrong_account(change: dict[str, Any]) -> None:
    context = {k: v for k, v in {**SES_CONTEXT, **change}.items() if v is not None}
    assert decide(ses_policy(), SES, "kms:GenerateDataKey", context=context) == Decision(Effect.NONE, False, ())


def test_ses_statement_is_only_for_ses_and_only_for_its_actions() -> None:
    assert decide(ses_policy(), SES, "kms:Decrypt", context=SES_CONTEXT).effect is Effect.NONE
    assert decide(ses_policy(), S3, "kms:GenerateDataKey", context=SES_CONTEXT).effect is Effect.NONE
    decision = decide(ses_policy(), ALICE, "kms:GenerateDataKey", context=SES_CONTEXT)
    assert decision == Decision(Effect.ALLOW, True, ("Enable IAM User Permissions",))
    upper = {
        key.upper().replace("KMS:ENCRYPTIONCONTEXT:", "kms:EncryptionContext:"): v for key, v in SES_CONTEXT.items()
    }
    assert decide(ses_policy(), SES, "kms:Encrypt", context=upper).effect is Effect.ALLOW


# --- what is accepted, what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}},
        {"Version": "2008-10-17", "Id": "key-default-1", "Statement": [stmt()]},
        {"Version": "2012-10-17", "Statement": [stmt(Sid="")]},
        {"Statement": [stmt(Sid="a"), stmt(Sid="b"), stmt()]},
        {"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ACCT}, "NotAction": "kms:Get*", "NotResource": KEY}]},
        {"Statement": [stmt(principal={"Federated": ["cognito-identity.amazonaws.com", "accounts.google.com"]})]},
        {"Statement": [stmt(principal={"AWS": [f"arn:aws:iam::{ACCT}:user/path/to/eve+x=y,z.w@q-r"]})]},
        {"Statement": [stmt(principal={"AWS": f"arn:aws:sts::{ACCT}:federated-user/fred"})]},
        {"Statement": [stmt(Condition={"StringEquals": {"kms:CallerAccount": [ACCT, 12, True, 1.5]}})]},
        {"Statement": [stmt(Condition={})]},
    ],
)
def test_valid_documents_parse(document: dict[str, Any]) -> None:
    policy = parse_policy(json.dumps(document), PolicyKind.RESOURCE)
    assert len(policy.statements) == (1 if isinstance(document["Statement"], dict) else len(document["Statement"]))


def drop(statement: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if k not in names}


INVALID = "Policy contains a statement with one or more invalid principals."
MALFORMED = [
    # (document text or object, kind, part of the message)
    ("not json", PolicyKind.RESOURCE, "not in the valid JSON format"),
    ('{"Statement": [', PolicyKind.RESOURCE, "not in the valid JSON format"),
    ("[]", PolicyKind.RESOURCE, "not in the valid JSON format"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": NaN}]}', None, "JSON"),
    ('{"Statement": [], "Statement": []}', PolicyKind.RESOURCE, "more than once"),
    ({"Statement": []}, PolicyKind.RESOURCE, "Statement"),
    ({"Version": "2012-10-17"}, PolicyKind.RESOURCE, "Statement"),
    ({"Statement": ["Allow"]}, PolicyKind.RESOURCE, "JSON object"),
    ({"Version": "2010-01-01", "Statement": [stmt()]}, PolicyKind.RESOURCE, "Version"),
    ({"Version": 2012, "Statement": [stmt()]}, PolicyKind.RESOURCE, "Version"),
    ({"Id": 7, "Statement": [stmt()]}, PolicyKind.RESOURCE, "Id"),
    ({"Statement": [stmt()], "Extra": 1}, PolicyKind.RESOURCE, "unknown element: Extra"),
    ({"Statement": [stmt(Actions="kms:*")]}, PolicyKind.RESOURCE, "unknown element: Actions"),
    ({"Statement": [stmt(Sid=5)]}, PolicyKind.RESOURCE, "Sid"),
    ({"Statement": [stmt(Sid="same"), stmt(Sid="same")]}, PolicyKind.RESOURCE, "unique"),
    ({"Statement": [stmt(Effect="allow")]}, PolicyKind.RESOURCE, "Effect"),
    ({"Statement": [drop(stmt(), "Effect")]}, PolicyKind.RESOURCE, "Effect"),
    ({"Statement": [drop(stmt(), "Action")]}, PolicyKind.RESOURCE, "must contain actions"),
    ({"Statement": [stmt(NotAction="kms:Decrypt")]}, PolicyKind.RESOURCE, "both Action and NotAction"),
    ({"Statement": [stmt(Action=[])]}, PolicyKind.RESOURCE, "Action"),
    ({"Statement": [stmt(Action=["kms:Encrypt", 3])]}, PolicyKind.RESOURCE, "Action"),
    ({"Statement": [stmt(Action="Encrypt")]}, PolicyKind.RESOURCE, "prefaced by a vendor"),
    ({"Statement": [drop(stmt(), "Resource")]}, PolicyKind.RESOURCE, "must contain resources"),
    ({"Statement": [drop(stmt(principal=None), "Resource")]}, PolicyKind.IDENTITY, "must contain resources"),
    ({"Statement": [stmt(NotResource="*")]}, PolicyKind.RESOURCE, "both Resource and NotResource"),
    ({"Statement": [stmt(Resource="key/abc")]}, PolicyKind.RESOURCE, "ARN format"),
    ({"Statement": [stmt(principal=None)]}, PolicyKind.RESOURCE, "no principal"),
    ({"Statement": [stmt()]}, PolicyKind.IDENTITY, "prohibited field Principal"),
    ({"Statement": [drop(stmt(NotPrincipal="*"), "Principal")]}, PolicyKind.IDENTITY, "prohibited field NotPrincipal"),
    ({"Statement": [stmt(NotPrincipal="*")]}, PolicyKind.RESOURCE, "both Principal and NotPrincipal"),
    ({"Statement": [stmt(principal=ALICE.arn)]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": "alice"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": "00000000000"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": "arn:aws:iam::00000000000:root"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": f"arn:aws:iam::{ACCT}:user/*"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": "arn:aws:iam::*:root"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": f"arn:aws:iam::{ACCT}:user/team*/bob"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": f"arn:aws:iam::{ACCT}:role/r?"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": f"arn:aws:iam::{ACCT}:group/admins"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": f"arn:aws:kms:us-east-1:{ACCT}:key/k"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": []})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"AWS": [ACCT, 5]})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"Users": ACCT})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(principal={"Service": "not a service!"})]}, PolicyKind.RESOURCE, INVALID),
    ({"Statement": [stmt(Condition=[])]}, PolicyKind.RESOURCE, "Condition"),
    ({"Statement": [stmt(Condition={"StringEqualz": {"kms:CallerAccount": ACCT}})]}, None, "StringEqualz"),
    ({"Statement": [stmt(Condition={"NullIfExists": {"kms:CallerAccount": "true"}})]}, None, "NullIfExists"),
    ({"Statement": [stmt(Condition={"ForAnyValue:Null": {"kms:CallerAccount": "true"}})]}, None, "ForAnyValue:Null"),
    ({"Statement": [stmt(Condition={"ForSomeValues:StringEquals": {"a:b": "c"}})]}, None, "ForSomeValues"),
    ({"Statement": [stmt(Condition={"stringequals": {"a:b": "c"}})]}, None, "stringequals"),
    ({"Statement": [stmt(Condition={"StringEquals": "kms:CallerAccount"})]}, None, "StringEquals"),
    ({"Statement": [stmt(Condition={"StringEquals": {}})]}, None, "StringEquals"),
    ({"Statement": [stmt(Condition={"StringEquals": {"department": "it"}})]}, None, "prefaced by a vendor"),
    ({"Statement": [stmt(Condition={"StringEquals": {"a:b": None}})]}, None, "values"),
    ({"Statement": [stmt(Condition={"StringEquals": {"a:b": []}})]}, None, "values"),
    ({"Statement": [stmt(Condition={"StringEquals": {"a:b": {"c": "d"}}})]}, None, "values"),
    ({"Statement": [stmt(Condition={"NumericEquals": {"a:b": "ten"}})]}, None, "numbers"),
    ({"Statement": [stmt(Condition={"NumericEquals": {"a:b": True}})]}, None, "numbers"),
    ({"Statement": [stmt(Condition={"DateLessThan": {"aws:CurrentTime": "yesterday"}})]}, None, "dates"),
    ({"Statement": [stmt(Condition={"IpAddress": {"aws:SourceIp": "999.1.1.1"}})]}, None, "CIDR"),
    ({"Statement": [stmt(Condition={"Bool": {"aws:SecureTransport": "yes"}})]}, None, "true or false"),
    ({"Statement": [stmt(Condition={"Null": {"a:b": "maybe"}})]}, None, "true or false"),
    ({"Statement": [stmt(Condition={"BinaryEquals": {"a:b": "!!"}})]}, None, "base64"),
]


@pytest.mark.parametrize(("document", "kind", "message"), MALFORMED)
def test_malformed_documents_are_refused(document: Any, kind: PolicyKind | None, message: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(MalformedPolicy) as caught:
        parse_policy(text, kind or PolicyKind.RESOURCE)
    assert message in caught.value.message
    assert isinstance(caught.value, InvalidInput)


def test_a_parsed_policy_is_immutable_and_reusable() -> None:
    policy = ses_policy()
    with pytest.raises(AttributeError):
        policy.statements = ()  # type: ignore[misc]
    first = [decide(policy, SES, "kms:Encrypt", context=SES_CONTEXT) for _ in range(3)]
    assert first == [first[0]] * 3
    assert first[0].effect is Effect.ALLOW
