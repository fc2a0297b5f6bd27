"""Key policies, IAM inline policies and grants, enforced: allow/deny matrices through a real server."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.kms import error_of, make_user, new_key, unique
from support.server import KeyholdServer

ACCOUNT = "000000000000"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def allow(actions: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}
    return {"Version": "2012-10-17", "Statement": [statement]}


def key_policy(*statements: dict[str, Any]) -> str:
    root = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [root, *statements]})


def denied(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    code, message = error_of(caught)
    assert code == "AccessDeniedException", message
    return message


def test_a_user_without_iam_policies_is_denied_under_the_default_key_policy(server: KeyholdServer) -> None:
    key = new_key(server.client("kms"))
    name, kms = make_user(server)
    message = denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert user_arn(name) in message
    assert "kms:Encrypt" in message
    denied(kms.create_key)
    denied(kms.list_keys)


def test_root_delegation_lets_iam_policies_decide(server: KeyholdServer) -> None:
    key = new_key(server.client("kms"))
    _, kms = make_user(server, allow(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]))
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    denied(kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")
    denied(kms.disable_key, KeyId=key["KeyId"])


def test_an_iam_policy_can_name_the_key_arn(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    mine, other = new_key(kms_root), new_key(kms_root)
    _, kms = make_user(server, allow("kms:Encrypt", resource=mine["Arn"]))
    kms.encrypt(KeyId=mine["KeyId"], Plaintext=b"x")
    denied(kms.encrypt, KeyId=other["KeyId"], Plaintext=b"x")


def test_a_key_policy_naming_the_user_needs_no_iam_policy(server: KeyholdServer) -> None:
    name, kms = make_user(server)
    statement = {"Effect": "Allow", "Principal": {"AWS": user_arn(name)}, "Action": "kms:Encrypt", "Resource": "*"}
    key = new_key(server.client("kms"), Policy=key_policy(statement))
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(kms.decrypt, CiphertextBlob=kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"])


def test_explicit_deny_wins_in_key_policy_and_in_iam_policy(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    deny_root = {"Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "kms:Encrypt", "Resource": "*"}
    key = new_key(kms_root, Policy=key_policy(deny_root), BypassPolicyLockoutSafetyCheck=True)
    message = denied(kms_root.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert "explicit deny in a resource-based policy" in message

    other = new_key(kms_root)
    deny = {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": other["Arn"]}
    _, kms = make_user(server, allow("kms:*"), {"Version": "2012-10-17", "Statement": [deny]})
    message = denied(kms.encrypt, KeyId=other["KeyId"], Plaintext=b"x")
    assert "explicit deny in an identity-based policy" in message
    kms.describe_key(KeyId=other["KeyId"])


def test_encryption_context_conditions(server: KeyholdServer) -> None:
    condition = {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}
    _, kms = make_user(server, allow(["kms:Encrypt", "kms:Decrypt"], Condition=condition))
    key = new_key(server.client("kms"))
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "acme"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "acme"})
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "other"})
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")


def test_request_alias_condition(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    key = new_key(kms_root)
    alias = f"alias/{unique('ra')}"
    kms_root.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    _, kms = make_user(server, allow("kms:Encrypt", Condition={"StringEquals": {"kms:RequestAlias": alias}}))
    kms.encrypt(KeyId=alias, Plaintext=b"x")
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")


def test_the_ses_statement_works_as_written(server: KeyholdServer) -> None:
    """The key-policy statement from AWS's SES documentation, evaluated for the ses.amazonaws.com principal is
    covered by the policy engine's tests; through the API, a user named in an equivalent statement is gated the
    same way by the three encryption-context conditions."""
    name, kms = make_user(server)
    statement = {
        "Sid": "Allow SES-like use",
        "Effect": "Allow",
        "Principal": {"AWS": user_arn(name)},
        "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "Null": {
                "kms:EncryptionContext:aws:ses:rule-name": False,
                "kms:EncryptionContext:aws:ses:message-id": False,
            },
            "StringEquals": {"kms:EncryptionContext:aws:ses:source-account": ACCOUNT},
        },
    }
    key = new_key(server.client("kms"), Policy=key_policy(statement))
    good = {"aws:ses:rule-name": "r", "aws:ses:message-id": "m", "aws:ses:source-account": ACCOUNT}
    kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=good)
    without_rule = {k: v for k, v in good.items() if k != "aws:ses:rule-name"}
    denied(kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=without_rule)
    wrong_account = {**good, "aws:ses:source-account": "111111111111"}
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=wrong_account)


def test_lockout_safety_check(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    no_root = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": user_arn("nobody")}, "Action": "kms:*", "Resource": "*"}
            ],
        }
    )
    with pytest.raises(ClientError) as caught:
        kms_root.create_key(Policy=no_root)
    assert error_of(caught)[0] == "MalformedPolicyDocumentException"
    key = new_key(kms_root)
    with pytest.raises(ClientError) as caught:
        kms_root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=no_root)
    assert error_of(caught)[0] == "MalformedPolicyDocumentException"
    kms_root.put_key_policy(
        KeyId=key["KeyId"], PolicyName="default", Policy=no_root, BypassPolicyLockoutSafetyCheck=True
    )
    denied(kms_root.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=key_policy())
    denied(kms_root.encrypt, KeyId=key["KeyId"], Plaintext=b"x")


def test_aws_managed_keys_are_usable_only_through_their_service(server: KeyholdServer) -> None:
    kms = server.client("kms")
    kms.describe_key(KeyId="alias/aws/ses")
    kms.get_key_policy(KeyId="alias/aws/ses", PolicyName="default")
    denied(kms.encrypt, KeyId="alias/aws/ses", Plaintext=b"x")
    denied(kms.disable_key, KeyId="alias/aws/ses")


# -- grants -------------------------------------------------------------------------------------------------------


def test_a_grant_gives_a_user_the_listed_operations(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    key = new_key(kms_root)
    name, kms = make_user(server)
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    grant = kms_root.create_grant(KeyId=key["KeyId"], GranteePrincipal=user_arn(name), Operations=["Encrypt"])
    assert len(grant["GrantId"]) == 64
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(kms.decrypt, CiphertextBlob=kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"])

    listed = kms_root.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], g["Operations"]) for g in listed] == [
        (grant["GrantId"], user_arn(name), ["Encrypt"])
    ]
    assert listed[0]["KeyId"] == key["Arn"]
    assert listed[0]["IssuingAccount"] == ROOT

    kms_root.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    denied(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert kms_root.list_grants(KeyId=key["KeyId"])["Grants"] == []
    with pytest.raises(ClientError) as caught:
        kms_root.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    assert error_of(caught)[0] == "InvalidGrantTokenException"


@pytest.mark.parametrize(
    ("constraint", "context", "allowed"),
    [
        ({"EncryptionContextSubset": {"tenant": "acme"}}, {"tenant": "acme"}, True),
        ({"EncryptionContextSubset": {"tenant": "acme"}}, {"tenant": "acme", "extra": "1"}, True),
        ({"EncryptionContextSubset": {"tenant": "acme"}}, {"tenant": "other"}, False),
        ({"EncryptionContextSubset": {"tenant": "acme"}}, {}, False),
        ({"EncryptionContextEquals": {"tenant": "acme"}}, {"tenant": "acme"}, True),
        ({"EncryptionContextEquals": {"tenant": "acme"}}, {"tenant": "acme", "extra": "1"}, False),
        ({"EncryptionContextEquals": {"tenant": "acme"}}, {}, False),
    ],
)
def test_grant_constraints(
    server: KeyholdServer, constraint: dict[str, Any], context: dict[str, str], allowed: bool
) -> None:
    kms_root = server.client("kms")
    key = new_key(kms_root)
    name, kms = make_user(server)
    kms_root.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=user_arn(name), Operations=["GenerateDataKey"], Constraints=constraint
    )
    if allowed:
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=context)
    else:
        denied(kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=context)


def test_grant_names_make_create_grant_idempotent_per_key(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key, other = new_key(kms), new_key(kms)
    args = {"GranteePrincipal": user_arn("g"), "Operations": ["Decrypt"], "Name": "app"}
    first = kms.create_grant(KeyId=key["KeyId"], **args)
    again = kms.create_grant(KeyId=key["KeyId"], **args)
    assert again["GrantId"] == first["GrantId"]
    elsewhere = kms.create_grant(KeyId=other["KeyId"], **args)
    assert elsewhere["GrantId"] != first["GrantId"]
    changed = kms.create_grant(KeyId=key["KeyId"], **{**args, "Operations": ["Encrypt"]})
    assert changed["GrantId"] != first["GrantId"]


def test_retiring_a_grant(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    key = new_key(kms_root)
    grantee, grantee_kms = make_user(server, allow("kms:ListRetirableGrants"))
    retirer, retirer_kms = make_user(server, allow("kms:ListRetirableGrants"))
    grant = kms_root.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=user_arn(grantee),
        RetiringPrincipal=user_arn(retirer),
        Operations=["Encrypt"],
    )
    retirable = retirer_kms.list_retirable_grants(RetiringPrincipal=user_arn(retirer))["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    denied(grantee_kms.retire_grant, GrantToken=grant["GrantToken"])  # RetireGrant is not among its operations
    retirer_kms.retire_grant(GrantToken=grant["GrantToken"])
    denied(grantee_kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(ClientError) as caught:
        kms_root.retire_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert error_of(caught)[0] == "NotFoundException"


def test_bad_grant_tokens_and_grant_input(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms)
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["not-a-token"])
    assert error_of(caught)[0] == "InvalidGrantTokenException"
    with pytest.raises(ClientError) as caught:
        kms.create_grant(
            KeyId=key["KeyId"],
            GranteePrincipal=user_arn("g"),
            Operations=["DescribeKey"],
            Constraints={"EncryptionContextSubset": {"a": "b"}},
        )
    assert error_of(caught)[0] == "ValidationException"
