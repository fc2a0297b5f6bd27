"""CloudTrail records for KMS calls: the shape CloudTrail documents, and no secrets in them."""

import re
import uuid
from typing import Any

from keyhold.audit import api_event, is_read_only, key_resource, redact, response_elements
from keyhold.audit.events import iso_time, parse_iso_time

ACCOUNT = "111122223333"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _event(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "event_name": "Encrypt",
        "request_id": "req-1",
        "event_time": 1714557600.75,
        "region": "eu-west-1",
        "source_ip": "192.0.2.10",
        "user_agent": "Boto3/1.43",
        "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/ops/alice",
        "account_id": ACCOUNT,
        "principal_id": "AIDAEXAMPLE",
        "access_key_id": "AKIAEXAMPLE",
        "is_root": False,
        "request_parameters": {"KeyId": "alias/app", "Plaintext": b"secret", "EncryptionContext": {"Dept": "IT"}},
        "response_elements": None,
        "resources": [key_resource(ACCOUNT, KEY_ARN)],
        "error_code": None,
        "error_message": None,
        "read_only": True,
    }
    arguments.update(overrides)
    return api_event(**arguments)


def test_an_iam_user_s_call_is_a_cloudtrail_record() -> None:
    record = _event()
    assert record["eventVersion"] == "1.08"
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ops/alice",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAEXAMPLE",
        "userName": "alice",
    }
    assert record["eventTime"] == "2024-05-01T10:00:00Z"
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["eventName"] == "Encrypt"
    assert record["awsRegion"] == "eu-west-1"
    assert record["sourceIPAddress"] == "192.0.2.10"
    assert record["userAgent"] == "Boto3/1.43"
    assert record["requestParameters"] == {"keyId": "alias/app", "encryptionContext": {"Dept": "IT"}}
    assert record["responseElements"] is None
    assert record["requestID"] == "req-1"
    event_id = uuid.UUID(record["eventID"])
    assert event_id.version == 4
    assert event_id.variant == uuid.RFC_4122
    assert str(event_id) == record["eventID"]
    assert record["readOnly"] is True
    assert record["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}]
    assert record["eventType"] == "AwsApiCall"
    assert record["managementEvent"] is True
    assert record["recipientAccountId"] == ACCOUNT
    assert record["eventCategory"] == "Management"
    assert "errorCode" not in record
    assert "errorMessage" not in record


def test_each_record_has_its_own_event_id() -> None:
    assert _event()["eventID"] != _event()["eventID"]


def test_the_root_identity_has_no_user_name() -> None:
    record = _event(principal_arn=f"arn:aws:iam::{ACCOUNT}:root", principal_id=ACCOUNT, is_root=True)
    assert record["userIdentity"] == {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAEXAMPLE",
    }


def test_a_failed_call_records_its_error() -> None:
    record = _event(error_code="AccessDeniedException", error_message="User is not authorized to perform kms:Encrypt")
    assert record["errorCode"] == "AccessDeniedException"
    assert record["errorMessage"] == "User is not authorized to perform kms:Encrypt"
    names = list(record)
    assert names.index("userAgent") < names.index("errorCode") < names.index("requestParameters")


def test_a_call_through_a_service_names_the_service() -> None:
    record = _event(invoked_by="s3.amazonaws.com")
    assert record["userIdentity"]["invokedBy"] == "s3.amazonaws.com"
    assert record["sourceIPAddress"] == "s3.amazonaws.com"
    service = _event(principal_arn="s3.amazonaws.com")
    assert service["userIdentity"] == {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}


def test_redact_removes_secrets_and_camel_cases_like_cloudtrail() -> None:
    params = {
        "KeyId": "1234abcd",
        "Plaintext": b"attack at dawn",
        "EncryptionContext": {"Department": "IT", "aws:s3:arn": "arn:aws:s3:::b/o"},
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "KeySpec": "AES_256",
        "NumberOfBytes": 32,
        "GrantTokens": ["token"],
        "CiphertextBlob": "AQICAHh...",
        "Tags": [{"TagKey": "k", "TagValue": "v"}],
        "Constraints": {"EncryptionContextSubset": {"Dept": "IT"}},
        "Recipient": {"AttestationDocument": b"doc"},
        "Policy": '{"Version": "2012-10-17"}',
    }
    assert redact(params) == {
        "keyId": "1234abcd",
        "encryptionContext": {"Department": "IT", "aws:s3:arn": "arn:aws:s3:::b/o"},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "keySpec": "AES_256",
        "numberOfBytes": 32,
        "tags": [{"tagKey": "k", "tagValue": "v"}],
        "constraints": {"encryptionContextSubset": {"Dept": "IT"}},
        "policy": '{"Version": "2012-10-17"}',
    }


def test_redact_drops_every_binary_value_and_nested_secret() -> None:
    params = {"Unknown": b"raw", "List": [b"raw", "kept"], "Nested": {"Password": "hunter2", "Name": "n"}}
    assert redact(params) == {"list": ["kept"], "nested": {"name": "n"}}


def test_the_record_redacts_raw_members_itself() -> None:
    record = _event(request_parameters={"KeyId": "k", "Plaintext": "c2VjcmV0"}, response_elements={"Plaintext": "x"})
    assert record["requestParameters"] == {"keyId": "k"}
    assert record["responseElements"] is None


def test_response_elements_are_null_for_read_only_calls() -> None:
    assert response_elements("GenerateDataKey", {"KeyId": KEY_ARN, "Plaintext": b"k"}) is None
    assert response_elements("DescribeKey", {"KeyMetadata": {"KeyId": "k"}}) is None
    created = response_elements("CreateKey", {"KeyMetadata": {"KeyId": "k", "Arn": KEY_ARN}})
    assert created == {"keyMetadata": {"keyId": "k", "arn": KEY_ARN}}


def test_read_only_follows_cloudtrail() -> None:
    for name in ("Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "Sign", "DescribeKey", "ListAliases"):
        assert is_read_only(name), name
    for name in ("CreateKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", "TagResource"):
        assert not is_read_only(name), name


def test_times_are_iso_8601_utc_seconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", iso_time(0.0))
    assert iso_time(1714557600.999) == "2024-05-01T10:00:00Z"
    assert iso_time(1714557601.0) == "2024-05-01T10:00:01Z"
    assert iso_time(1714557600.5) == "2024-05-01T10:00:00Z"
    assert parse_iso_time("2024-05-01T10:00:00Z") == 1714557600.0
