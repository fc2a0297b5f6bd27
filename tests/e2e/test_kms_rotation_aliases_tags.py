"""Key rotation, aliases, tags and key policies through a real `keyhold serve` and boto3."""

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
SLACK = datetime.timedelta(minutes=5)


def all_pages(call: Any, items: str, **kwargs: Any) -> tuple[list[Any], int]:
    """Every item of a Limit/Marker listing, and how many pages it took."""
    collected: list[Any] = []
    pages = 0
    while True:
        page = call(**kwargs)
        pages += 1
        collected.extend(page[items])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            return collected, pages
        kwargs["Marker"] = page["NextMarker"]
        assert pages < 1000


# -- automatic rotation ------------------------------------------------------------------------------------------


def test_enable_key_rotation_defaults_to_a_year(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert status["KeyId"] == meta["Arn"]
    before = now()
    kms.enable_key_rotation(KeyId=meta["KeyId"])
    status = kms.get_key_rotation_status(KeyId=meta["Arn"])
    assert status["KeyRotationEnabled"] is True
    assert status["KeyId"] == meta["Arn"]
    assert status["RotationPeriodInDays"] == 365
    assert before + 365 * DAY - SLACK <= status["NextRotationDate"] <= now() + 365 * DAY + SLACK
    kms.disable_key_rotation(KeyId=meta["KeyId"])
    status = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in status


@pytest.mark.parametrize("days", [90, 2560])
def test_rotation_period_bounds_are_accepted(server: KeyholdServer, days: int) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    before = now()
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, days)
    assert before + days * DAY - SLACK <= status["NextRotationDate"] <= now() + days * DAY + SLACK


