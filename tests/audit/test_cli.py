"""`keyhold audit verify | search | public-key`, through the argparse wiring src/keyhold/cli.py will use."""

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.audit import AuditWriter, api_event, key_resource
from keyhold.audit.cli import add_audit_commands, run
from keyhold.audit.digest import load_or_create_signing_key, public_key_pem

START = 1714557600.0  # 2024-05-01T10:00:00Z
ACCOUNT = "000000000000"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY}"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keyhold")
    commands = parser.add_subparsers(dest="command", required=True)
    add_audit_commands(commands)
    return parser.parse_args(["audit", *argv])


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(parse(*argv), out, err)
    return status, out.getvalue(), err.getvalue()


def event(name: str, when: float, context: dict[str, str], error: str | None = None) -> dict[str, Any]:
    return api_event(
        event_name=name,
        request_id=f"{name}-{when}",
        event_time=when,
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        principal_arn=ALICE,
        account_id=ACCOUNT,
        principal_id="AIDAALICE",
        access_key_id="AKIAALICE",
        is_root=False,
        request_parameters={"KeyId": KEY, "EncryptionContext": context},
        response_elements=None,
        resources=[key_resource(ACCOUNT, KEY_ARN)],
        error_code=error,
        error_message="denied" if error else None,
        read_only=True,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose audit trail was written with the key generated in <data-dir>/audit/."""
    data = tmp_path / "data"
    clock = [START]
    writer = AuditWriter(data / "audit", node_id="node-1", flush_interval=3600, clock=lambda: clock[0])
    writer.record(event("Encrypt", START, {"app": "web"}))
    writer.record(event("Decrypt", START + 60, {"app": "batch"}, error="AccessDeniedException"))
    writer.flush()
    clock[0] = START + 3600
    writer.record(event("GenerateDataKey", START + 3600, {"app": "web"}))
    writer.close()
    return data


def test_verify_passes_on_an_untouched_trail(data_dir: Path) -> None:
    status, out, _ = call("verify", "--data-dir", str(data_dir))
    assert status == 0
    assert out.splitlines() == ["OK: 2 log files, 1 digest verified"]


def test_verify_fails_naming_the_modified_file(data_dir: Path) -> None:
    target = sorted((data_dir / "audit").rglob("*_CloudTrail_*.json.gz"))[0]
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    status, out, _ = call("verify", "--data-dir", str(data_dir))
    assert status == 1
    lines = out.splitlines()
    relative = target.relative_to(data_dir / "audit").as_posix()
    assert lines[0].startswith(f"MODIFIED: {relative}: SHA-256 ")
    assert "does not match" in lines[0]
    assert lines[-1] == "FAILED: 1 problem found; 1 log file, 1 digest verified"


def test_verify_with_an_exported_public_key(data_dir: Path, tmp_path: Path) -> None:
    status, pem, _ = call("public-key", "--data-dir", str(data_dir))
    assert status == 0
    exported = tmp_path / "trail.pub"
    exported.write_text(pem)
    assert call("verify", "--data-dir", str(data_dir), "--public-key", str(exported))[0] == 0
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    exported.write_bytes(public_key_pem(other))
    status, out, _ = call("verify", "--data-dir", str(data_dir), "--public-key", str(exported))
    assert status == 1
    assert "FORGED: " in out


def test_public_key_prints_the_signing_key_s_public_half(data_dir: Path) -> None:
    status, out, _ = call("public-key", "--data-dir", str(data_dir))
    assert status == 0
    key = load_or_create_signing_key(data_dir / "audit" / "signing-key.pem")
    assert out.encode() == public_key_pem(key)
    assert isinstance(serialization.load_pem_public_key(out.encode()), rsa.RSAPublicKey)


def test_public_key_creates_the_key_on_first_use(tmp_path: Path) -> None:
    status, out, _ = call("public-key", "--data-dir", str(tmp_path))
    assert status == 0
    assert out.startswith("-----BEGIN PUBLIC KEY-----")
    assert (tmp_path / "audit" / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert call("public-key", "--data-dir", str(tmp_path))[1] == out


def test_verify_without_a_trail_or_key_fails_clearly(tmp_path: Path) -> None:
    status, _, err = call("verify", "--data-dir", str(tmp_path))
    assert status == 1
    assert "no audit trail" in err
    (tmp_path / "audit").mkdir()
    status, _, err = call("verify", "--data-dir", str(tmp_path))
    assert status == 1
    assert "--public-key" in err


def test_search_prints_a_table(data_dir: Path) -> None:
    status, out, _ = call("search", "--data-dir", str(data_dir), "--key", KEY_ARN)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "EVENT", "PRINCIPAL", "KEY", "RESULT"]
    assert [line.split() for line in lines[1:]] == [
        ["2024-05-01T10:00:00Z", "Encrypt", ALICE, KEY_ARN, "OK"],
        ["2024-05-01T10:01:00Z", "Decrypt", ALICE, KEY_ARN, "AccessDeniedException"],
        ["2024-05-01T11:00:00Z", "GenerateDataKey", ALICE, KEY_ARN, "OK"],
    ]


def test_search_filters_and_prints_json_lines(data_dir: Path) -> None:
    status, out, _ = call(
        "search",
        "--data-dir",
        str(data_dir),
        "--event",
        "GenerateDataKey",
        "--principal",
        ALICE,
        "--start",
        "2024-05-01T10:30:00Z",
        "--end",
        "2024-05-01T12:00",
        "--context",
        "app=web",
        "--json",
    )
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["eventName"], r["requestParameters"]["encryptionContext"]) for r in records] == [
        ("GenerateDataKey", {"app": "web"})
    ]
    _, out, _ = call("search", "--data-dir", str(data_dir), "--context", "app=web", "--json")
    assert [json.loads(line)["eventName"] for line in out.splitlines()] == ["Encrypt", "GenerateDataKey"]


def test_bad_arguments_are_usage_errors(data_dir: Path) -> None:
    with pytest.raises(SystemExit):
        parse("search", "--data-dir", str(data_dir), "--start", "yesterday")
    with pytest.raises(SystemExit):
        parse("search", "--data-dir", str(data_dir), "--context", "novalue")
