"""Tampering with what an encrypted object leaves on disk, through a real `keyhold serve` and boto3.

The stored chunks (files under <data-dir>/blobs) and the metadata row (table s3_objects in <data-dir>/keyhold.db:
the `encryption` envelope, `size`, `parts`) are changed behind the server's back, while it runs. A GET must then
fail (an S3 error, or a connection cut after the status line when the damage is further in) and never return
bytes other than the object's own; a ranged GET may return the exact bytes of an undamaged part of the object.
Once the damage is undone the object reads back whole again.

Also: the data directory holds ciphertext only (no plaintext, no SSE-C key or key MD5 anywhere), and the server
keeps serving after every failure.
"""

import base64
import copy
import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support.kms import new_key
from support.s3 import (
    CHUNK,
    HEADER,
    TAG,
    MiB,
    blob_ids,
    blob_path,
    body,
    closing,
    customer_key,
    database,
    flip,
    get_bytes,
    key_md5,
    marked_body,
    md5_hex,
    new_bucket,
    object_row,
    read_outcome,
    ssec,
    update_object_row,
)
from support.server import KeyholdServer

MODES = ["sse-s3", "kms", "kms-bucket-key", "dsse", "sse-c"]
SIZE = 3 * CHUNK + 100  # four chunks, the last one short


@pytest.fixture(scope="module")
def tamper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    """A server of this module's own: its blobs and database are damaged on purpose."""
    instance = KeyholdServer(tmp_path_factory.mktemp("tamper") / "data").start()
    yield instance
    assert instance.stop() == 0, instance.log()


@pytest.fixture(scope="module")
def s3(tamper_server: KeyholdServer) -> Iterator[Any]:
    """A client that does not validate response checksums itself (boto3 does by default, for single-part
    objects): what is tested is that the server never serves damaged data, not that boto3 would notice."""
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path"},
        response_checksum_validation="when_required",
    )
    with closing(tamper_server.s3(secure=True, config=config)) as client:
        yield client


@pytest.fixture(scope="module")
def kms_key(tamper_server: KeyholdServer) -> dict[str, Any]:
    return new_key(tamper_server.client("kms"))


class Stored:
    """An object written in one mode, and how to read it."""

    def __init__(self, s3: Any, bucket: str, key: str, data: bytes, read: dict[str, Any]) -> None:
        self.s3, self.bucket, self.key, self.data, self.read = s3, bucket, key, data, read

    def outcome(self, **kwargs: Any) -> bytes | Exception:
        return read_outcome(self.s3, self.bucket, self.key, **self.read, **kwargs)

    def assert_fails(self) -> Exception:
        """A GET of the whole object fails; it never returns other bytes."""
        got = self.outcome()
        assert not isinstance(got, bytes), (
            "a damaged object was served"
            if got != self.data
            else "the damage went unnoticed (the original bytes came back)"
        )
        return got

    def assert_whole(self) -> None:
        assert get_bytes(self.s3, self.bucket, self.key, **self.read) == self.data


def write_args(mode: str, kms_key: dict[str, Any], ckey: bytes) -> dict[str, Any]:
    return {
        "sse-s3": {"ServerSideEncryption": "AES256"},
        "kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["Arn"], "BucketKeyEnabled": False},
        "kms-bucket-key": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key["Arn"], "BucketKeyEnabled": True},
        "dsse": {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": kms_key["Arn"]},
        "sse-c": ssec(ckey),
    }[mode]


def put(s3: Any, kms_key: dict[str, Any], mode: str, size: int = SIZE, *, bucket: str | None = None) -> Stored:
    bucket = bucket or new_bucket(s3, "tamper")
    ckey = customer_key()
    key = f"obj-{uuid.uuid4().hex[:8]}"
    data = body(size, key)
    s3.put_object(Bucket=bucket, Key=key, Body=data, **write_args(mode, kms_key, ckey))
    return Stored(s3, bucket, key, data, ssec(ckey) if mode == "sse-c" else {})


def layers(mode: str) -> int:
    return 2 if mode == "dsse" else 1


# -- damaged blob files --------------------------------------------------------------------------------------------


def stride(mode: str) -> int:
    return CHUNK + TAG * layers(mode)


