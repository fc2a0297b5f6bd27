"""Digest files: hourly, chained to the previous digest, hashing every log file, signed as audit-digest.md says."""

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import keyhold.audit.writer as writer_module
from keyhold.audit import AuditWriter, check_trail, public_key_pem
from keyhold.audit.digest import signing_string
from support.audit import ACCOUNT, HOUR, START, Clock, root_event


def event(request_id: str, when: float) -> dict[str, Any]:
    return root_event(request_id, when, "Decrypt")


def digests(trail: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = [(p, json.loads(gzip.decompress(p.read_bytes()))) for p in trail.rglob("*_CloudTrail-Digest_*.json.gz")]
    return sorted(found, key=lambda item: (item[1]["digestEndTime"], item[0].name))


def simulate_crash(writer: AuditWriter) -> None:
    """What the death of the writer's process leaves: its files, no final digest, and the node id free again."""
    writer._stopping.set()
    writer._thread.join()
    with writer_module._active_lock:
        writer_module._active.discard(writer._identity)


def independent_verify(key: rsa.RSAPublicKey, path: Path, digest: dict[str, Any]) -> None:
    """The signature check written from docs/formats/audit-digest.md, without keyhold's helpers."""
    data = path.read_bytes()
    signed = "\n".join(
        [
            digest["digestEndTime"],
            digest["digestS3Object"],
            hashlib.sha256(data).hexdigest(),
            digest["previousDigestSignature"] or "null",
        ]
    ).encode("utf-8")
    signature = bytes.fromhex(path.with_name(path.name + ".sig").read_text().strip())
    key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())


