"""KMS calls Keyhold's own services make in process reach the audit trail like calls on the wire.

Runs the real composition root (bootstrap, open_runtime, the audit writer) on a temporary data directory.
"""

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from keyhold import app
from keyhold.config import Settings
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.errors import AccessDenied
from keyhold.domain.keys.model import KeyEvent

ACCOUNT = "000000000000"
SES_CONTEXT = {"aws:ses:rule-name": "store", "aws:ses:message-id": "m-1", "aws:ses:source-account": ACCOUNT}


def _records(data_dir: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((data_dir / "audit").rglob("*.json.gz")):
        if "Digest" not in path.name:
            found.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return found


def test_service_calls_are_recorded_with_the_service_as_caller(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    boot = app.bootstrap(settings)
    runtime = app.open_runtime(settings)
    try:
        credential = runtime.identity.credential(boot.access_key_id)
        assert credential is not None
        root = RequestContext(principal=credential.principal, region=settings.region, request_id="req-root")
        ses_statement = {
            "Effect": "Allow",
            "Principal": {"Service": "ses.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ses:source-account": ACCOUNT}},
        }
        root_statement = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
        policy = json.dumps({"Version": "2012-10-17", "Statement": [root_statement, ses_statement]})
        key = runtime.kms.keys.create_key(root, policy=policy)

        ses = runtime.kms_client("ses")
        as_ses = ses.as_service(ACCOUNT, settings.region, request_id="req-ses")
        data_key, _sealed = ses.generate_data_key(as_ses, key.key_id, SES_CONTEXT)
        with pytest.raises(AccessDenied):
            ses.encrypt(as_ses, key.key_id, b"not allowed to Encrypt", SES_CONTEXT)

        s3 = runtime.kms_client("s3")
        s3_context = {"aws:s3:arn": "arn:aws:s3:::bucket/object"}
        sealed = s3.encrypt(s3.on_behalf_of(root), "alias/aws/s3", b"object key", s3_context)
        assert s3.decrypt(s3.on_behalf_of(root), sealed.ciphertext, s3_context).plaintext == b"object key"
    finally:
        runtime.close()

    trail = _records(settings.data_dir)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for record in trail:
        by_request.setdefault(record["requestID"], []).append(record)
    generate, denied = by_request["req-ses"]
    assert generate["eventName"] == "GenerateDataKey"
    assert generate["userIdentity"] == {"type": "AWSService", "invokedBy": "ses.amazonaws.com"}
    assert generate["requestParameters"]["encryptionContext"] == SES_CONTEXT
    assert generate["resources"][0]["ARN"] == key.arn
    assert "errorCode" not in generate
    assert (denied["eventName"], denied["errorCode"]) == ("Encrypt", "AccessDeniedException")
    assert denied["resources"][0]["ARN"] == key.arn

    s3_events = [r for r in by_request["req-root"] if r["userIdentity"].get("invokedBy") == "s3.amazonaws.com"]
    assert [r["eventName"] for r in s3_events] == ["Encrypt", "Decrypt"]
    for record in s3_events:
        assert record["userIdentity"]["type"] == "Root"
        assert record["sourceIPAddress"] == record["userAgent"] == "s3.amazonaws.com"
        assert record["requestParameters"]["encryptionContext"] == s3_context
        assert record["resources"][0]["ARN"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")

    for path in (settings.data_dir / "audit").rglob("*.json.gz"):
        content = gzip.decompress(path.read_bytes())
        for secret in (data_key, b"object key"):
            assert secret not in content
            assert base64.b64encode(secret) not in content


def test_what_kms_does_on_its_own_is_recorded_as_service_events(tmp_path: Path) -> None:
    """The runtime wires KmsService's key events to the trail as CloudTrail AwsServiceEvent records."""
    settings = Settings(data_dir=tmp_path / "data")
    boot = app.bootstrap(settings)
    runtime = app.open_runtime(settings)
    try:
        credential = runtime.identity.credential(boot.access_key_id)
        assert credential is not None
        root = RequestContext(principal=credential.principal, region=settings.region, request_id="req-root")
        key = runtime.kms.keys.create_key(root)
        details = (("rotationType", "AUTOMATIC"), ("previousKeyMaterialId", "a" * 64))
        runtime.kms.keyring.on_event(KeyEvent("RotateKey", key, 1_767_225_600.0, details))
    finally:
        runtime.close()
    [event] = [r for r in _records(settings.data_dir) if r["eventType"] == "AwsServiceEvent"]
    assert event == {
        "eventVersion": "1.08",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": None,
        "responseElements": None,
        "eventID": event["eventID"],
        "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key.arn}],
        "eventType": "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "serviceEventDetails": {
            "keyId": key.key_id,
            "rotationType": "AUTOMATIC",
            "previousKeyMaterialId": "a" * 64,
        },
        "eventCategory": "Management",
    }
