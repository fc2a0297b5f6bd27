"""Instruction files (``<key>.instruction``) on a real Keyhold server: keyhold.cse writes them (V2: every key in
the file; V3: x-amz-c/-d/-i stay on the object) only when asked, reads them back, and AWS's official Python
client reads keyhold's instruction-file objects. Tampering with the file or the split ends in an error, never in
plaintext."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from s3_encryption import S3EncryptionClient

from keyhold.cse import CseError, EncryptionClient, KmsKeyring, NotEncrypted, TamperedObject, WrongKey
from keyhold.cse import metadata as md

CONTEXT = {"purpose": "instruction"}
PLAINTEXT = b"kept apart from its key"
V3_OBJECT_KEYS = {"x-amz-c", "x-amz-d", "x-amz-i"}


def writer(kms: Any, s3: Any, kms_key: str, fmt: str, *, instruction_file: bool = True) -> EncryptionClient:
    return EncryptionClient(s3, KmsKeyring(kms, kms_key), format=fmt, instruction_file=instruction_file)


def stored(s3: Any, bucket: str, key: str) -> tuple[dict[str, str], bytes]:
    response = s3.get_object(Bucket=bucket, Key=key)
    return dict(response["Metadata"]), response["Body"].read()


def put_file(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"x-amz-crypto-instr-file": ""})


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_keyhold_writes_the_split_and_reads_it_back(
    kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str, fmt: str
) -> None:
    writer(kms, s3, kms_key, fmt).put_object(
        Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT, Metadata={"owner": "me"}
    )
    metadata, _ = stored(s3, bucket, object_key)
    file_metadata, file_body = stored(s3, bucket, object_key + ".instruction")
    in_file = json.loads(file_body)
    assert file_metadata == {"x-amz-crypto-instr-file": ""}
    if fmt == "v3":
        assert set(metadata) == V3_OBJECT_KEYS | {"owner"}
        assert set(in_file) == {"x-amz-3", "x-amz-w", "x-amz-t"}
        assert json.loads(in_file["x-amz-t"]) == {**CONTEXT, "aws:x-amz-cek-alg": "115"}
    else:
        assert set(metadata) == {"x-amz-unencrypted-content-length", "owner"}
        assert set(in_file) == {"x-amz-key-v2", "x-amz-wrap-alg", "x-amz-matdesc", "x-amz-iv", "x-amz-cek-alg",
                                "x-amz-tag-len"}  # fmt: skip
    for reader_fmt in ("v3", "v2"):  # any keyhold client reads it, whatever it writes
        reader = writer(kms, s3, kms_key, reader_fmt, instruction_file=False)
        assert reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT) == PLAINTEXT


def test_instruction_files_are_off_by_default(kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str) -> None:
    EncryptionClient(s3, KmsKeyring(kms, kms_key)).put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT)
    assert "x-amz-3" in stored(s3, bucket, object_key)[0]
    with pytest.raises(s3.exceptions.ClientError, match=r"404|Not Found|NoSuchKey"):
        s3.head_object(Bucket=bucket, Key=object_key + ".instruction")


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_official_client_reads_keyhold_instruction_files(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str,
    fmt: str,
) -> None:  # fmt: skip
    writer(kms, s3, kms_key, fmt).put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    reader = official() if fmt == "v3" else official(allow_v2=True)
    response = reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)
    assert response["Body"].read() == PLAINTEXT


def test_custom_suffix_on_read(kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str) -> None:
    client = writer(kms, s3, kms_key, "v3")
    client.put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    _, file_body = stored(s3, bucket, object_key + ".instruction")
    put_file(s3, bucket, object_key + ".rotated", file_body)
    s3.delete_object(Bucket=bucket, Key=object_key + ".instruction")
    got = client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT, InstructionFileSuffix=".rotated")
    assert got == PLAINTEXT
    with pytest.raises(TamperedObject, match="missing"):
        client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_missing_instruction_file(kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str, fmt: str) -> None:
    client = writer(kms, s3, kms_key, fmt)
    client.put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    s3.delete_object(Bucket=bucket, Key=object_key + ".instruction")
    # V3's c/d/i and Keyhold V2's plaintext length on the object show that a file belongs to it.
    with pytest.raises(TamperedObject, match="missing"):
        client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


def test_plain_object_without_instruction_file_is_not_encrypted(
    kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str
) -> None:
    s3.put_object(Bucket=bucket, Key=object_key, Body=b"plain", Metadata={"owner": "me"})
    with pytest.raises(NotEncrypted):
        writer(kms, s3, kms_key, "v3").get_object(Bucket=bucket, Key=object_key)


def flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def v3_object_keys_in_file(file: dict[str, Any], metadata: dict[str, str]) -> None:
    file.update({key: metadata[key] for key in V3_OBJECT_KEYS})


def v3_object_keys_moved_to_file(file: dict[str, Any], metadata: dict[str, str]) -> None:
    file.update({key: metadata.pop(key) for key in V3_OBJECT_KEYS})


def file_edit(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any], dict[str, str]], None]:
    return lambda file, _: change(file)


# (name, formats, edit of (file JSON, object metadata) or raw file body, errors allowed)
FILE_CASES: list[tuple[str, tuple[str, ...], Any, tuple[type[CseError], ...]]] = [
    ("v3-object-keys-copied-into-file", ("v3",), v3_object_keys_in_file, (TamperedObject,)),
    ("v3-object-keys-moved-into-file", ("v3",), v3_object_keys_moved_to_file, (TamperedObject,)),
    ("v3-wrapped-key-altered", ("v3",), file_edit(lambda f: f.update({"x-amz-3": flip_b64(f["x-amz-3"])})),
     (TamperedObject, WrongKey)),
    ("v2-wrapped-key-altered", ("v2",), file_edit(lambda f: f.update({"x-amz-key-v2": flip_b64(f["x-amz-key-v2"])})),
     (TamperedObject, WrongKey)),
    ("v2-iv-altered", ("v2",), file_edit(lambda f: f.update({"x-amz-iv": flip_b64(f["x-amz-iv"])})),
     (TamperedObject,)),
    ("key-dropped", ("v3", "v2"), file_edit(lambda f: f.pop("x-amz-3", None) or f.pop("x-amz-key-v2")),
     (TamperedObject,)),
    ("v3-key-back-on-object", ("v3",), lambda f, m: m.update({"x-amz-w": f["x-amz-w"]}), (TamperedObject,)),
    ("v2-key-on-object-too", ("v2",), lambda f, m: m.update({"x-amz-iv": f["x-amz-iv"]}), (TamperedObject,)),
    ("length-in-both", ("v2",), lambda f, m: f.update({"x-amz-unencrypted-content-length": "1"}),
     (TamperedObject,)),
    ("unknown-key", ("v3", "v2"), file_edit(lambda f: f.update({"owner": "me"})), (TamperedObject,)),
    ("non-string-value", ("v3", "v2"), file_edit(lambda f: f.update({"x-amz-matdesc": {}})), (TamperedObject,)),
    ("bad-json", ("v3", "v2"), b"{not json", (TamperedObject,)),
    ("json-array", ("v3", "v2"), b"[]", (TamperedObject,)),
    ("empty-object", ("v3", "v2"), b"{}", (TamperedObject,)),
    ("not-utf8", ("v3", "v2"), b"\xff\xfe", (TamperedObject,)),
]  # fmt: skip
CASES = [(name, fmt, edit, errors) for name, fmts, edit, errors in FILE_CASES for fmt in fmts]


@pytest.mark.parametrize(("name", "fmt", "edit", "errors"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_instruction_file_tampering(
    kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str, name: str, fmt: str, edit: Any,
    errors: tuple[type[CseError], ...],
) -> None:  # fmt: skip
    client = writer(kms, s3, kms_key, fmt)
    client.put_object(Bucket=bucket, Key=object_key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    assert client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT) == PLAINTEXT
    metadata, body = stored(s3, bucket, object_key)
    _, file_body = stored(s3, bucket, object_key + ".instruction")
    if isinstance(edit, bytes):
        file_body = edit
    else:
        file = json.loads(file_body)
        edit(file, metadata)
        file_body = json.dumps(file).encode()
        s3.put_object(Bucket=bucket, Key=object_key, Body=body, Metadata=metadata)
    put_file(s3, bucket, object_key + ".instruction", file_body)
    with pytest.raises(errors):
        client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


def test_split_is_exact() -> None:
    v3 = {"x-amz-c": "115", "x-amz-3": "AQ==", "x-amz-m": "{}", "x-amz-w": "02", "x-amz-d": "d", "x-amz-i": "i"}
    on_object, body = md.split_for_instruction_file(v3)
    assert on_object == {"x-amz-c": "115", "x-amz-d": "d", "x-amz-i": "i"}
    assert json.loads(body) == {"x-amz-3": "AQ==", "x-amz-m": "{}", "x-amz-w": "02"}
    assert md.instruction_file_use(on_object) == "required"
    assert md.instruction_file_use({"owner": "me"}) == "optional"
    assert md.instruction_file_use(v3) is None
    with pytest.raises(TamperedObject, match="not expected"):
        md.parse(v3, body)
