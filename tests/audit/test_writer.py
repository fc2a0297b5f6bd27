"""The audit writer: queued off the request path, written as complete gzip JSON files, nothing lost silently."""

import base64
import gzip
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import keyhold.audit.writer as writer_module
from keyhold.audit import AuditWriter, api_event, check_trail, default_node_id, key_resource, public_key_pem
from keyhold.audit.digest import load_or_create_signing_key
from support.audit import ACCOUNT, START, Clock

LOG_NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9.-]+)_(\d{6,})\.json\.gz")


def event(name: str = "Encrypt", *, request_id: str = "r", region: str = "us-east-1", **params: Any) -> dict[str, Any]:
    return api_event(
        event_name=name,
        request_id=request_id,
        event_time=START,
        region=region,
        source_ip="127.0.0.1",
        user_agent="test",
        principal_arn=f"arn:aws:iam::{ACCOUNT}:root",
        account_id=ACCOUNT,
        principal_id=ACCOUNT,
        access_key_id="AKIAEXAMPLE",
        is_root=True,
        request_parameters={"KeyId": "k", **params},
        response_elements=None,
        resources=[key_resource(ACCOUNT, f"arn:aws:kms:{region}:{ACCOUNT}:key/k")],
        error_code=None,
        error_message=None,
        read_only=True,
    )


def log_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json.gz") if "_CloudTrail_" in p.name)


