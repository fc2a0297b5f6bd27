"""keyhold.cse against AWS's official Python S3 Encryption Client 4.0, both directions, on a real Keyhold
server (S3 and KMS)."""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from s3_encryption import S3EncryptionClient
from s3_encryption.exceptions import S3EncryptionClientError

from keyhold.cse import ContextMismatch, EncryptionClient, KmsKeyring, WrongKey

CONTEXT = {"purpose": "demo", "tenant": "t-1"}
BODIES = [b"", b"hello world", bytes(range(256)) * 4099]


def ours(kms: Any, s3: Any, key_id: str, fmt: str = "v3") -> EncryptionClient:
    return EncryptionClient(s3, KmsKeyring(kms, key_id), format=fmt)


def raw_metadata(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return dict(s3.head_object(Bucket=bucket, Key=key)["Metadata"])


@pytest.mark.parametrize("body", BODIES, ids=["empty", "small", "1MiB"])
def test_official_v3_object_read_by_keyhold(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str,
    body: bytes,
) -> None:  # fmt: skip
    official().put_object(Bucket=bucket, Key=object_key, Body=body, EncryptionContext=CONTEXT)
    metadata = raw_metadata(s3, bucket, object_key)
    assert set(metadata) == {"x-amz-c", "x-amz-3", "x-amz-t", "x-amz-w", "x-amz-d", "x-amz-i"}
    assert metadata["x-amz-c"] == "115"
    assert metadata["x-amz-w"] == "12"
    assert json.loads(metadata["x-amz-t"]) == {**CONTEXT, "aws:x-amz-cek-alg": "115"}
    assert ours(kms, s3, kms_key).get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT) == body


def test_official_v2_object_read_by_keyhold(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str
) -> None:
    official("v2").put_object(Bucket=bucket, Key=object_key, Body=b"written as V2", EncryptionContext=CONTEXT)
    metadata = raw_metadata(s3, bucket, object_key)
    assert metadata["x-amz-cek-alg"] == "AES/GCM/NoPadding"
    assert metadata["x-amz-wrap-alg"] == "kms+context"
    assert "x-amz-3" not in metadata
    for fmt in ("v3", "v2"):  # either write format reads both
        got = ours(kms, s3, kms_key, fmt).get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)
        assert got == b"written as V2"


def test_official_object_without_context_read_by_keyhold(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str
) -> None:
    official().put_object(Bucket=bucket, Key=object_key, Body=b"no context")
    assert ours(kms, s3, kms_key).get_object(Bucket=bucket, Key=object_key) == b"no context"
    with pytest.raises(ContextMismatch):
        ours(kms, s3, kms_key).get_object(Bucket=bucket, Key=object_key, EncryptionContext={"a": "b"})


@pytest.mark.parametrize("body", BODIES, ids=["empty", "small", "1MiB"])
def test_keyhold_v3_object_read_by_official(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str,
    body: bytes,
) -> None:  # fmt: skip
    ours(kms, s3, kms_key).put_object(Bucket=bucket, Key=object_key, Body=body, EncryptionContext=CONTEXT)
    response = official().get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)
    assert response["Body"].read() == body


def test_keyhold_v2_object_read_by_official_only_when_it_allows_non_committing(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str
) -> None:
    ours(kms, s3, kms_key, "v2").put_object(Bucket=bucket, Key=object_key, Body=b"v2 body", EncryptionContext=CONTEXT)
    for reader in (official(allow_v2=True), official("v2")):
        assert reader.get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)["Body"].read() == b"v2 body"
    with pytest.raises(S3EncryptionClientError, match="non-key-committing"):
        official().get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


@pytest.mark.parametrize("fmt", ["v3", "v2"])
def test_keyhold_metadata_matches_the_official_clients(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, fmt: str
) -> None:
    """Same keys; same values where they are deterministic (algorithm names, the context JSON byte for byte);
    same sizes where they are random. Keyhold's V2 adds x-amz-unencrypted-content-length, as the issue asks."""
    ours(kms, s3, kms_key, fmt).put_object(Bucket=bucket, Key=f"ours-{fmt}", Body=b"x" * 5, EncryptionContext=CONTEXT)
    official(fmt).put_object(Bucket=bucket, Key=f"theirs-{fmt}", Body=b"x" * 5, EncryptionContext=CONTEXT)
    mine, theirs = raw_metadata(s3, bucket, f"ours-{fmt}"), raw_metadata(s3, bucket, f"theirs-{fmt}")
    random_keys = {"x-amz-3", "x-amz-d", "x-amz-i", "x-amz-key-v2", "x-amz-iv"}
    if fmt == "v2":
        assert mine.pop("x-amz-unencrypted-content-length") == "5"
    assert set(mine) == set(theirs)
    for name in set(mine) - random_keys:
        assert mine[name] == theirs[name], name
    for name in set(mine) & random_keys - {"x-amz-3", "x-amz-key-v2"}:
        assert len(base64.b64decode(mine[name])) == len(base64.b64decode(theirs[name])), name


def test_wrong_context_and_wrong_key(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, other_kms_key: str,
    object_key: str,
) -> None:  # fmt: skip
    official().put_object(Bucket=bucket, Key=object_key, Body=b"secret", EncryptionContext=CONTEXT)
    client = ours(kms, s3, kms_key)
    for wrong in ({}, {"purpose": "demo"}, {**CONTEXT, "extra": "x"}, {**CONTEXT, "purpose": "other"}):
        with pytest.raises(ContextMismatch):
            client.get_object(Bucket=bucket, Key=object_key, EncryptionContext=wrong)
    with pytest.raises(ValueError, match="reserved"):
        client.get_object(Bucket=bucket, Key=object_key, EncryptionContext={**CONTEXT, "aws:x-amz-cek-alg": "115"})
    with pytest.raises(WrongKey):
        ours(kms, s3, other_kms_key).get_object(Bucket=bucket, Key=object_key, EncryptionContext=CONTEXT)


def test_keyhold_rejects_the_reserved_context_key_on_put(kms: Any, s3: Any, bucket: str, kms_key: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        ours(kms, s3, kms_key).put_object(
            Bucket=bucket, Key="never", Body=b"x", EncryptionContext={"aws:x-amz-cek-alg": "115"}
        )
    with pytest.raises(s3.exceptions.ClientError, match=r"404|Not Found"):
        s3.head_object(Bucket=bucket, Key="never")


def test_user_metadata_and_extra_put_arguments_pass_through(
    official: Callable[..., S3EncryptionClient], kms: Any, s3: Any, bucket: str, kms_key: str, object_key: str
) -> None:
    ours(kms, s3, kms_key).put_object(
        Bucket=bucket, Key=object_key, Body=b"typed", Metadata={"owner": "me"}, ContentType="text/plain"
    )
    head = s3.head_object(Bucket=bucket, Key=object_key)
    assert head["Metadata"]["owner"] == "me"
    assert head["ContentType"] == "text/plain"
    assert official().get_object(Bucket=bucket, Key=object_key)["Body"].read() == b"typed"
    with pytest.raises(ValueError, match="reserved"):
        ours(kms, s3, kms_key).put_object(Bucket=bucket, Key=object_key, Body=b"x", Metadata={"x-amz-iv": "AAAA"})
