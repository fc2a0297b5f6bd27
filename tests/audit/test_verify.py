"""`verify_trail`: passes on an untouched trail; names the file after each kind of tampering."""

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.audit import AuditWriter, Problem, check_trail, public_key_pem, verify_trail
from keyhold.audit.digest import fingerprint, sign, signing_string
from support.audit import ACCOUNT, HOUR, START, Clock, root_event


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def event(request_id: str, when: float) -> dict[str, Any]:
    return root_event(request_id, when, "GenerateDataKey", KeySpec="AES_256")


@pytest.fixture
def trail(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> Path:
    """Node a: two log files an hour for three hours, a digest each hour and one on close (4 digests, 6 files).
    Node b, in the same directory: one log file and its closing digest."""
    directory, clock = tmp_path / "audit", Clock()
    node_a = AuditWriter(directory, node_id="node-a", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    node_b = AuditWriter(directory, node_id="node-b", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    node_b.record(event("b", clock.now))
    for hour in range(3):
        for minute in range(2):
            clock.now = START + hour * HOUR + minute * 60
            node_a.record(event(f"{hour}-{minute}", clock.now))
            node_a.flush()
        clock.now = START + (hour + 1) * HOUR + 1
        node_a.flush()
    clock.now += 60
    node_a.close()
    node_b.close()
    return directory


def logs(trail: Path, node: str = "node-a") -> list[Path]:
    return sorted(p for p in trail.rglob(f"*_CloudTrail_*_{node}_*.json.gz"))


def digest_files(trail: Path, node: str = "node-a") -> list[Path]:
    return sorted(trail.rglob(f"*_CloudTrail-Digest_*_{node}*.json.gz"))


def rel(trail: Path, path: Path) -> str:
    return path.relative_to(trail).as_posix()


def errors(trail: Path, key: rsa.RSAPrivateKey) -> list[Problem]:
    return [problem for problem in verify_trail(trail, public_key_pem(key)) if problem.error]


def test_an_untouched_trail_verifies(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    report = check_trail(trail, public_key_pem(signing_key))
    assert report.problems == []
    assert (report.log_files, report.digests) == (7, 5)


def test_a_changed_byte_in_a_log_file_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = logs(trail)[2]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    found = errors(trail, signing_key)
    assert [(p.kind, p.path) for p in found] == [("MODIFIED", rel(trail, target))]
    assert "does not match" in found[0].detail
    assert "CloudTrail-Digest" in found[0].detail
    assert str(found[0]).startswith(f"MODIFIED: {rel(trail, target)}: SHA-256 ")


def test_a_changed_gzip_header_byte_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = logs(trail)[0]
    data = bytearray(target.read_bytes())
    data[4] ^= 0x01  # the gzip header's mtime: the records are unchanged, the file is not
    target.write_bytes(bytes(data))
    assert [(p.kind, p.path) for p in errors(trail, signing_key)] == [("MODIFIED", rel(trail, target))]


def test_a_deleted_log_file_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = logs(trail)[3]
    target.unlink()
    found = errors(trail, signing_key)
    assert [(p.kind, p.path) for p in found] == [("DELETED", rel(trail, target))]
    assert "missing" in found[0].detail


def test_a_deleted_digest_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = digest_files(trail)[1]
    target.unlink()
    target.with_name(target.name + ".sig").unlink()
    found = errors(trail, signing_key)
    assert found[0].kind == "DELETED"
    assert found[0].path == rel(trail, target)
    # the log files only the deleted digest covered can no longer be checked, and are said to be so
    assert {(p.kind, p.path) for p in found[1:]} == {("UNVERIFIABLE", rel(trail, p)) for p in logs(trail)[2:4]}


def test_a_deleted_digest_whose_signature_remains_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = digest_files(trail)[-1]  # even the newest one
    target.unlink()
    found = errors(trail, signing_key)
    assert [(p.kind, p.path) for p in found] == [("DELETED", rel(trail, target))]


def test_swapped_log_files_are_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    first, second = logs(trail)[1], logs(trail)[4]
    temporary = first.with_name("swap")
    first.rename(temporary)
    second.rename(first)
    temporary.rename(second)
    found = errors(trail, signing_key)
    assert sorted((p.kind, p.path) for p in found) == sorted(
        [("MODIFIED", rel(trail, first)), ("MODIFIED", rel(trail, second))]
    )
    assert all("swapped" in p.detail for p in found)


def test_swapped_digests_are_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    first, second = digest_files(trail)[0], digest_files(trail)[2]
    for suffix in ("", ".sig"):
        a, b = first.with_name(first.name + suffix), second.with_name(second.name + suffix)
        temporary = a.with_name("swap")
        a.rename(temporary)
        b.rename(a)
        temporary.rename(b)
    found = errors(trail, signing_key)
    assert sorted((p.kind, p.path) for p in found) == sorted(
        [("REORDERED", rel(trail, first)), ("REORDERED", rel(trail, second))]
    )


def _rewrite_digest(path: Path, key: rsa.RSAPrivateKey, change: Any, keep_fingerprint: bool = False) -> None:
    digest = json.loads(gzip.decompress(path.read_bytes()))
    change(digest)
    if not keep_fingerprint:
        digest["digestPublicKeyFingerprint"] = fingerprint(key)
    data = gzip.compress(json.dumps(digest).encode())
    path.write_bytes(data)
    message = signing_string(digest["digestEndTime"], digest["digestS3Object"], data, digest["previousDigestSignature"])
    path.with_name(path.name + ".sig").write_text(sign(key, message))


@pytest.mark.parametrize("keep_fingerprint", [False, True])
def test_a_digest_re_signed_with_another_key_is_named(
    trail: Path, signing_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, keep_fingerprint: bool
) -> None:
    target = digest_files(trail)[1]
    hidden = logs(trail)[2]

    def drop_a_log_file(digest: dict[str, Any]) -> None:
        digest["logFiles"] = [e for e in digest["logFiles"] if e["s3Object"] != rel(trail, hidden)]

    _rewrite_digest(target, other_key, drop_a_log_file, keep_fingerprint)
    hidden.unlink()
    found = errors(trail, signing_key)
    assert [(p.kind, p.path) for p in found] == [
        ("FORGED", rel(trail, target)),
        ("UNVERIFIABLE", rel(trail, logs(trail)[2])),  # the other file the forged digest names
    ]


def test_a_modified_digest_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    target = digest_files(trail)[0]
    data = bytearray(target.read_bytes())
    data[-12] ^= 0x40
    target.write_bytes(bytes(data))
    found = errors(trail, signing_key)
    assert (found[0].kind, found[0].path) == ("MODIFIED", rel(trail, target))
    assert [(p.kind, p.path) for p in found[1:]] == [("UNVERIFIABLE", rel(trail, p)) for p in logs(trail)[:2]]


def test_an_inserted_log_file_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    source = logs(trail)[0]
    inserted = source.with_name(source.name.replace("_000001.", "_000999."))
    shutil.copyfile(source, inserted)
    found = errors(trail, signing_key)
    assert [(p.kind, p.path) for p in found] == [("INSERTED", rel(trail, inserted))]


def test_a_file_with_a_foreign_name_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    stray = trail / ACCOUNT / "us-east-1" / "2024" / "05" / "01" / "extra.json.gz"
    stray.write_bytes(gzip.compress(b'{"Records": []}'))
    assert [(p.kind, p.path) for p in errors(trail, signing_key)] == [("INSERTED", rel(trail, stray))]


def test_log_files_newer_than_the_last_digest_are_a_warning(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    directory, clock = tmp_path / "audit", Clock()
    writer = AuditWriter(directory, node_id="n", flush_interval=HOUR, clock=clock, signing_key=signing_key)
    writer.record(event("a", clock.now))
    clock.now = START + HOUR
    writer.flush()  # a log file and the first digest
    writer.record(event("b", clock.now))
    writer.flush()  # a log file no digest covers yet
    report = check_trail(directory, public_key_pem(signing_key))
    assert report.errors == []
    assert [p.kind for p in report.warnings] == ["NOT YET COVERED"]
    assert "not yet covered by a digest" in report.warnings[0].detail
    writer.close()
    assert check_trail(directory, public_key_pem(signing_key)).problems == []


def test_verifying_with_another_public_key_fails_on_every_digest(trail: Path, other_key: rsa.RSAPrivateKey) -> None:
    found = errors(trail, other_key)
    assert {p.kind for p in found} >= {"FORGED"}
    assert {p.path for p in found if p.kind == "FORGED"} == {
        rel(trail, p) for p in trail.rglob("*_CloudTrail-Digest_*.json.gz")
    }


def test_a_digest_whose_previous_link_does_not_match_is_named(trail: Path, signing_key: rsa.RSAPrivateKey) -> None:
    first, _, third = digest_files(trail)[:3]

    def skip_back(digest: dict[str, Any]) -> None:  # even signed with the trail's own key
        digest["previousDigestS3Object"] = rel(trail, first)

    _rewrite_digest(third, signing_key, skip_back)
    found = errors(trail, signing_key)
    assert ("REORDERED", rel(trail, third)) in [(p.kind, p.path) for p in found]
    assert all(p.kind == "REORDERED" for p in found), [str(p) for p in found]