def swap_chunks(data: bytes, mode: str) -> bytes:
    step = stride(mode)
    first, second = data[HEADER : HEADER + step], data[HEADER + step : HEADER + 2 * step]
    return data[:HEADER] + second + first + data[HEADER + 2 * step :]


BLOB_DAMAGE: dict[str, Callable[[bytes, str], bytes]] = {
    "magic": lambda d, m: flip(d, 0),
    "version": lambda d, m: flip(d, 4),
    "layers": lambda d, m: flip(d, 5, 0x03),
    "salt": lambda d, m: flip(d, 6),
    "salt-end": lambda d, m: flip(d, 37, 0x80),
    "nonce-prefix": lambda d, m: flip(d, 38),
    "nonce-prefix-end": lambda d, m: flip(d, 44),
    "first-ciphertext-byte": lambda d, m: flip(d, HEADER),
    "first-tag": lambda d, m: flip(d, HEADER + CHUNK),
    "middle-chunk": lambda d, m: flip(d, HEADER + 2 * stride(m) + 1000, 0x40),
    "last-byte": lambda d, m: flip(d, len(d) - 1),
    "cut-one-byte": lambda d, m: d[:-1],
    "cut-final-chunk": lambda d, m: d[: HEADER + 3 * stride(m)],
    "header-only": lambda d, m: d[:HEADER],
    "empty-file": lambda d, m: b"",
    "one-byte-more": lambda d, m: d + b"\x00",
    "final-chunk-twice": lambda d, m: d + d[HEADER + 3 * stride(m) :],
    "swap-chunks": swap_chunks,
    "chunk-0-twice": lambda d, m: (
        d[: HEADER + stride(m)] + d[HEADER : HEADER + stride(m)] + d[HEADER + 2 * stride(m) :]
    ),
    "all-zero": lambda d, m: bytes(len(d)),
}


@pytest.mark.parametrize("damage", list(BLOB_DAMAGE))
@pytest.mark.parametrize("mode", MODES)
def test_damaged_blob_is_never_served(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str, damage: str
) -> None:
    stored = put(s3, kms_key, mode)
    (blob_id,) = blob_ids(tamper_server, stored.bucket, stored.key)
    path = blob_path(tamper_server, blob_id)
    original = path.read_bytes()
    path.write_bytes(BLOB_DAMAGE[damage](original, mode))
    stored.assert_fails()
    path.write_bytes(original)
    stored.assert_whole()


@pytest.mark.parametrize("mode", MODES)
def test_ranged_reads_of_a_damaged_blob(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str
) -> None:
    """Chunks are authenticated one by one: a range that does not touch the damaged chunk reads exactly; one that
    does fails."""
    stored = put(s3, kms_key, mode)
    (blob_id,) = blob_ids(tamper_server, stored.bucket, stored.key)
    path = blob_path(tamper_server, blob_id)
    original = path.read_bytes()
    path.write_bytes(flip(original, HEADER + 2 * stride(mode) + 10))  # inside chunk 2
    for start, end in [(0, 10), (CHUNK - 5, CHUNK + 5), (3 * CHUNK, SIZE - 1)]:
        assert stored.outcome(Range=f"bytes={start}-{end}") == stored.data[start : end + 1]
    for start, end in [(2 * CHUNK, 2 * CHUNK), (CHUNK, 3 * CHUNK), (2 * CHUNK + 5, SIZE - 1)]:
        got = stored.outcome(Range=f"bytes={start}-{end}")
        assert not isinstance(got, bytes), (start, end)
    path.write_bytes(original)
    stored.assert_whole()


@pytest.mark.parametrize("mode", MODES)
def test_blob_of_another_object_is_never_served(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str
) -> None:
    """Same mode, same size, same bucket, even the same KMS key: every object has its own data key."""
    bucket = new_bucket(s3, "tamper")
    first, second = put(s3, kms_key, mode, bucket=bucket), put(s3, kms_key, mode, bucket=bucket)
    second.read = first.read if mode == "sse-c" else second.read
    if mode == "sse-c":  # the same customer key for both: only the per-object keys differ
        s3.put_object(Bucket=bucket, Key=second.key, Body=second.data, **ssec(first.read["SSECustomerKey"]))
    (first_blob,) = blob_ids(tamper_server, bucket, first.key)
    (second_blob,) = blob_ids(tamper_server, bucket, second.key)
    first_path, second_path = blob_path(tamper_server, first_blob), blob_path(tamper_server, second_blob)
    original = second_path.read_bytes()
    second_path.write_bytes(first_path.read_bytes())
    second.assert_fails()
    second_path.write_bytes(original)
    second.assert_whole()
    first.assert_whole()