def test_digests_chain_hash_and_sign(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail, clock = tmp_path / "audit", Clock()
    writer = AuditWriter(trail, node_id="node-a", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    for hour in range(3):
        for minute in range(2):
            clock.now = START + hour * HOUR + minute * 60
            writer.record(event(f"{hour}-{minute}", clock.now))
            writer.flush()
        clock.now = START + (hour + 1) * HOUR + 1
        writer.flush()
    writer.close()
    found = digests(trail)
    assert len(found) == 4  # three hourly digests and the (empty) one written on close
    public = signing_key.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    previous: tuple[Path, dict[str, Any]] | None = None
    for path, digest in found:
        independent_verify(public, path, digest)
        assert digest["digestS3Object"] == path.relative_to(trail).as_posix()
        assert digest["digestSignatureAlgorithm"] == "SHA256withRSA"
        assert digest["digestPublicKeyFingerprint"] == hashlib.sha256(der).hexdigest()
        assert digest["keyholdNodeId"] == "node-a"
        if previous is None:
            assert digest["previousDigestS3Object"] is None
            assert digest["previousDigestHashValue"] is None
            assert digest["previousDigestSignature"] is None
        else:
            prev_path, prev = previous
            assert digest["previousDigestS3Object"] == prev["digestS3Object"]
            assert digest["previousDigestHashValue"] == hashlib.sha256(prev_path.read_bytes()).hexdigest()
            assert digest["previousDigestSignature"] == prev_path.with_name(prev_path.name + ".sig").read_text().strip()
            assert digest["digestStartTime"] == prev["digestEndTime"]
        for entry in digest["logFiles"]:
            data = (trail / entry["s3Object"]).read_bytes()
            assert entry["hashValue"] == hashlib.sha256(data).hexdigest()
            assert entry["hashAlgorithm"] == "SHA-256"
            times = [r["eventTime"] for r in json.loads(gzip.decompress(data))["Records"]]
            assert (entry["oldestEventTime"], entry["newestEventTime"]) == (min(times), max(times))
        previous = path, digest
    assert [len(d["logFiles"]) for _, d in found] == [2, 2, 2, 0]
    assert found[0][1]["digestStartTime"] == "2024-05-01T10:00:00Z"
    assert found[0][1]["digestEndTime"] == "2024-05-01T11:00:01Z"
    assert found[0][0].name == f"{ACCOUNT}_CloudTrail-Digest_us-east-1_20240501T1100Z_node-a.json.gz"
    assert found[0][0].parent.relative_to(trail).as_posix() == f"{ACCOUNT}/us-east-1/digest/2024/05/01"


def test_a_digest_is_due_only_on_the_hour(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail, clock = tmp_path / "audit", Clock(START + 600)
    writer = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    writer.record(event("a", clock.now))
    writer.flush()
    clock.now = START + HOUR - 1
    writer.flush()
    assert digests(trail) == []
    clock.now = START + HOUR
    writer.flush()
    assert len(digests(trail)) == 1
    writer.close()


def test_empty_hours_still_get_digests(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail, clock = tmp_path / "audit", Clock()
    writer = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    writer.record(event("a", clock.now))
    writer.flush()
    for hour in range(1, 4):
        clock.now = START + hour * HOUR
        writer.flush()
    writer.close()
    assert [len(d["logFiles"]) for _, d in digests(trail)] == [1, 0, 0, 0]
    assert check_trail(trail, public_key_pem(signing_key)).problems == []


def test_two_digests_in_one_minute_get_distinct_names(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail, clock = tmp_path / "audit", Clock(START + HOUR - 30)
    writer = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    clock.now = START + HOUR + 1
    writer.record(event("a", clock.now))
    writer.flush()  # the hourly digest
    writer.record(event("b", clock.now))
    writer.close()  # the final digest, in the same minute
    names = [path.name for path, _ in digests(trail)]
    assert names == [
        f"{ACCOUNT}_CloudTrail-Digest_us-east-1_20240501T1100Z_n.json.gz",
        f"{ACCOUNT}_CloudTrail-Digest_us-east-1_20240501T1100Z_n_1.json.gz",
    ]
    assert check_trail(trail, public_key_pem(signing_key)).problems == []


def test_a_restart_with_the_same_node_id_continues_the_chain(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    trail, clock = tmp_path / "audit", Clock()
    first = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    first.record(event("a", clock.now))
    first.close()
    clock.now += 120
    crashed = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    crashed.record(event("b", clock.now))
    crashed.flush()  # a log file, then the process dies before any digest covers it
    simulate_crash(crashed)
    report = check_trail(trail, public_key_pem(signing_key))
    assert report.errors == []
    assert [p.kind for p in report.warnings] == ["NOT YET COVERED"]
    clock.now += 120
    restarted = AuditWriter(trail, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    restarted.record(event("c", clock.now))
    restarted.close()
    found = digests(trail)
    assert len(found) == 2
    assert found[1][1]["previousDigestS3Object"] == found[0][1]["digestS3Object"]
    assert len(found[1][1]["logFiles"]) == 2  # the orphan adopted, and the new file
    report = check_trail(trail, public_key_pem(signing_key))
    assert report.problems == []
    assert (report.log_files, report.digests) == (3, 2)


def test_one_process_cannot_open_two_writers_for_one_node(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    first = AuditWriter(tmp_path / "audit", node_id="n", flush_interval=HOUR, signing_key=signing_key)
    with pytest.raises(ValueError, match="already open"):
        AuditWriter(tmp_path / "audit", node_id="n", flush_interval=HOUR, signing_key=signing_key)
    AuditWriter(tmp_path / "audit", node_id="n-jobs", flush_interval=HOUR, signing_key=signing_key).close()
    first.close()
    AuditWriter(tmp_path / "audit", node_id="n", flush_interval=HOUR, signing_key=signing_key).close()


def test_signing_string_known_answer() -> None:
    message = signing_string(
        "2024-05-01T11:00:01Z",
        "000000000000/us-east-1/digest/2024/05/01/000000000000_CloudTrail-Digest_us-east-1_20240501T1100Z_n.json.gz",
        b"digest bytes",
        None,
    )
    assert message == (
        b"2024-05-01T11:00:01Z\n"
        b"000000000000/us-east-1/digest/2024/05/01/000000000000_CloudTrail-Digest_us-east-1_20240501T1100Z_n.json.gz\n"
        b"40d63304677eda51d5ce4d70e78017d5fbc612e677ab8ef0328b5e6c876c9b88\n"
        b"null"
    )
