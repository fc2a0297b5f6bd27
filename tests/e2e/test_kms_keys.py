"""KMS keys through a real `keyhold serve` and boto3: CreateKey, DescribeKey, ListKeys, the key-state machine
(Enabled ⇄ Disabled → PendingDeletion → Disabled) and AWS managed keys (alias/aws/<service>)."""

import datetime
import json
import re
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.kms import error_of, new_key, now, unique, unvalidated
from support.server import KeyholdServer

HEX64 = re.compile(r"[0-9a-f]{64}")
DAY = datetime.timedelta(days=1)


# -- CreateKey ---------------------------------------------------------------------------------------------------


def test_create_key_defaults(server: KeyholdServer) -> None:
    before = now()
    meta = new_key(server.client("kms"))
    key_id = meta["KeyId"]
    assert str(uuid.UUID(key_id)) == key_id
    assert meta["Arn"] == f"arn:aws:kms:{server.region}:{server.account_id}:key/{key_id}"
    assert meta["AWSAccountId"] == server.account_id
    assert meta["KeyManager"] == "CUSTOMER"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Origin"] == "AWS_KMS"
    assert meta["Enabled"] is True
    assert meta["KeyState"] == "Enabled"
    assert meta["MultiRegion"] is False
    assert meta["Description"] == ""
    assert HEX64.fullmatch(meta["CurrentKeyMaterialId"])
    assert "DeletionDate" not in meta
    assert before - datetime.timedelta(minutes=5) <= meta["CreationDate"] <= now() + datetime.timedelta(minutes=5)
    # Two keys never share an id or material.
    other = new_key(server.client("kms"))
    assert other["KeyId"] != key_id
    assert other["CurrentKeyMaterialId"] != meta["CurrentKeyMaterialId"]


def test_create_key_with_description_tags_and_policy(server: KeyholdServer) -> None:
    kms = server.client("kms")
    policy = {
        "Version": "2012-10-17",
        "Id": unique("policy"),
        "Statement": [
            {
                "Sid": "Root",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    meta = new_key(
        kms,
        Description="payments ledger key",
        Tags=[{"TagKey": "team", "TagValue": "payments"}, {"TagKey": "env", "TagValue": "test"}],
        Policy=json.dumps(policy),
    )
    assert meta["Description"] == "payments ledger key"
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Description"] == "payments ledger key"
    tags = kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == [("env", "test"), ("team", "payments")]
    stored = kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"]
    assert json.loads(stored) == policy


def test_create_key_unsupported_key_spec(server: KeyholdServer) -> None:
    kms = server.client("kms")
    with pytest.raises(ClientError) as caught:
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert error_of(caught)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as caught:
        kms.create_key(KeySpec="NOT_A_SPEC")
    assert error_of(caught)[0] == "ValidationException"


# -- DescribeKey -------------------------------------------------------------------------------------------------


def test_describe_key_by_every_kind_of_reference(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    alias = f"alias/{unique('describe')}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    alias_arn = f"arn:aws:kms:{server.region}:{server.account_id}:{alias}"
    for ref in (meta["KeyId"], meta["Arn"], alias, alias_arn):
        described = kms.describe_key(KeyId=ref)["KeyMetadata"]
        assert described["KeyId"] == meta["KeyId"], ref
        assert described["Arn"] == meta["Arn"], ref
        assert described["CurrentKeyMaterialId"] == meta["CurrentKeyMaterialId"], ref


def test_not_found_messages(server: KeyholdServer) -> None:
    kms = server.client("kms")
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId=missing)
    assert error_of(caught) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:{server.region}:{server.account_id}:key/{missing}' does not exist",
    )
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId=f"arn:aws:kms:{server.region}:{server.account_id}:key/{missing}")
    assert error_of(caught) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:{server.region}:{server.account_id}:key/{missing}' does not exist",
    )
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId="foo")
    assert error_of(caught) == ("NotFoundException", "Invalid keyId foo")
    # A real key's id under another account's ARN is not that key.
    real = new_key(kms)["KeyId"]
    foreign_arn = f"arn:aws:kms:{server.region}:111122223333:key/{real}"
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId=foreign_arn)
    assert error_of(caught) == ("NotFoundException", f"Key '{foreign_arn}' does not exist")
    alias = f"alias/{unique('missing')}"
    alias_arn = f"arn:aws:kms:{server.region}:{server.account_id}:{alias}"
    for ref in (alias, alias_arn):
        with pytest.raises(ClientError) as caught:
            kms.describe_key(KeyId=ref)
        assert error_of(caught) == ("NotFoundException", f"Alias {alias_arn} is not found.")


