"""`search`: filters by key (id or ARN), event name, principal, time and encryption context."""

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.audit import AuditWriter, api_event, key_resource, search

START = 1714557600.0  # 2024-05-01T10:00:00Z
ACCOUNT = "111122223333"
KEY_A = "aaaaaaaa-1111-2222-3333-444444444444"
KEY_B = "bbbbbbbb-1111-2222-3333-444444444444"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def arn(key_id: str) -> str:
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


def event(
    name: str,
    request_id: str,
    when: float,
    principal: str,
    params: dict[str, Any],
    key: str | None,
    error: bool = False,
) -> dict[str, Any]:
    return api_event(
        event_name=name,
        request_id=request_id,
        event_time=when,
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        principal_arn=principal,
        account_id=ACCOUNT,
        principal_id="AIDAALICE" if principal == ALICE else ACCOUNT,
        access_key_id="AKIAALICE" if principal == ALICE else "AKIAROOT",
        is_root=principal == ROOT,
        request_parameters=params,
        response_elements=None,
        resources=[key_resource(ACCOUNT, arn(key))] if key else [],
        error_code="AccessDeniedException" if error else None,
        error_message="denied" if error else None,
        read_only=True,
    )


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("search") / "audit"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    clock_now = [START + 86400]
    writer = AuditWriter(directory, node_id="n", flush_interval=3600, clock=lambda: clock_now[0], signing_key=key)
    events = [
        event(
            "Encrypt",
            "1",
            START,
            ALICE,
            {"KeyId": "alias/app", "EncryptionContext": {"app": "web", "env": "prod"}},
            KEY_A,
        ),
        event("Decrypt", "2", START + 60, ALICE, {"EncryptionContext": {"app": "web", "env": "dev"}}, KEY_A),
        event("GenerateDataKey", "3", START + 120, ROOT, {"KeyId": arn(KEY_B), "KeySpec": "AES_256"}, KEY_B),
        event("Decrypt", "4", START + 180, ALICE, {"KeyId": KEY_B}, None, error=True),
        event(
            "ReEncrypt",
            "5",
            START + 240,
            ROOT,
            {"DestinationKeyId": KEY_A, "SourceEncryptionContext": {"app": "web"}},
            None,
        ),
        event("ListKeys", "6", START + 300, ROOT, {}, None),
    ]
    for index, record in enumerate(events):
        writer.record(record)
        if index % 2:
            writer.flush()
    writer.close()
    return directory


def ids(records: Any) -> list[str]:
    return [record["requestID"] for record in records]


def test_no_filter_finds_everything_once(trail: Path) -> None:
    assert ids(search(trail)) == ["1", "2", "3", "4", "5", "6"]


def test_by_key_id_or_arn(trail: Path) -> None:
    assert ids(search(trail, key=KEY_A)) == ["1", "2", "5"]
    assert ids(search(trail, key=arn(KEY_A))) == ["1", "2", "5"]
    assert ids(search(trail, key=KEY_B)) == ["3", "4"]
    assert ids(search(trail, key=arn(KEY_B))) == ["3", "4"]
    assert ids(search(trail, key="alias/app")) == ["1"]
    assert ids(search(trail, key="cccccccc-1111-2222-3333-444444444444")) == []


def test_by_event_name(trail: Path) -> None:
    assert ids(search(trail, event_name="Decrypt")) == ["2", "4"]


def test_by_principal(trail: Path) -> None:
    assert ids(search(trail, principal=ALICE)) == ["1", "2", "4"]
    assert ids(search(trail, principal=ROOT)) == ["3", "5", "6"]
    assert ids(search(trail, principal="alice")) == ["1", "2", "4"]


def test_by_time_range(trail: Path) -> None:
    assert ids(search(trail, start=START + 60, end=START + 180)) == ["2", "3", "4"]
    assert ids(search(trail, start=START + 240)) == ["5", "6"]
    assert ids(search(trail, end=START)) == ["1"]
    assert ids(search(trail, start=START + 86400 * 2)) == []


def test_by_encryption_context(trail: Path) -> None:
    assert ids(search(trail, context={"app": "web"})) == ["1", "2", "5"]
    assert ids(search(trail, context={"app": "web", "env": "prod"})) == ["1"]
    assert ids(search(trail, context={"env": "test"})) == []


def test_filters_combine(trail: Path) -> None:
    assert ids(search(trail, key=KEY_A, event_name="Decrypt", principal=ALICE, context={"env": "dev"})) == ["2"]


def test_a_missing_trail_finds_nothing(tmp_path: Path) -> None:
    assert list(search(tmp_path / "none")) == []