@pytest.mark.parametrize("days", [89, 2561])
def test_rotation_period_outside_90_to_2560_is_refused(server: KeyholdServer, days: int) -> None:
    kms = unvalidated(server)
    key_id = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as caught:
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    assert error_of(caught)[0] == "ValidationException"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_rotation_settings_on_a_disabled_key(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    kms.disable_key(KeyId=meta["KeyId"])
    with pytest.raises(ClientError) as caught:
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    assert error_of(caught) == ("DisabledException", f"{meta['Arn']} is disabled.")
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is False


# -- on-demand rotation ------------------------------------------------------------------------------------------


def test_rotate_on_demand_keeps_old_ciphertext_and_uses_new_material(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    key_id, arn = meta["KeyId"], meta["Arn"]
    original = meta["CurrentKeyMaterialId"]
    materials = [original]
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    (initial,) = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert (initial["KeyMaterialId"], initial["KeyMaterialState"]) == (original, "CURRENT")
    blobs = [kms.encrypt(KeyId=key_id, Plaintext=b"v0", EncryptionContext={"n": "0"})["CiphertextBlob"]]
    for n in range(1, 4):
        assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == arn
        current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert HEX64.fullmatch(current)
        assert current not in materials
        materials.append(current)
        assert kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"] == current
        assert kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"] == current
        blob = kms.encrypt(KeyId=key_id, Plaintext=f"v{n}".encode(), EncryptionContext={"n": str(n)})
        blobs.append(blob["CiphertextBlob"])
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    for n, blob in enumerate(blobs):
        opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"n": str(n)})
        assert opened["Plaintext"] == f"v{n}".encode()
        assert opened["KeyId"] == arn
        assert opened["KeyMaterialId"] == materials[n], n
    # ReEncrypt moves old ciphertext onto the current material.
    moved = kms.re_encrypt(
        CiphertextBlob=blobs[0],
        SourceEncryptionContext={"n": "0"},
        DestinationKeyId=key_id,
        DestinationEncryptionContext={"n": "0"},
    )
    assert moved["SourceKeyMaterialId"] == original
    assert moved["DestinationKeyMaterialId"] == materials[-1]
    opened = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"n": "0"})
    assert opened["KeyMaterialId"] == materials[-1]

    rotations = kms.list_key_rotations(KeyId=key_id)
    assert not rotations["Truncated"]
    entries = rotations["Rotations"]
    assert [entry["KeyMaterialId"] for entry in entries] == materials[1:]
    for entry in entries:
        assert entry["KeyId"] == arn
        assert entry["RotationType"] == "ON_DEMAND"
        assert now() - datetime.timedelta(hours=1) <= entry["RotationDate"] <= now() + SLACK
    assert [entry["KeyMaterialState"] for entry in entries] == ["NON_CURRENT", "NON_CURRENT", "CURRENT"]
    assert kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ROTATIONS_ONLY")["Rotations"] == entries

    everything = kms.list_key_rotations(KeyId=arn, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [entry["KeyMaterialId"] for entry in everything] == materials
    assert everything[0]["KeyMaterialState"] == "NON_CURRENT"
    assert "RotationType" not in everything[0]
    assert everything[1:] == entries

    first, pages = all_pages(kms.list_key_rotations, "Rotations", KeyId=key_id, Limit=2)
    assert first == entries
    assert pages == 2


def test_on_demand_rotation_stops_at_25(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    current = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    with pytest.raises(ClientError) as caught:
        kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    assert error_of(caught)[0] == "LimitExceededException"
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == current
    rotations, _pages = all_pages(kms.list_key_rotations, "Rotations", KeyId=meta["KeyId"])
    assert len(rotations) == 25
    assert len({entry["KeyMaterialId"] for entry in rotations}) == 25


@pytest.mark.parametrize("state", ["Disabled", "PendingDeletion"])
def test_rotate_on_demand_needs_an_enabled_key(server: KeyholdServer, state: str) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    if state == "Disabled":
        kms.disable_key(KeyId=meta["KeyId"])
        expected = ("DisabledException", f"{meta['Arn']} is disabled.")
    else:
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
        expected = ("KMSInvalidStateException", f"{meta['Arn']} is pending deletion.")
    with pytest.raises(ClientError) as caught:
        kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    assert error_of(caught) == expected
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert described["CurrentKeyMaterialId"] == meta["CurrentKeyMaterialId"]


# -- aliases -----------------------------------------------------------------------------------------------------


def test_alias_create_update_delete(server: KeyholdServer) -> None:
    kms = server.client("kms")
    first, second = new_key(kms), new_key(kms)
    alias = f"alias/{unique('life')}"
    alias_arn = f"arn:aws:kms:{server.region}:{server.account_id}:{alias}"
    kms.create_alias(AliasName=alias, TargetKeyId=first["Arn"])
    (entry,) = kms.list_aliases(KeyId=first["KeyId"])["Aliases"]
    assert entry["AliasName"] == alias
    assert entry["AliasArn"] == alias_arn
    assert entry["TargetKeyId"] == first["KeyId"]
    assert isinstance(entry["CreationDate"], datetime.datetime)
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == first["KeyId"]
    blob = kms.encrypt(KeyId=alias, Plaintext=b"via alias")["CiphertextBlob"]

    kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == second["KeyId"]
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"] == []
    (entry,) = kms.list_aliases(KeyId=second["Arn"])["Aliases"]
    assert (entry["AliasName"], entry["TargetKeyId"]) == (alias, second["KeyId"])
    # Ciphertext names its key, not the alias: retargeting does not change what decrypts it.
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == first["Arn"]
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, KeyId=alias)
    assert error_of(caught)[0] == "IncorrectKeyException"

    kms.delete_alias(AliasName=alias)
    assert kms.list_aliases(KeyId=second["KeyId"])["Aliases"] == []
    with pytest.raises(ClientError) as caught:
        kms.describe_key(KeyId=alias)
    assert error_of(caught) == ("NotFoundException", f"Alias {alias_arn} is not found.")
    # The name is free again.
    kms.create_alias(AliasName=alias, TargetKeyId=first["KeyId"])
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == first["KeyId"]


def test_list_aliases_pages_with_limit_and_marker(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    names = sorted(f"alias/{unique('page')}" for _ in range(5))
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
    entries, pages = all_pages(kms.list_aliases, "Aliases", KeyId=key_id, Limit=2)
    assert pages == 3
    assert sorted(entry["AliasName"] for entry in entries) == names
    assert {entry["TargetKeyId"] for entry in entries} == {key_id}
    everyone, _pages = all_pages(kms.list_aliases, "Aliases", Limit=3)
    listed = [entry["AliasName"] for entry in everyone]
    assert len(listed) == len(set(listed))
    assert set(names) <= set(listed)


def test_alias_errors(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    alias = f"alias/{unique('dup')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    with pytest.raises(ClientError) as caught:
        kms.create_alias(AliasName=alias, TargetKeyId=new_key(kms)["KeyId"])
    assert error_of(caught)[0] == "AlreadyExistsException"
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id

    missing = f"alias/{unique('missing')}"
    with pytest.raises(ClientError) as caught:
        kms.delete_alias(AliasName=missing)
    assert error_of(caught)[0] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        kms.update_alias(AliasName=missing, TargetKeyId=key_id)
    assert error_of(caught)[0] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        kms.create_alias(AliasName=f"alias/{unique('x')}", TargetKeyId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "NotFoundException"

    # Keyhold answers InvalidAliasNameException for names outside the alias/ namespace.
    for bad in (unique("no-prefix"), "alias/", f"aliases/{unique('x')}"):
        with pytest.raises(ClientError) as caught:
            kms.create_alias(AliasName=bad, TargetKeyId=key_id)
        assert error_of(caught)[0] == "InvalidAliasNameException", bad


def test_aliases_and_keys_pending_deletion(server: KeyholdServer) -> None:
    kms = server.client("kms")
    live, doomed = new_key(kms), new_key(kms)
    existing = f"alias/{unique('doomed')}"
    kms.create_alias(AliasName=existing, TargetKeyId=doomed["KeyId"])
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as caught:
        kms.create_alias(AliasName=f"alias/{unique('late')}", TargetKeyId=doomed["KeyId"])
    assert error_of(caught)[0] == "KMSInvalidStateException"
    moving = f"alias/{unique('moving')}"
    kms.create_alias(AliasName=moving, TargetKeyId=live["KeyId"])
    with pytest.raises(ClientError) as caught:
        kms.update_alias(AliasName=moving, TargetKeyId=doomed["KeyId"])
    assert error_of(caught)[0] == "KMSInvalidStateException"
    assert kms.describe_key(KeyId=moving)["KeyMetadata"]["KeyId"] == live["KeyId"]
    # Moving an alias away from a key pending deletion, and deleting one, both work.
    kms.update_alias(AliasName=existing, TargetKeyId=live["KeyId"])
    assert kms.describe_key(KeyId=existing)["KeyMetadata"]["KeyId"] == live["KeyId"]
    kms.delete_alias(AliasName=existing)
    assert kms.list_aliases(KeyId=doomed["KeyId"])["Aliases"] == []


# -- tags --------------------------------------------------------------------------------------------------------


def test_tag_untag_and_list(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)

    def tags() -> dict[str, str]:
        return {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]}

    assert tags() == {}
    kms.tag_resource(KeyId=meta["KeyId"], Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": ""}])
    assert tags() == {"a": "1", "b": ""}
    kms.tag_resource(KeyId=meta["Arn"], Tags=[{"TagKey": "a", "TagValue": "2"}, {"TagKey": "c", "TagValue": "3"}])
    assert tags() == {"a": "2", "b": "", "c": "3"}
    kms.untag_resource(KeyId=meta["KeyId"], TagKeys=["a", "not-there"])
    assert tags() == {"b": "", "c": "3"}
    for reserved in ("aws:owner", "AWS:owner"):
        with pytest.raises(ClientError) as caught:
            kms.tag_resource(KeyId=meta["KeyId"], Tags=[{"TagKey": reserved, "TagValue": "x"}])
        assert error_of(caught)[0] == "TagException", reserved
    with pytest.raises(ClientError) as caught:
        kms.create_key(Tags=[{"TagKey": "aws:created", "TagValue": "x"}])
    assert error_of(caught)[0] == "TagException"
    assert tags() == {"b": "", "c": "3"}
    page = kms.list_resource_tags(KeyId=meta["KeyId"], Limit=1)
    assert page["Truncated"] is True
    assert len(page["Tags"]) == 1
    rest = kms.list_resource_tags(KeyId=meta["KeyId"], Limit=1, Marker=page["NextMarker"])
    assert rest["Truncated"] is False
    assert {t["TagKey"] for t in page["Tags"] + rest["Tags"]} == {"b", "c"}
    with pytest.raises(ClientError) as caught:
        kms.list_resource_tags(KeyId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "NotFoundException"


# -- key policies ------------------------------------------------------------------------------------------------


def test_default_key_policy(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    response = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    document = json.loads(response["Policy"])
    statements = document["Statement"]
    assert isinstance(statements, list)
    assert any(
        statement["Effect"] == "Allow"
        and statement["Principal"] == {"AWS": f"arn:aws:iam::{server.account_id}:root"}
        and statement["Action"] == "kms:*"
        and statement["Resource"] == "*"
        for statement in statements
    )
    assert server.account_id == "000000000000"
    assert "arn:aws:iam::000000000000:root" in response["Policy"]
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"]) == document
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


def test_put_key_policy_and_its_errors(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    policy = {
        "Version": "2012-10-17",
        "Id": unique("custom"),
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Deny nobody in particular",
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/{unique('nobody')}"},
                "Action": "kms:ScheduleKeyDeletion",
                "Resource": "*",
            },
        ],
    }
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == policy
    for malformed in ("{not json", "[]", json.dumps({"Version": "2012-10-17"})):
        with pytest.raises(ClientError) as caught:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=malformed)
        assert error_of(caught)[0] == "MalformedPolicyDocumentException", malformed
    with pytest.raises(ClientError) as caught:
        kms.create_key(Policy="{not json")
    assert error_of(caught)[0] == "MalformedPolicyDocumentException"
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == policy
    with pytest.raises(ClientError) as caught:
        kms.get_key_policy(KeyId=key_id, PolicyName="other")
    assert error_of(caught)[0] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        kms.get_key_policy(KeyId=str(uuid.uuid4()), PolicyName="default")
    assert error_of(caught)[0] == "NotFoundException"