def test_missing_blob_file(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    stored = put(s3, kms_key, "sse-s3")
    (blob_id,) = blob_ids(tamper_server, stored.bucket, stored.key)
    path = blob_path(tamper_server, blob_id)
    original = path.read_bytes()
    path.unlink()
    stored.assert_fails()
    path.write_bytes(original)
    stored.assert_whole()


@pytest.mark.parametrize("mode", MODES)
def test_damaged_empty_object(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str) -> None:
    """A zero-byte object still has a header and one (empty, final) chunk whose tag is checked."""
    stored = put(s3, kms_key, mode, size=0)
    (blob_id,) = blob_ids(tamper_server, stored.bucket, stored.key)
    path = blob_path(tamper_server, blob_id)
    original = path.read_bytes()
    assert len(original) == HEADER + TAG * layers(mode)
    for damaged in (flip(original, 6), flip(original, HEADER), flip(original, len(original) - 1), original[:HEADER]):
        path.write_bytes(damaged)
        stored.assert_fails()
    path.write_bytes(original + bytes(TAG))
    stored.assert_fails()
    path.write_bytes(original)
    stored.assert_whole()


def multipart(s3: Any, kms_key: dict[str, Any], mode: str, sizes: list[int]) -> Stored:
    bucket = new_bucket(s3, "tamper")
    ckey = customer_key()
    read = ssec(ckey) if mode == "sse-c" else {}
    parts = [body(size, f"part{number}") for number, size in enumerate(sizes, 1)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", **write_args(mode, kms_key, ckey))["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=p, **read)["ETag"]
        for n, p in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    return Stored(s3, bucket, "mp", b"".join(parts), read)


@pytest.mark.parametrize("mode", MODES)
def test_damaged_multipart_parts(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str) -> None:
    stored = multipart(s3, kms_key, mode, [5 * MiB, 5 * MiB, 1000])
    paths = [blob_path(tamper_server, blob_id) for blob_id in blob_ids(tamper_server, stored.bucket, stored.key)]
    originals = [path.read_bytes() for path in paths]
    # Part 2's stream in part 1's place (and the other way round): each is bound to its part number.
    paths[0].write_bytes(originals[1])
    paths[1].write_bytes(originals[0])
    stored.assert_fails()
    assert not isinstance(stored.outcome(Range="bytes=0-10"), bytes)
    paths[0].write_bytes(originals[0])
    paths[1].write_bytes(originals[1])
    # A flipped byte in the last part; the first part still reads exactly.
    paths[2].write_bytes(flip(originals[2], HEADER + 5))
    stored.assert_fails()
    assert stored.outcome(Range="bytes=0-99") == stored.data[:100]
    paths[2].write_bytes(originals[2])
    stored.assert_whole()


# -- damaged metadata ----------------------------------------------------------------------------------------------


def flip_b64(value: str) -> str:
    raw = base64.b64decode(value)
    return base64.b64encode(flip(raw, len(raw) // 2)).decode()


def envelope_damage(envelope: dict[str, Any], other_arn: str) -> dict[str, dict[str, Any]]:
    """Every way to damage ``envelope`` this test tries, by name (those that apply to its mode)."""
    variants: dict[str, dict[str, Any]] = {"unencrypted": {"v": 1}, "version-2": {**envelope, "v": 2}}
    for mode in ("AES256", "aws:kms", "aws:kms:dsse", "SSE-C", "none", "AES257"):
        if mode != envelope["mode"]:
            variants[f"mode={mode}"] = {**envelope, "mode": mode}
    for name, value in envelope.items():
        if name in ("v", "mode"):
            continue
        variants[f"without-{name}"] = {k: v for k, v in envelope.items() if k != name}
        if isinstance(value, str) and name not in ("kms_key_arn", "s3_key_id"):
            variants[f"flipped-{name}"] = {**envelope, name: flip_b64(value)}
    if "kms_key_arn" in envelope:
        variants["other-kms-key"] = {**envelope, "kms_key_arn": other_arn}
    if "s3_key_id" in envelope:
        variants["other-s3-key-id"] = {**envelope, "s3_key_id": str(uuid.uuid4())}
    if "context" in envelope:
        context = envelope["context"]
        variants["context-other-arn"] = {**envelope, "context": {**context, "aws:s3:arn": context["aws:s3:arn"] + "x"}}
        variants["context-extra-pair"] = {**envelope, "context": {**context, "extra": "pair"}}
        variants["context-empty"] = {**envelope, "context": {}}
    variants["bucket-key-toggled"] = {**envelope, "bucket_key": not envelope.get("bucket_key", False)}
    return variants


@pytest.mark.parametrize("mode", MODES)
def test_damaged_envelope_is_never_served(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str
) -> None:
    other = new_key(tamper_server.client("kms"))
    stored = put(s3, kms_key, mode)
    row = object_row(tamper_server, stored.bucket, stored.key)
    envelope = row["encryption"]
    variants = envelope_damage(envelope, other["Arn"])
    assert len(variants) >= 8
    for name, damaged in variants.items():
        update_object_row(tamper_server, stored.bucket, stored.key, encryption=damaged)
        got = stored.outcome()
        assert not isinstance(got, bytes) or got == stored.data, name
        if name not in ("bucket-key-toggled",) or mode.startswith("kms"):
            assert not isinstance(got, bytes), f"{name}: the damage went unnoticed"
    update_object_row(tamper_server, stored.bucket, stored.key, encryption=envelope)
    stored.assert_whole()


@pytest.mark.parametrize("mode", MODES)
def test_envelope_of_another_object_is_never_served(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str
) -> None:
    """Sealed data keys are bound to their bucket and object key: a whole envelope moved to another object (same
    bucket, mode, key and customer key) does not open it."""
    bucket = new_bucket(s3, "tamper")
    first = put(s3, kms_key, mode, bucket=bucket)
    second = put(s3, kms_key, mode, bucket=bucket)
    if mode == "sse-c":
        second.read = first.read
        s3.put_object(Bucket=bucket, Key=second.key, Body=second.data, **ssec(first.read["SSECustomerKey"]))
    first_row = object_row(tamper_server, bucket, first.key)
    second_row = object_row(tamper_server, bucket, second.key)
    update_object_row(tamper_server, bucket, second.key, encryption=first_row["encryption"])
    second.assert_fails()
    # The whole row of the first object (envelope and blob) under the second's name: still bound to the name.
    update_object_row(tamper_server, bucket, second.key, parts=first_row["parts"])
    second.assert_fails()
    update_object_row(tamper_server, bucket, second.key, encryption=second_row["encryption"], parts=second_row["parts"])
    second.assert_whole()
    first.assert_whole()


def size_damage(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    size, parts = row["size"], row["parts"]
    last = len(parts) - 1

    def part_with(index: int, **changes: Any) -> list[dict[str, Any]]:
        changed = copy.deepcopy(parts)
        changed[index].update(changes)
        return changed

    variants: dict[str, dict[str, Any]] = {
        "size-1": {"size": size - 1},
        "size+1": {"size": size + 1},
        "size-0": {"size": 0},
        "size-one-chunk-less": {"size": size - CHUNK},
        "part-size-1": {"parts": part_with(last, size=parts[last]["size"] - 1)},
        "part-size+1": {"parts": part_with(last, size=parts[last]["size"] + 1)},
        "part-and-object-size-1": {"size": size - 1, "parts": part_with(last, size=parts[last]["size"] - 1)},
        "part-and-object-size-one-chunk-less": {
            "size": size - CHUNK,
            "parts": part_with(last, size=parts[last]["size"] - CHUNK),
        },
        "part-number": {"parts": part_with(last, number=parts[last]["number"] + 1)},
        "blob-id-unknown": {"parts": part_with(last, blob_id=uuid.uuid4().hex)},
        "no-parts": {"parts": []},
    }
    if len(parts) > 1:
        variants["parts-reordered"] = {"parts": [parts[1], parts[0], *parts[2:]]}
        variants["part-listed-twice"] = {"parts": [parts[0], parts[0], *parts[2:]], "size": size}
        variants["parts-renumbered"] = {"parts": [{**p, "number": n} for n, p in enumerate(reversed(parts), 1)]}
    return variants


@pytest.mark.parametrize("kind", ["single", "multipart"])
@pytest.mark.parametrize("mode", MODES)
def test_damaged_size_and_parts_are_never_served(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str, kind: str
) -> None:
    stored = put(s3, kms_key, mode) if kind == "single" else multipart(s3, kms_key, mode, [5 * MiB, 5 * MiB, CHUNK + 7])
    row = object_row(tamper_server, stored.bucket, stored.key)
    for name, columns in size_damage(row).items():
        update_object_row(tamper_server, stored.bucket, stored.key, **columns)
        got = stored.outcome()
        assert not isinstance(got, bytes), f"{name}: " + ("wrong bytes served" if got != stored.data else "unnoticed")
        update_object_row(tamper_server, stored.bucket, stored.key, size=row["size"], parts=row["parts"])
    stored.assert_whole()


def test_another_objects_blob_id_in_the_parts(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3, "tamper")
    first, second = put(s3, kms_key, "kms", bucket=bucket), put(s3, kms_key, "kms", bucket=bucket)
    first_row, second_row = (object_row(tamper_server, bucket, s.key) for s in (first, second))
    update_object_row(tamper_server, bucket, second.key, parts=first_row["parts"])
    second.assert_fails()
    update_object_row(tamper_server, bucket, second.key, parts=second_row["parts"])
    second.assert_whole()


def test_damaged_database_column_json(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    """Bytes flipped in the stored JSON text itself (not valid JSON any more, or other digits)."""
    stored = put(s3, kms_key, "kms")
    with database(tamper_server) as conn:
        encryption, parts = conn.execute(
            "SELECT encryption, parts FROM s3_objects WHERE bucket = ? AND key = ?", (stored.bucket, stored.key)
        ).fetchone()
    for column, text in (("encryption", encryption), ("parts", parts)):
        for offset in range(0, len(text), max(1, len(text) // 25)):
            damaged = text[:offset] + chr(ord(text[offset]) ^ 0x01) + text[offset + 1 :]
            with database(tamper_server) as conn, conn:
                conn.execute(
                    f'UPDATE s3_objects SET "{column}" = ? WHERE bucket = ? AND key = ?',  # noqa: S608
                    (damaged, stored.bucket, stored.key),
                )
            got = stored.outcome()
            assert not isinstance(got, bytes) or got == stored.data, (column, offset)
            with database(tamper_server) as conn, conn:
                conn.execute(
                    f'UPDATE s3_objects SET "{column}" = ? WHERE bucket = ? AND key = ?',  # noqa: S608
                    (text, stored.bucket, stored.key),
                )
    stored.assert_whole()


def test_server_keeps_serving_after_failures(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    stored = put(s3, kms_key, "sse-s3", size=2 * MiB)
    (blob_id,) = blob_ids(tamper_server, stored.bucket, stored.key)
    path = blob_path(tamper_server, blob_id)
    original = path.read_bytes()
    path.write_bytes(flip(original, len(original) - 1000))  # late in the stream: the connection is cut
    for _ in range(5):
        stored.assert_fails()
        healthy = put(s3, kms_key, "kms", size=1000)
        healthy.assert_whole()
    path.write_bytes(original)
    stored.assert_whole()


# -- what is on disk -----------------------------------------------------------------------------------------------


def data_files(server: KeyholdServer) -> list[Path]:
    """Everything the server wrote that could leak: blobs, the database and its WAL, the audit trail, the log."""
    files = [p for p in server.data_dir.rglob("*") if p.is_file() and "tls" not in p.parts]
    return [*files, server.log_path]


def contents(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return data + gzip.decompress(data)
    return data


@pytest.mark.parametrize("mode", MODES)
def test_disk_holds_ciphertext_only(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], mode: str) -> None:
    marker = f"KEYHOLD-PLAINTEXT-MARKER-{uuid.uuid4().hex}|".encode()
    ckey = customer_key()
    args = write_args(mode, kms_key, ckey)
    read = ssec(ckey) if mode == "sse-c" else {}
    bucket = new_bucket(s3, "tamper")
    single = marked_body(200_000, marker)
    s3.put_object(Bucket=bucket, Key="single", Body=single, **args)
    part = marked_body(5 * MiB, marker)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", **args)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=part, **read)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    copy_source = {f"CopySource{k}": v for k, v in read.items()}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/single", **copy_source, **args)
    for key, data in (("single", single), ("mp", part), ("copy", single)):
        assert get_bytes(s3, bucket, key, **read) == data

    blobs = [p for p in tamper_server.blobs_dir.rglob("*") if p.is_file()]
    assert blobs
    fragment = marker[:16]
    for path in blobs:
        assert fragment not in path.read_bytes(), path
    needles = [marker, fragment]
    if mode == "sse-c":
        needles += [
            ckey,
            base64.b64encode(ckey),
            key_md5(ckey).encode(),
            base64.b64decode(key_md5(ckey)),
            md5_hex(ckey).encode(),
        ]
    for path in data_files(tamper_server):
        found = contents(path)
        for needle in needles:
            assert needle not in found, (path, needle)


def test_sse_c_row_keeps_a_salted_check_only(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    """Two objects under the same customer key keep different check values (salted), neither is the key's MD5."""
    ckey = customer_key()
    bucket = new_bucket(s3, "tamper")
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", **ssec(ckey))
    checks = [object_row(tamper_server, bucket, key)["encryption"]["customer_key_check"] for key in ("a", "b")]
    assert checks[0] != checks[1]
    assert key_md5(ckey) not in checks
    assert json.dumps(checks).find(md5_hex(ckey)) == -1


@pytest.mark.parametrize("dropped", ["last", "middle"])
def test_part_dropped_from_the_row_with_its_size(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], dropped: str
) -> None:
    stored = multipart(s3, kms_key, "kms", [5 * MiB, 5 * MiB, 1000])
    row = object_row(tamper_server, stored.bucket, stored.key)
    index = 2 if dropped == "last" else 1
    kept = [part for number, part in enumerate(row["parts"]) if number != index]
    size = row["size"] - row["parts"][index]["size"]
    update_object_row(tamper_server, stored.bucket, stored.key, size=size, parts=kept)
    try:
        stored.assert_fails()
    finally:
        update_object_row(tamper_server, stored.bucket, stored.key, size=row["size"], parts=row["parts"])
        stored.assert_whole()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("content_type", "text/html"),
        ("etag", "0" * 32),
        ("user_metadata", '{"owner":"mallory"}'),
        ("headers", '{"content-disposition":"attachment"}'),
        ("last_modified", 1.0),
    ],
)
def test_row_seal_catches_a_change_to_any_column(
    tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any], column: str, value: object
) -> None:
    """Columns that say nothing about encryption are covered too: the row's seal is over every field."""
    stored = put(s3, kms_key, "sse-s3")
    with database(tamper_server) as conn:
        (original,) = conn.execute(
            f'SELECT "{column}" FROM s3_objects WHERE bucket = ? AND key = ?',  # noqa: S608
            (stored.bucket, stored.key),
        ).fetchone()
    update_object_row(tamper_server, stored.bucket, stored.key, **{column: value})
    try:
        stored.assert_fails()
        with pytest.raises(ClientError) as head:
            s3.head_object(Bucket=stored.bucket, Key=stored.key)
        assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        update_object_row(tamper_server, stored.bucket, stored.key, **{column: original})
    stored.assert_whole()


def test_row_seal_of_another_row_is_refused(tamper_server: KeyholdServer, s3: Any, kms_key: dict[str, Any]) -> None:
    bucket = new_bucket(s3, "tamper")
    first, second = put(s3, kms_key, "sse-s3", bucket=bucket), put(s3, kms_key, "sse-s3", bucket=bucket)
    with database(tamper_server) as conn:
        first_seal, second_seal = (
            conn.execute("SELECT seal FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, s.key)).fetchone()[0]
            for s in (first, second)
        )
    update_object_row(tamper_server, bucket, second.key, seal=first_seal)
    second.assert_fails()
    update_object_row(tamper_server, bucket, second.key, seal=second_seal)
    second.assert_whole()
