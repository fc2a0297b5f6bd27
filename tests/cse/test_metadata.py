"""keyhold.cse.metadata: exact V2/V3 layouts, exclusivity rules, RFC 2047 decoding (pure, plus one real-server
round trip of an RFC 2047-encoded value)."""

import base64
import json
from email.header import Header
from typing import Any

import pytest

from keyhold.crypto import s3ec
from keyhold.cse import ContextMismatch, EncryptionClient, KmsKeyring, NotEncrypted, TamperedObject, UnsupportedFormat
from keyhold.cse import metadata as md

HEADER = s3ec.V3Header(message_id=bytes(range(28)), commitment=bytes(range(100, 128)))
CONTEXT = {"purpose": "demo", "aws:x-amz-cek-alg": "115"}


def test_v3_layout_is_exact() -> None:
    built = md.build_v3(wrap_alg="kms+context", encrypted_data_key=b"\x01\x02\x03", header=HEADER,
                        stored_context=CONTEXT)  # fmt: skip
    assert built == {
        "x-amz-c": "115",
        "x-amz-3": "AQID",
        "x-amz-t": '{"purpose": "demo", "aws:x-amz-cek-alg": "115"}',
        "x-amz-w": "12",
        "x-amz-d": base64.b64encode(HEADER.commitment).decode(),
        "x-amz-i": base64.b64encode(HEADER.message_id).decode(),
    }
    parsed = md.parse(built)
    assert (parsed.version, parsed.wrap_alg, parsed.cek_alg) == (3, "kms+context", "115")
    assert (parsed.encrypted_data_key, parsed.stored_context) == (b"\x01\x02\x03", CONTEXT)
    assert (parsed.message_id, parsed.commitment) == (HEADER.message_id, HEADER.commitment)


def test_v3_raw_keyrings_use_the_material_description_key() -> None:
    built = md.build_v3(wrap_alg="RSA-OAEP-SHA1", encrypted_data_key=b"k", header=HEADER, stored_context={})
    assert built["x-amz-m"] == "{}"
    assert built["x-amz-w"] == "22"
    assert "x-amz-t" not in built
    assert md.parse(built).wrap_alg == "RSA-OAEP-SHA1"


def test_v2_layout_is_exact() -> None:
    ctx = {"purpose": "demo", "aws:x-amz-cek-alg": "AES/GCM/NoPadding"}
    built = md.build_v2(wrap_alg="kms+context", encrypted_data_key=b"\xff", iv=bytes(12), stored_context=ctx,
                        plaintext_length=11)  # fmt: skip
    assert built == {
        "x-amz-key-v2": "/w==",
        "x-amz-wrap-alg": "kms+context",
        "x-amz-matdesc": '{"purpose": "demo", "aws:x-amz-cek-alg": "AES/GCM/NoPadding"}',
        "x-amz-iv": "AAAAAAAAAAAAAAAA",
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-tag-len": "128",
        "x-amz-unencrypted-content-length": "11",
    }
    parsed = md.parse(built)
    assert (parsed.version, parsed.iv, parsed.plaintext_length, parsed.stored_context) == (2, bytes(12), 11, ctx)


def test_exclusivity_and_detection() -> None:
    v3 = md.build_v3(wrap_alg="AES/GCM", encrypted_data_key=b"k", header=HEADER, stored_context={})
    with pytest.raises(TamperedObject, match="more than one"):
        md.parse({**v3, "x-amz-key-v2": "AA=="})
    with pytest.raises(NotEncrypted):
        md.parse({"owner": "me"})
    with pytest.raises(TamperedObject, match="x-amz-w"):  # V3 keys of the instruction file left on the object
        md.parse({k: v for k, v in v3.items() if k != "x-amz-3"})
    with pytest.raises(TamperedObject, match="instruction file"):
        md.parse({k: v for k, v in v3.items() if k in ("x-amz-c", "x-amz-d", "x-amz-i")})
    with pytest.raises(UnsupportedFormat, match="legacy key wrap"):
        md.parse({**md.build_v2(wrap_alg="kms+context", encrypted_data_key=b"k", iv=bytes(12), stored_context={},
                                plaintext_length=0), "x-amz-wrap-alg": "AESWrap"})  # fmt: skip


def test_rfc2047_values_are_decoded() -> None:
    assert md.decode_rfc2047("=?UTF-8?B?Y2Fmw6k=?=") == "café"
    assert md.decode_rfc2047("=?utf-8?q?caf=C3=A9?=") == "café"
    assert md.decode_rfc2047("plain") == "plain"
    encoded = Header('{"name": "café", "aws:x-amz-cek-alg": "115"}', "utf-8").encode()
    v3 = md.build_v3(wrap_alg="kms+context", encrypted_data_key=b"k", header=HEADER, stored_context={})
    assert md.parse({**v3, "x-amz-t": encoded}).stored_context == {"name": "café", "aws:x-amz-cek-alg": "115"}


def test_rfc2047_encoded_context_from_the_store_is_decoded(
    kms: Any, s3: Any, kms_key: str, bucket: str, object_key: str
) -> None:
    """An object whose x-amz-t S3 hands back RFC 2047-encoded (as AWS S3 does for non-ASCII values) decrypts
    with the decoded context, and only with it."""
    client = EncryptionClient(s3, KmsKeyring(kms, kms_key))
    context = {"name": "café"}
    client.put_object(Bucket=bucket, Key=object_key, Body=b"unicode context", EncryptionContext=context)
    response = s3.get_object(Bucket=bucket, Key=object_key)
    metadata, body = dict(response["Metadata"]), response["Body"].read()
    assert "\\u00e9" in metadata["x-amz-t"]  # written ASCII-escaped, as the official client's json.dumps does
    raw_json = json.dumps(json.loads(metadata["x-amz-t"]), ensure_ascii=False)
    metadata["x-amz-t"] = Header(raw_json, "utf-8").encode()
    assert metadata["x-amz-t"].startswith("=?utf-8?")
    s3.put_object(Bucket=bucket, Key=object_key, Body=body, Metadata=metadata)
    assert client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=context) == b"unicode context"
    with pytest.raises(ContextMismatch):
        client.get_object(Bucket=bucket, Key=object_key, EncryptionContext={"name": "cafe"})