def test_key_in_another_region_is_not_found(server: KeyholdServer) -> None:
    meta = new_key(server.client("kms"))
    elsewhere = server.client("kms", region_name="eu-west-1")
    with pytest.raises(ClientError) as caught:
        elsewhere.describe_key(KeyId=meta["KeyId"])
    assert error_of(caught) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:eu-west-1:{server.account_id}:key/{meta['KeyId']}' does not exist",
    )


# -- ListKeys ----------------------------------------------------------------------------------------------------


def test_list_keys_pages_with_limit_and_marker(server: KeyholdServer) -> None:
    kms = server.client("kms")
    mine = {meta["KeyId"]: meta["Arn"] for meta in (new_key(kms) for _ in range(5))}
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"Limit": 2}
    while True:
        page = kms.list_keys(**kwargs)
        pages += 1
        assert len(page["Keys"]) <= 2
        for entry in page["Keys"]:
            assert entry["KeyArn"] == f"arn:aws:kms:{server.region}:{server.account_id}:key/{entry['KeyId']}"
            seen.append(entry["KeyId"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert len(page["Keys"]) == 2
        kwargs["Marker"] = page["NextMarker"]
        assert pages < 10_000
    assert len(seen) == len(set(seen)), "a key was listed twice"
    assert set(mine) <= set(seen)
    assert pages >= 3
    everything = kms.list_keys(Limit=1000)
    assert not everything["Truncated"]
    assert [entry["KeyId"] for entry in everything["Keys"]] == seen


def test_list_keys_rejects_a_bad_marker_and_limit(server: KeyholdServer) -> None:
    with pytest.raises(ClientError) as caught:
        server.client("kms").list_keys(Marker="%%% not a marker %%%")
    assert error_of(caught)[0] == "InvalidMarkerException"
    for limit in (0, 1001):
        with pytest.raises(ClientError) as caught:
            unvalidated(server).list_keys(Limit=limit)
        assert error_of(caught)[0] == "ValidationException", limit


# -- Enable / Disable and the state gates ------------------------------------------------------------------------


def test_enable_and_disable_are_idempotent(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    for _ in range(2):
        kms.disable_key(KeyId=key_id)
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    for _ in range(2):
        kms.enable_key(KeyId=key_id)
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (meta["KeyState"], meta["Enabled"]) == ("Enabled", True)


def test_disabled_key_refuses_cryptography(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    other = new_key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    calls = {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, KeySpec="AES_256"
        ),
        "ReEncrypt from": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("DisabledException", f"{arn} is disabled."), name
    other_blob = kms.encrypt(KeyId=other, Plaintext=b"y")["CiphertextBlob"]
    with pytest.raises(ClientError) as caught:
        kms.re_encrypt(CiphertextBlob=other_blob, DestinationKeyId=key_id)
    assert error_of(caught) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


# -- ScheduleKeyDeletion / CancelKeyDeletion ---------------------------------------------------------------------


def test_schedule_key_deletion_defaults_to_thirty_days(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    before = now()
    scheduled = kms.schedule_key_deletion(KeyId=meta["KeyId"])
    after = now()
    assert scheduled["KeyId"] == meta["Arn"]
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 30
    slack = datetime.timedelta(minutes=5)
    assert before + 30 * DAY - slack <= scheduled["DeletionDate"] <= after + 30 * DAY + slack
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert described["KeyState"] == "PendingDeletion"
    assert described["Enabled"] is False
    assert described["DeletionDate"] == scheduled["DeletionDate"]
    assert described["PendingDeletionWindowInDays"] == 30


@pytest.mark.parametrize("days", [7, 30])
def test_schedule_key_deletion_accepts_the_window_bounds(server: KeyholdServer, days: int) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    before = now()
    scheduled = kms.schedule_key_deletion(KeyId=meta["Arn"], PendingWindowInDays=days)
    assert scheduled["PendingWindowInDays"] == days
    slack = datetime.timedelta(minutes=5)
    assert before + days * DAY - slack <= scheduled["DeletionDate"] <= now() + days * DAY + slack


@pytest.mark.parametrize("days", [6, 31])
def test_schedule_key_deletion_refuses_windows_outside_7_to_30(server: KeyholdServer, days: int) -> None:
    kms = unvalidated(server)
    meta = new_key(kms)
    with pytest.raises(ClientError) as caught:
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=days)
    code, message = error_of(caught)
    assert code == "ValidationException"
    assert "pendingWindowInDays" in message
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_refuses_cryptography_and_state_changes(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    crypto = {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, NumberOfBytes=16),
    }
    for name, call in crypto.items():
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("KMSInvalidStateException", f"{arn} is pending deletion."), name
    management = {
        "EnableKey": lambda: kms.enable_key(KeyId=key_id),
        "DisableKey": lambda: kms.disable_key(KeyId=key_id),
        "ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7),
    }
    for name, call in management.items():
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught)[0] == "KMSInvalidStateException", name
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_cancel_key_deletion_leaves_the_key_disabled(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Disabled", False)
    assert "DeletionDate" not in described
    assert "PendingDeletionWindowInDays" not in described
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(caught) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"back")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"back"


@pytest.mark.parametrize("disabled", [False, True])
def test_cancel_key_deletion_needs_a_key_pending_deletion(server: KeyholdServer, disabled: bool) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    if disabled:
        kms.disable_key(KeyId=meta["KeyId"])
    with pytest.raises(ClientError) as caught:
        kms.cancel_key_deletion(KeyId=meta["KeyId"])
    code, message = error_of(caught)
    assert code == "KMSInvalidStateException"
    assert message == f"{meta['Arn']} is not pending deletion."


def test_describe_and_update_description_work_in_every_state(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms, Description="v0")["KeyId"]
    steps = [
        ("Enabled", lambda: None),
        ("Disabled", lambda: kms.disable_key(KeyId=key_id)),
        ("PendingDeletion", lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)),
    ]
    for number, (state, step) in enumerate(steps, start=1):
        step()
        kms.update_key_description(KeyId=key_id, Description=f"v{number}")
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (meta["KeyState"], meta["Description"]) == (state, f"v{number}")
        assert any(entry["KeyId"] == key_id for entry in kms.list_keys(Limit=1000)["Keys"])
        assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Statement"]


def test_update_key_description(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms, Description="before")["KeyId"]
    kms.update_key_description(KeyId=key_id, Description="after")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "after"
    kms.update_key_description(KeyId=key_id, Description="")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""
    with pytest.raises(ClientError) as caught:
        kms.update_key_description(KeyId=str(uuid.uuid4()), Description="x")
    assert error_of(caught)[0] == "NotFoundException"


# -- AWS managed keys --------------------------------------------------------------------------------------------


def test_aws_managed_keys_come_into_being_on_first_use(make_server: Any) -> None:
    fresh: KeyholdServer = make_server("managed")
    kms = fresh.client("kms")
    names = ["alias/aws/s3", "alias/aws/ses", "alias/aws/workmail"]
    assert not {a["AliasName"] for a in kms.list_aliases()["Aliases"] if "TargetKeyId" in a} & set(names)
    created: dict[str, dict[str, Any]] = {}
    for name in names:
        meta = kms.describe_key(KeyId=name)["KeyMetadata"]
        assert meta["KeyManager"] == "AWS", name
        assert meta["KeyState"] == "Enabled", name
        assert meta["Arn"] == f"arn:aws:kms:{fresh.region}:{fresh.account_id}:key/{meta['KeyId']}"
        assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
        assert HEX64.fullmatch(meta["CurrentKeyMaterialId"])
        again = kms.describe_key(KeyId=f"arn:aws:kms:{fresh.region}:{fresh.account_id}:{name}")["KeyMetadata"]
        assert again["KeyId"] == meta["KeyId"], name
        created[name] = meta
    assert len({meta["KeyId"] for meta in created.values()}) == 3
    aliases = {a["AliasName"]: a for a in kms.list_aliases(Limit=100)["Aliases"]}
    for name, meta in created.items():
        assert aliases[name]["TargetKeyId"] == meta["KeyId"]
        assert aliases[name]["AliasArn"] == f"arn:aws:kms:{fresh.region}:{fresh.account_id}:{name}"
        status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
        assert status["KeyRotationEnabled"] is True
        assert status["RotationPeriodInDays"] == 365
    # The managed key survives a restart and is still the same key.
    fresh.restart()
    kms = fresh.client("kms")
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == created["alias/aws/s3"]["KeyId"]


def test_aws_managed_keys_cannot_be_managed_by_customers(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    calls = {
        "DisableKey": lambda: kms.disable_key(KeyId=meta["KeyId"]),
        "ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as caught:
            call()
        code, message = error_of(caught)
        assert code == "AccessDeniedException", name
        assert f"kms:{name}" in message
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyState"] == "Enabled"
    customer_key = new_key(kms)["KeyId"]
    for reserved in ("alias/aws/x", f"alias/aws/{unique('svc')}"):
        with pytest.raises(ClientError) as caught:
            kms.create_alias(AliasName=reserved, TargetKeyId=customer_key)
        assert error_of(caught)[0] == "InvalidAliasNameException"
