"""Tampering with a stored object (its metadata or its body, rewritten with a plain boto3 put) always ends in a
keyhold.cse error, never in plaintext. Objects come from both writers: the official client and keyhold.cse."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from keyhold.cse import (
    ContextMismatch,
    CseError,
    EncryptionClient,
    KmsKeyring,
    NotEncrypted,
    TamperedObject,
    UnsupportedFormat,
    WrongKey,
)

CONTEXT = {"purpose": "tamper"}
PLAINTEXT = b"the quick brown fox jumps over the lazy dog"
DROP = object()


def flip_b64(value: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def edit_json(value: str, **changes: str) -> str:
    return json.dumps({**json.loads(value), **changes})


# (metadata key, how to change its value, the errors allowed)
V3_CASES: list[tuple[str, Any, tuple[type[CseError], ...]]] = [
    ("x-amz-c", "AES/GCM/NoPadding", (UnsupportedFormat,)),
    ("x-amz-c", DROP, (TamperedObject,)),
    ("x-amz-3", flip_b64, (TamperedObject, WrongKey)),
    ("x-amz-3", lambda v: flip_b64(v, -1), (TamperedObject, WrongKey)),
    ("x-amz-3", "not base64!", (TamperedObject,)),
    ("x-amz-w", "02", (WrongKey,)),
    ("x-amz-w", "22", (WrongKey,)),
    ("x-amz-w", "99", (UnsupportedFormat,)),
    ("x-amz-w", DROP, (TamperedObject,)),
    ("x-amz-t", lambda v: edit_json(v, purpose="other"), (ContextMismatch,)),
    ("x-amz-t", lambda v: edit_json(v, **{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"}), (TamperedObject,)),
    ("x-amz-t", lambda v: edit_json(v, extra="x"), (ContextMismatch,)),
    ("x-amz-t", DROP, (ContextMismatch,)),
    ("x-amz-t", "{not json", (TamperedObject,)),
    ("x-amz-d", flip_b64, (TamperedObject,)),
    ("x-amz-d", lambda v: flip_b64(v, 27), (TamperedObject,)),
    ("x-amz-d", DROP, (TamperedObject,)),
    ("x-amz-i", flip_b64, (TamperedObject,)),
    ("x-amz-i", lambda v: base64.b64encode(base64.b64decode(v)[:27]).decode(), (TamperedObject,)),
    ("x-amz-i", DROP, (TamperedObject,)),
    ("x-amz-key-v2", "AAAA", (TamperedObject,)),  # a second format's key: exclusivity
    ("x-amz-key", "AAAA", (TamperedObject,)),
]
V2_CASES: list[tuple[str, Any, tuple[type[CseError], ...]]] = [
    ("x-amz-key-v2", flip_b64, (TamperedObject, WrongKey)),
    ("x-amz-key-v2", DROP, (TamperedObject,)),
    ("x-amz-iv", flip_b64, (TamperedObject,)),
    ("x-amz-iv", lambda v: flip_b64(v, 11), (TamperedObject,)),
    ("x-amz-iv", "AAAAAAAAAAAAAAAAAAAAAA==", (TamperedObject,)),  # 16 bytes: a CBC-sized IV
    ("x-amz-iv", DROP, (TamperedObject,)),
    ("x-amz-cek-alg", "AES/CBC/PKCS5Padding", (UnsupportedFormat,)),
    ("x-amz-cek-alg", "115", (UnsupportedFormat,)),
    ("x-amz-cek-alg", DROP, (TamperedObject,)),
    ("x-amz-tag-len", "96", (TamperedObject,)),
    ("x-amz-wrap-alg", "kms", (UnsupportedFormat,)),
    ("x-amz-wrap-alg", "AES/GCM", (WrongKey,)),
    ("x-amz-wrap-alg", DROP, (TamperedObject,)),
    ("x-amz-matdesc", lambda v: edit_json(v, purpose="other"), (ContextMismatch,)),
    ("x-amz-matdesc", lambda v: edit_json(v, **{"aws:x-amz-cek-alg": "115"}), (TamperedObject,)),
    ("x-amz-matdesc", DROP, (ContextMismatch,)),
    ("x-amz-unencrypted-content-length", "7", (TamperedObject,)),
    ("x-amz-unencrypted-content-length", "-1", (TamperedObject,)),
    ("x-amz-3", "AAAA", (TamperedObject,)),
    ("x-amz-d", "AAAA", (TamperedObject,)),  # V3 content keys beside V2 keys
]


def case_id(case: tuple[str, Any, tuple[type[CseError], ...]]) -> str:
    key, change, _ = case
    if change is DROP:
        return f"{key}-dropped"
    return f"{key}-{change if isinstance(change, str) else getattr(change, '__name__', 'edit')}"


def rewrite(s3: Any, bucket: str, key: str, *, metadata: Callable[[dict[str, str]], None] | None = None,
            body: Callable[[bytes], bytes] | None = None) -> None:  # fmt: skip
    """Get the raw object with a plain client and put it back with its metadata and/or body changed."""
    response = s3.get_object(Bucket=bucket, Key=key)
    stored_metadata, stored_body = dict(response["Metadata"]), response["Body"].read()
    if metadata:
        metadata(stored_metadata)
    if body:
        stored_body = body(stored_body)
    s3.put_object(Bucket=bucket, Key=key, Body=stored_body, Metadata=stored_metadata)


def change_metadata(name: str, change: Any) -> Callable[[dict[str, str]], None]:
    def apply(metadata: dict[str, str]) -> None:
        if change is DROP:
            metadata.pop(name)
        elif isinstance(change, str):
            metadata[name] = change
        else:
            metadata[name] = change(metadata[name])

    return apply


@pytest.fixture
def reader(kms: Any, s3: Any, kms_key: str) -> EncryptionClient:
    return EncryptionClient(s3, KmsKeyring(kms, kms_key))


def write(writer: str, fmt: str, official: Any, kms: Any, s3: Any, kms_key: str, bucket: str, key: str) -> None:
    if writer == "official":
        official(fmt).put_object(Bucket=bucket, Key=key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    else:
        client = EncryptionClient(s3, KmsKeyring(kms, kms_key), format=fmt)
        client.put_object(Bucket=bucket, Key=key, Body=PLAINTEXT, EncryptionContext=CONTEXT)


def check_untampered(reader: EncryptionClient, bucket: str, key: str) -> None:
    assert reader.get_object(Bucket=bucket, Key=key, EncryptionContext=CONTEXT) == PLAINTEXT


@pytest.mark.parametrize("writer", ["keyhold", "official"])
@pytest.mark.parametrize("case", V3_CASES, ids=[case_id(c) for c in V3_CASES])
def test_v3_metadata_tampering(
    case: tuple[str, Any, tuple[type[CseError], ...]], writer: str, official: Any, kms: Any, s3: Any, kms_key: str,
    bucket: str, object_key: str, reader: EncryptionClient,
) -> None:  # fmt: skip
    name, change, errors = case
    write(writer, "v3", official, kms, s3, kms_key, bucket, object_key)
    check_untampered(reader, bucket, object_key)
    rewrite(s3, bucket, object_key, metadata=change_metadata(name, change))
    with pytest.raises(errors):
        reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


@pytest.mark.parametrize("case", V2_CASES, ids=[case_id(c) for c in V2_CASES])
def test_v2_metadata_tampering(
    case: tuple[str, Any, tuple[type[CseError], ...]], official: Any, kms: Any, s3: Any, kms_key: str,
    bucket: str, object_key: str, reader: EncryptionClient,
) -> None:  # fmt: skip
    name, change, errors = case
    write("keyhold", "v2", official, kms, s3, kms_key, bucket, object_key)  # keyhold's V2 has every V2 key
    check_untampered(reader, bucket, object_key)
    rewrite(s3, bucket, object_key, metadata=change_metadata(name, change))
    with pytest.raises(errors):
        reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


BODY_EDITS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("first-byte", lambda b: bytes([b[0] ^ 1]) + b[1:]),
    ("middle-byte", lambda b: b[:20] + bytes([b[20] ^ 0x80]) + b[21:]),
    ("last-ciphertext-byte", lambda b: b[:-17] + bytes([b[-17] ^ 1]) + b[-16:]),
    ("first-tag-byte", lambda b: b[:-16] + bytes([b[-16] ^ 1]) + b[-15:]),
    ("last-tag-byte", lambda b: b[:-1] + bytes([b[-1] ^ 1])),
    ("truncated-tag", lambda b: b[:-1]),
    ("no-tag", lambda b: b[:-16]),
    ("extended", lambda b: b + b"\x00"),
    ("empty", lambda b: b""),
]


@pytest.mark.parametrize(
    ("writer", "fmt"), [("keyhold", "v3"), ("keyhold", "v2"), ("official", "v3"), ("official", "v2")]
)
@pytest.mark.parametrize("edit", BODY_EDITS, ids=[name for name, _ in BODY_EDITS])
def test_body_tampering(
    edit: tuple[str, Callable[[bytes], bytes]], writer: str, fmt: str, official: Any, kms: Any, s3: Any,
    kms_key: str, bucket: str, object_key: str, reader: EncryptionClient,
) -> None:  # fmt: skip
    write(writer, fmt, official, kms, s3, kms_key, bucket, object_key)
    check_untampered(reader, bucket, object_key)
    rewrite(s3, bucket, object_key, body=edit[1])
    with pytest.raises(TamperedObject):
        reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


def test_swapping_bodies_between_objects_is_detected(
    kms: Any, s3: Any, kms_key: str, bucket: str, reader: EncryptionClient
) -> None:
    for key in ("swap-a", "swap-b"):
        reader.put_object(Bucket=bucket, Key=key, Body=PLAINTEXT, EncryptionContext=CONTEXT)
    other_body = s3.get_object(Bucket=bucket, Key="swap-b")["Body"].read()
    rewrite(s3, bucket, "swap-a", body=lambda _: other_body)
    with pytest.raises(TamperedObject):
        reader.get_object(Bucket=bucket, Key="swap-a", EncryptionContext=CONTEXT)


def test_plain_and_legacy_objects(s3: Any, bucket: str, reader: EncryptionClient) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    with pytest.raises(NotEncrypted):
        reader.get_object(Bucket=bucket, Key="plain")
    v1 = {"x-amz-key": "AAAA", "x-amz-iv": "AAAAAAAAAAAAAAAAAAAAAA==", "x-amz-matdesc": "{}"}
    s3.put_object(Bucket=bucket, Key="v1", Body=bytes(16), Metadata=v1)
    with pytest.raises(UnsupportedFormat, match="V1"):
        reader.get_object(Bucket=bucket, Key="v1")
    instruction = {"x-amz-c": "115", "x-amz-d": "AAAA", "x-amz-i": "AAAA"}
    s3.put_object(Bucket=bucket, Key="instr", Body=bytes(16), Metadata=instruction)
    with pytest.raises(TamperedObject, match="instruction file"):  # V3 content keys, no instruction file
        reader.get_object(Bucket=bucket, Key="instr")
