"""CSE-C: the AES (``AES/GCM``) and RSA (``RSA-OAEP-SHA1``) keyrings through a real Keyhold S3 server. The official
Python client 4.0 has KMS keyrings only, so these are checked against the format (metadata, wraps) directly."""

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyhold.crypto import s3ec
from keyhold.cse import AesKeyring, EncryptionClient, KmsKeyring, RsaKeyring, TamperedObject, WrongKey

AES_KEY = bytes(range(32))
MATDESC = {"kid": "backup-2026"}
BODY = b"customer-managed keys" * 100


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def head(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return dict(s3.head_object(Bucket=bucket, Key=key)["Metadata"])


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_aes_keyring_round_trip_and_layout(s3: Any, bucket: str, object_key: str, fmt: str) -> None:
    client = EncryptionClient(s3, AesKeyring(AES_KEY, material_description=MATDESC), format=fmt)
    client.put_object(Bucket=bucket, Key=object_key, Body=BODY)
    metadata = head(s3, bucket, object_key)
    if fmt == "v3":
        assert set(metadata) == {"x-amz-c", "x-amz-3", "x-amz-m", "x-amz-w", "x-amz-d", "x-amz-i"}
        assert metadata["x-amz-w"] == "02"
        edk, aad, matdesc = metadata["x-amz-3"], b"115", metadata["x-amz-m"]
    else:
        assert metadata["x-amz-wrap-alg"] == "AES/GCM"
        edk, aad, matdesc = metadata["x-amz-key-v2"], b"AES/GCM/NoPadding", metadata["x-amz-matdesc"]
    assert json.loads(matdesc) == MATDESC
    wrapped = base64.b64decode(edk)
    data_key = AESGCM(AES_KEY).decrypt(wrapped[:12], wrapped[12:], aad)  # the wrap, independently
    assert len(wrapped) == 60
    assert len(data_key) == 32
    # A fresh keyring with the same key (and no material description) reads it.
    assert EncryptionClient(s3, AesKeyring(AES_KEY)).get_object(Bucket=bucket, Key=object_key) == BODY


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_rsa_keyring_round_trip_and_layout(
    s3: Any, bucket: str, object_key: str, fmt: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    EncryptionClient(s3, RsaKeyring(rsa_key.public_key()), format=fmt).put_object(
        Bucket=bucket, Key=object_key, Body=BODY
    )
    metadata = head(s3, bucket, object_key)
    edk = metadata["x-amz-3"] if fmt == "v3" else metadata["x-amz-key-v2"]
    assert metadata.get("x-amz-w", metadata.get("x-amz-wrap-alg")) in ("22", "RSA-OAEP-SHA1")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 (the format)
    pseudo_key = rsa_key.decrypt(base64.b64decode(edk), oaep)
    suffix = s3ec.V3_CEK_ALG if fmt == "v3" else s3ec.V2_CEK_ALG
    assert pseudo_key[0] == 32
    assert pseudo_key[33:] == suffix.encode()
    assert EncryptionClient(s3, RsaKeyring(rsa_key)).get_object(Bucket=bucket, Key=object_key) == BODY
    with pytest.raises(WrongKey, match="private key"):
        EncryptionClient(s3, RsaKeyring(rsa_key.public_key())).get_object(Bucket=bucket, Key=object_key)


def test_wrong_raw_keys_and_wrong_keyring_kinds(
    s3: Any, kms: Any, kms_key: str, bucket: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    EncryptionClient(s3, AesKeyring(AES_KEY)).put_object(Bucket=bucket, Key="aes-obj", Body=BODY)
    EncryptionClient(s3, RsaKeyring(rsa_key)).put_object(Bucket=bucket, Key="rsa-obj", Body=BODY)
    EncryptionClient(s3, KmsKeyring(kms, kms_key)).put_object(Bucket=bucket, Key="kms-obj", Body=BODY)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(WrongKey):
        EncryptionClient(s3, AesKeyring(bytes(32))).get_object(Bucket=bucket, Key="aes-obj")
    with pytest.raises(WrongKey):
        EncryptionClient(s3, RsaKeyring(other_rsa)).get_object(Bucket=bucket, Key="rsa-obj")
    for key in ("aes-obj", "rsa-obj"):
        with pytest.raises(WrongKey, match="kms\\+context"):
            EncryptionClient(s3, KmsKeyring(kms, kms_key)).get_object(Bucket=bucket, Key=key)
    with pytest.raises(WrongKey, match="AES/GCM"):
        EncryptionClient(s3, AesKeyring(AES_KEY)).get_object(Bucket=bucket, Key="kms-obj")


def test_raw_keyrings_refuse_an_encryption_context(s3: Any, bucket: str) -> None:
    with pytest.raises(ValueError, match="material description"):
        EncryptionClient(s3, AesKeyring(AES_KEY)).put_object(
            Bucket=bucket, Key="ctx", Body=b"x", EncryptionContext={"a": "b"}
        )


@pytest.mark.parametrize("name", ["x-amz-3", "x-amz-d", "x-amz-i"])
def test_aes_v3_metadata_tampering(s3: Any, bucket: str, object_key: str, name: str) -> None:
    client = EncryptionClient(s3, AesKeyring(AES_KEY))
    client.put_object(Bucket=bucket, Key=object_key, Body=BODY)
    response = s3.get_object(Bucket=bucket, Key=object_key)
    metadata, body = dict(response["Metadata"]), response["Body"].read()
    raw = bytearray(base64.b64decode(metadata[name]))
    raw[3] ^= 0x10
    metadata[name] = base64.b64encode(bytes(raw)).decode()
    s3.put_object(Bucket=bucket, Key=object_key, Body=body, Metadata=metadata)
    with pytest.raises(WrongKey if name == "x-amz-3" else TamperedObject):
        client.get_object(Bucket=bucket, Key=object_key)
