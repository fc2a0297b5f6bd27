"""Fixtures for client-side encryption tests: a bucket and KMS keys on the shared real Keyhold server, and the
official AWS S3 Encryption Client (``s3_encryption``) pointed at it."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials import AlgorithmSuite, CommitmentPolicy
from s3_encryption.materials import KmsKeyring as OfficialKmsKeyring

from support.server import KeyholdServer


@pytest.fixture(scope="module")
def s3(server: KeyholdServer) -> Any:
    return server.s3()


@pytest.fixture(scope="module")
def kms(server: KeyholdServer) -> Any:
    return server.client("kms")


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = f"cse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def kms_key(kms: Any) -> str:
    return str(kms.create_key(Description="cse tests")["KeyMetadata"]["Arn"])


@pytest.fixture(scope="module")
def other_kms_key(kms: Any) -> str:
    return str(kms.create_key(Description="cse tests, another key")["KeyMetadata"]["Arn"])


@pytest.fixture
def object_key() -> str:
    return f"obj-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def official(server: KeyholdServer, kms_key: str) -> Callable[..., S3EncryptionClient]:
    """A factory of official clients: ``official()`` is V3 with the default (require-commitment) policy,
    ``official("v2")`` writes V2 and reads both, ``official("v3", allow_v2=True)`` writes V3 and reads both."""

    def make(fmt: str = "v3", *, allow_v2: bool = False, key_id: str = kms_key) -> S3EncryptionClient:
        keyring = OfficialKmsKeyring(server.client("kms"), key_id)
        if fmt == "v2":
            config = S3EncryptionClientConfig(
                keyring=keyring,
                encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
                commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
            )
        elif allow_v2:
            config = S3EncryptionClientConfig(
                keyring=keyring, commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
            )
        else:
            config = S3EncryptionClientConfig(keyring=keyring)
        return S3EncryptionClient(server.s3(), config)

    return make