def all_records(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in log_files(directory):
        document = json.loads(gzip.decompress(path.read_bytes()))
        assert list(document) == ["Records"]
        records.extend(document["Records"])
    return records


def make_writer(directory: Path, key: rsa.RSAPrivateKey, **kwargs: Any) -> AuditWriter:
    kwargs.setdefault("node_id", "node-a")
    kwargs.setdefault("flush_interval", 3600.0)
    kwargs.setdefault("clock", Clock())
    return AuditWriter(directory, signing_key=key, **kwargs)


def test_records_are_written_once_as_gzip_json_files(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key)
    for batch in range(3):
        for index in range(5):
            writer.record(event(request_id=f"{batch}-{index}"))
        writer.flush()
    writer.flush()  # nothing queued: no empty file
    writer.close()
    files = log_files(trail)
    assert len(files) == 3
    for path in files:
        match = LOG_NAME.fullmatch(path.name)
        assert match is not None, path.name
        assert match.groups()[:5] == (ACCOUNT, "us-east-1", "20240501T1000Z", "node-a", match.group(5))
        assert path.parent.relative_to(trail).as_posix() == f"{ACCOUNT}/us-east-1/2024/05/01"
    ids = sorted(record["requestID"] for record in all_records(trail))
    assert ids == sorted(f"{b}-{i}" for b in range(3) for i in range(5))


def test_no_temporary_or_partial_files_are_left(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key)
    writer.record(event())
    writer.close()
    names = [p.name for p in trail.rglob("*")]
    assert not [name for name in names if name.endswith(".tmp") or name.startswith(".")]
    for path in trail.rglob("*.json.gz"):
        json.loads(gzip.decompress(path.read_bytes()))  # every visible file is complete


def test_record_does_no_io(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key)
    for _ in range(100):
        writer.record(event())
    assert log_files(trail) == []
    writer.flush()
    assert len(log_files(trail)) == 1
    writer.close()


def test_the_background_thread_writes_within_the_flush_interval(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key, flush_interval=0.02)
    writer.record(event())
    deadline = time.monotonic() + 10
    waiter = threading.Event()
    while writer.files_written == 0 and time.monotonic() < deadline:
        waiter.wait(0.01)
    assert writer.files_written == 1
    writer.close()
    assert len(all_records(trail)) == 1


def test_large_batches_are_split_by_max_records_per_file(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key, max_records_per_file=4)
    for index in range(10):
        writer.record(event(request_id=str(index)))
    writer.close()
    sizes = [len(json.loads(gzip.decompress(p.read_bytes()))["Records"]) for p in log_files(trail)]
    assert sizes == [4, 4, 2]
    assert [r["requestID"] for r in all_records(trail)] == [str(i) for i in range(10)]


def test_each_account_and_region_gets_its_own_files(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key)
    writer.record(event(region="us-east-1"))
    writer.record(event(region="eu-west-1"))
    writer.close()
    regions = sorted(p.relative_to(trail).parts[1] for p in log_files(trail))
    assert regions == ["eu-west-1", "us-east-1"]
    assert check_trail(trail, public_key_pem(signing_key)).problems == []


def test_several_writers_share_a_directory(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    clock = Clock()
    writers = [make_writer(trail, signing_key, node_id=f"host-{n}", clock=clock) for n in range(3)]
    for round_ in range(2):
        for n, writer in enumerate(writers):
            writer.record(event(request_id=f"{n}-{round_}"))
            writer.flush()
    for writer in writers:
        writer.close()
    names = [p.name for p in log_files(trail)]
    assert len(names) == len(set(names)) == 6
    assert {name.split("_")[4] for name in names} == {"host-0", "host-1", "host-2"}
    assert len(all_records(trail)) == 6
    report = check_trail(trail, public_key_pem(signing_key))
    assert report.problems == []
    assert (report.log_files, report.digests) == (6, 3)


def test_a_failed_write_keeps_the_records_for_the_next_one(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key)
    for index in range(3):
        writer.record(event(request_id=str(index)))
    real = writer_module.write_new_file

    def failing(path: Path, data: bytes, mode: int = 0o600) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "write_new_file", failing)
    with pytest.raises(OSError, match="No space"):
        writer.flush()
    writer.record(event(request_id="3"))
    monkeypatch.setattr(writer_module, "write_new_file", real)
    writer.close()
    assert [r["requestID"] for r in all_records(trail)] == ["0", "1", "2", "3"]


def test_a_write_failing_midway_writes_each_record_once_later(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key, max_records_per_file=2)
    for index in range(6):
        writer.record(event(request_id=str(index), region=("us-east-1", "eu-west-1")[index % 2]))
    real = writer_module.write_new_file
    calls: list[Path] = []

    def fail_the_second(path: Path, data: bytes, mode: int = 0o600) -> bool:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(path, data, mode)

    monkeypatch.setattr(writer_module, "write_new_file", fail_the_second)
    with pytest.raises(OSError, match="Input/output"):
        writer.flush()
    writer.close()
    assert sorted(r["requestID"] for r in all_records(trail)) == [str(i) for i in range(6)]
    assert check_trail(trail, public_key_pem(signing_key)).problems == []


def test_overflow_is_counted_logged_and_reported_in_the_digest(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    trail = tmp_path / "audit"
    writer = make_writer(trail, signing_key, max_queued=2)
    for index in range(5):
        writer.record(event(request_id=str(index)))
    assert writer.dropped_total == 3
    with caplog.at_level(logging.WARNING, logger="keyhold.audit"):
        writer.close()
    assert any("3 records" in message and "dropped" in message for message in caplog.messages)
    assert [r["requestID"] for r in all_records(trail)] == ["0", "1"]
    digest = json.loads(gzip.decompress(next(trail.rglob("*CloudTrail-Digest*.json.gz")).read_bytes()))
    assert digest["keyholdDroppedRecords"] == 3
    report = check_trail(trail, public_key_pem(signing_key))
    assert report.errors == []
    assert [(p.kind, "3 records" in p.detail) for p in report.warnings] == [("DROPPED RECORDS", True)]


def test_records_after_close_are_counted_as_dropped(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    writer = make_writer(tmp_path / "audit", signing_key)
    writer.close()
    writer.close()
    writer.record(event())
    assert writer.dropped_total == 1


def test_node_ids_must_be_safe_in_file_names(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    for bad in ("", "a_b", "../x", "a/b", "x" * 65):
        with pytest.raises(ValueError, match="node id"):
            make_writer(tmp_path / "audit", signing_key, node_id=bad)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*-\d+", default_node_id())


def test_no_secret_reaches_any_file(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail = tmp_path / "audit"
    plaintext = b"correct horse battery staple 1234567890"
    encoded = base64.b64encode(plaintext)
    writer = make_writer(trail, signing_key)
    writer.record(event("Encrypt", Plaintext=plaintext, EncryptionContext={"purpose": "test"}))
    writer.record(event("Encrypt", Plaintext=encoded.decode()))  # the raw JSON member, still base64
    writer.record(event("Decrypt", CiphertextBlob=plaintext))
    writer.close()
    files = [p for p in trail.rglob("*") if p.is_file()]
    assert len(files) == 3  # the log file, the digest and its signature
    for path in files:
        data = path.read_bytes()
        contents = [data, gzip.decompress(data)] if path.name.endswith(".gz") else [data]
        for content in contents:
            assert plaintext not in content, path
            assert encoded not in content, path
    records = all_records(trail)
    assert records[0]["requestParameters"] == {"keyId": "k", "encryptionContext": {"purpose": "test"}}


def test_processes_racing_to_create_the_signing_key_agree(tmp_path: Path) -> None:
    path = tmp_path / "signing-key.pem"
    barrier = threading.Barrier(4)
    keys: list[bytes] = []

    def create() -> None:
        barrier.wait()
        keys.append(public_key_pem(load_or_create_signing_key(path)))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 4
    assert len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["signing-key.pem"]


def test_the_signing_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "signing-key.pem"
    path.parent.mkdir()
    first = load_or_create_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    second = load_or_create_signing_key(path)
    assert public_key_pem(first) == public_key_pem(second)
    writer = AuditWriter(tmp_path / "audit", node_id="n1", flush_interval=3600)
    writer.record(event())
    writer.close()
    assert check_trail(tmp_path / "audit", public_key_pem(first)).problems == []
