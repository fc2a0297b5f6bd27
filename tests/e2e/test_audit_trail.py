"""The audit trail through a real server: every KMS call once, no secrets, and `keyhold audit verify`."""

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.kms import new_key, unique
from support.server import KeyholdServer


def keyhold_audit(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "keyhold", "audit", *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def records(data_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((data_dir / "audit").rglob("*.json.gz")):
        if "Digest" not in path.name:
            found.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    return found


ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture
def audited(make_server: Any) -> tuple[KeyholdServer, dict[str, Any]]:
    """A server that served allowed and denied calls and then stopped (its trail flushed and digested)."""
    server: KeyholdServer = make_server(extra_args=("--audit-flush-interval", "0.2"))
    kms = server.client("kms")
    key = new_key(kms, Description="audited")
    context = {"tenant": unique("acme")}
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext=context)
    kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)
    secret = b"the plaintext nobody may log"
    kms.encrypt(KeyId=key["KeyId"], Plaintext=secret, EncryptionContext=context)
    iam = server.client("iam")
    iam.create_user(UserName="intruder")
    access = iam.create_access_key(UserName="intruder")["AccessKey"]
    intruder = server.client(
        "kms", aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
    )
    with pytest.raises(ClientError):
        intruder.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    intruder_iam = server.client(
        "iam", aws_access_key_id=access["AccessKeyId"], aws_secret_access_key=access["SecretAccessKey"]
    )
    with pytest.raises(ClientError):
        intruder_iam.put_user_policy(UserName="intruder", PolicyName="escalate", PolicyDocument=ADMIN_POLICY)
    server.client("sts").get_caller_identity()
    assert server.stop() == 0
    facts = {
        "key": key,
        "context": context,
        "data_key": data_key["Plaintext"],
        "secret": secret,
        "access_key": access,
    }
    return server, facts


def test_every_call_is_recorded_once_with_its_context(audited: tuple[KeyholdServer, dict[str, Any]]) -> None:
    server, facts = audited
    trail = records(server.data_dir)
    names = [r["eventName"] for r in trail if r.get("resources") and r["resources"][0]["ARN"] == facts["key"]["Arn"]]
    assert sorted(names) == sorted(["CreateKey", "GenerateDataKey", "Decrypt", "Encrypt", "Encrypt"])
    generate = next(r for r in trail if r["eventName"] == "GenerateDataKey")
    assert generate["requestParameters"]["encryptionContext"] == facts["context"]
    assert generate["requestParameters"]["keySpec"] == "AES_256"
    assert generate["userIdentity"]["type"] == "Root"
    denied = [r for r in trail if r.get("errorCode") == "AccessDeniedException"]
    assert len(denied) == 1
    assert denied[0]["userIdentity"]["arn"].endswith(":user/intruder")
    assert len({r["eventID"] for r in trail}) == len(trail)


def test_iam_and_sts_calls_are_recorded(audited: tuple[KeyholdServer, dict[str, Any]]) -> None:
    server, facts = audited
    trail = records(server.data_dir)
    iam = [r for r in trail if r["eventSource"] == "iam.amazonaws.com"]
    assert [r["eventName"] for r in iam] == ["CreateUser", "CreateAccessKey", "PutUserPolicy"]
    assert {r["awsRegion"] for r in iam} == {"us-east-1"}  # IAM is global: CloudTrail records it in us-east-1
    create_user, create_key, escalate = iam
    assert create_user["requestParameters"] == {"userName": "intruder"}
    assert create_user["responseElements"]["user"]["userName"] == "intruder"
    assert create_key["responseElements"]["accessKey"]["accessKeyId"] == facts["access_key"]["AccessKeyId"]
    assert "secretAccessKey" not in create_key["responseElements"]["accessKey"]
    assert escalate["errorCode"] == "AccessDenied"
    assert escalate["userIdentity"]["userName"] == "intruder"
    assert escalate["responseElements"] is None
    assert escalate["readOnly"] is False
    sts = [r for r in trail if r["eventSource"] == "sts.amazonaws.com"]
    # one from the test harness waiting for the server to serve, one from the fixture
    assert [(r["eventName"], r["readOnly"], r["userIdentity"]["type"]) for r in sts] == [
        ("GetCallerIdentity", True, "Root")
    ] * 2


def test_no_secret_reaches_the_trail(audited: tuple[KeyholdServer, dict[str, Any]]) -> None:
    server, facts = audited
    needles = [facts["secret"], facts["data_key"], facts["access_key"]["SecretAccessKey"].encode()]
    needles += [base64.b64encode(n) for n in needles]
    for path in (server.data_dir / "audit").rglob("*"):
        if path.is_file() and path.name != "signing-key.pem":
            data = path.read_bytes()
            contents = [data, gzip.decompress(data)] if path.name.endswith(".gz") else [data]
            for content in contents:
                for needle in needles:
                    assert needle not in content, path


def test_verify_passes_then_names_a_modified_log_file(audited: tuple[KeyholdServer, dict[str, Any]]) -> None:
    server, _ = audited
    ok = keyhold_audit(server.data_dir, "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    log_file = next(p for p in (server.data_dir / "audit").rglob("*_CloudTrail_*.json.gz"))
    data = bytearray(log_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    log_file.write_bytes(bytes(data))
    bad = keyhold_audit(server.data_dir, "verify")
    assert bad.returncode == 1
    assert log_file.name in bad.stdout + bad.stderr


def test_search_by_key_and_context(audited: tuple[KeyholdServer, dict[str, Any]]) -> None:
    server, facts = audited
    (pair,) = facts["context"].items()
    found = keyhold_audit(
        server.data_dir, "search", "--key", facts["key"]["KeyId"], "--context", f"{pair[0]}={pair[1]}", "--json"
    )
    assert found.returncode == 0, found.stderr
    events = [json.loads(line) for line in found.stdout.splitlines() if line.strip()]
    assert sorted(e["eventName"] for e in events) == ["Decrypt", "Encrypt", "GenerateDataKey"]


def test_audit_off_keeps_no_trail(make_server: Any) -> None:
    server: KeyholdServer = make_server(extra_args=("--audit", "off"))
    kms = server.client("kms")
    key = new_key(kms, Description="not audited")
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    server.client("iam").create_user(UserName=unique("unaudited"))
    assert server.stop() == 0
    assert records(server.data_dir) == []
