"""Keyhold's KMS driven by two real clients: the aws CLI, and the AWS Encryption SDK for Python (v4), which
builds its own KMS clients from a botocore session pointed at Keyhold."""

import base64
import logging
import os
import uuid
from pathlib import Path

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk import CommitmentPolicy, StrictAwsKmsMasterKeyProvider
from aws_encryption_sdk.exceptions import DecryptKeyError
from botocore.exceptions import ClientError

from support.server import KeyholdServer

MIB = 1 << 20


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the aws CLI -------------------------------------------------------------------------------------------------


def test_cli_key_workflow(server: KeyholdServer, tmp_path: Path) -> None:
    created = server.cli_json("kms", "create-key", "--description", "made by the aws CLI")["KeyMetadata"]
    key_id, arn = created["KeyId"], created["Arn"]
    assert arn == f"arn:aws:kms:{server.region}:{server.account_id}:key/{key_id}"
    assert created["Description"] == "made by the aws CLI"
    assert created["KeyState"] == "Enabled"

    alias = f"alias/{unique('cli')}"
    assert server.cli("kms", "create-alias", "--alias-name", alias, "--target-key-id", key_id).stdout.strip() == ""
    described = server.cli_json("kms", "describe-key", "--key-id", alias)["KeyMetadata"]
    assert (described["KeyId"], described["Arn"]) == (key_id, arn)

    plaintext = b"\x00binary \xff secret from a file\n" + os.urandom(64)
    source = tmp_path / "plain.bin"
    source.write_bytes(plaintext)
    sealed = server.cli_json(
        "kms", "encrypt", "--key-id", alias, "--plaintext", f"fileb://{source}",
        "--encryption-context", "purpose=cli-test",
    )  # fmt: skip
    assert sealed["KeyId"] == arn
    blob = base64.b64decode(sealed["CiphertextBlob"])
    assert plaintext not in blob
    blob_file = tmp_path / "blob.bin"
    blob_file.write_bytes(blob)
    opened = server.cli_json(
        "kms", "decrypt", "--ciphertext-blob", f"fileb://{blob_file}", "--encryption-context", "purpose=cli-test"
    )
    assert base64.b64decode(opened["Plaintext"]) == plaintext
    assert opened["KeyId"] == arn
    # The wrong context fails in the CLI too.
    wrong = server.cli(
        "kms", "decrypt", "--ciphertext-blob", f"fileb://{blob_file}", "--encryption-context", "purpose=other",
        check=False,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert "InvalidCiphertextException" in wrong.stderr

    data_key = server.cli_json("kms", "generate-data-key", "--key-id", alias, "--key-spec", "AES_256")
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    assert data_key["KeyId"] == arn
    key_blob = tmp_path / "data-key.bin"
    key_blob.write_bytes(base64.b64decode(data_key["CiphertextBlob"]))
    reopened = server.cli_json("kms", "decrypt", "--ciphertext-blob", f"fileb://{key_blob}")
    assert reopened["Plaintext"] == data_key["Plaintext"]

    listed = server.cli_json("kms", "list-keys")["Keys"]
    assert {"KeyId": key_id, "KeyArn": arn} in listed
    aliases = server.cli_json("kms", "list-aliases", "--key-id", key_id)["Aliases"]
    assert [entry["AliasName"] for entry in aliases] == [alias]

    scheduled = server.cli_json("kms", "schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert scheduled["KeyId"] == arn
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    assert server.cli_json("kms", "describe-key", "--key-id", arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_cli_reports_a_disabled_key(server: KeyholdServer, tmp_path: Path) -> None:
    created = server.cli_json("kms", "create-key")["KeyMetadata"]
    server.cli("kms", "disable-key", "--key-id", created["KeyId"])
    source = tmp_path / "plain.txt"
    source.write_bytes(b"refused")
    result = server.cli("kms", "encrypt", "--key-id", created["KeyId"], "--plaintext", f"fileb://{source}", check=False)
    assert result.returncode == 255, result.stderr  # aws CLI v1's exit code for a service error (v2: 254)
    assert "An error occurred (DisabledException) when calling the Encrypt operation" in result.stderr
    assert f"{created['Arn']} is disabled." in result.stderr
    assert result.stdout.strip() == ""


# -- the AWS Encryption SDK --------------------------------------------------------------------------------------


def keyhold_botocore_session(server: KeyholdServer, directory: Path) -> botocore.session.Session:
    """A botocore session whose clients talk to Keyhold: the endpoint comes from a shared config file."""
    config = directory / "esdk-config"
    config.write_text(f"[default]\nregion = {server.region}\nendpoint_url = {server.http_url}\n")
    session = botocore.session.Session()
    session.set_config_variable("config_file", str(config))
    session.set_credentials(server.access_key_id, server.secret_access_key)
    return session


def test_encryption_sdk_round_trip(server: KeyholdServer, tmp_path: Path) -> None:
    kms = server.client("kms")
    key = kms.create_key(Description="esdk")["KeyMetadata"]
    other = kms.create_key(Description="esdk other")["KeyMetadata"]
    session = keyhold_botocore_session(server, tmp_path)
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]], botocore_session=session)

    plaintext = (b"Keyhold ESDK payload " + os.urandom(43)) * (MIB // 64)
    assert len(plaintext) == MIB
    context = {"tenant": "acme", "purpose": "esdk-test"}
    ciphertext, header = client.encrypt(source=plaintext, key_provider=provider, encryption_context=context)
    assert len(ciphertext) > MIB
    for offset in (0, MIB // 2, MIB - 64):
        assert plaintext[offset : offset + 64] not in ciphertext
    assert b"Keyhold ESDK payload" not in ciphertext

    (data_key,) = header.encrypted_data_keys
    assert data_key.key_provider.provider_id == "aws-kms"
    assert data_key.key_provider.key_info == key["Arn"].encode()
    # The data key was sealed by Keyhold under the key and the message's context.
    assert set(context.items()) <= set(header.encryption_context.items())
    unwrapped = kms.decrypt(CiphertextBlob=data_key.encrypted_data_key, EncryptionContext=header.encryption_context)
    assert unwrapped["KeyId"] == key["Arn"]
    assert len(unwrapped["Plaintext"]) == 32
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=data_key.encrypted_data_key, EncryptionContext=context | {"tenant": "evil"})
    assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"

    decrypted, decrypted_header = client.decrypt(source=ciphertext, key_provider=provider)
    assert decrypted == plaintext
    assert set(context.items()) <= set(decrypted_header.encryption_context.items())

    stranger = StrictAwsKmsMasterKeyProvider(key_ids=[other["Arn"]], botocore_session=session)
    with pytest.raises(DecryptKeyError):
        client.decrypt(source=ciphertext, key_provider=stranger)
    # A message encrypted to the other key is not readable with the first key's provider either.
    other_ciphertext, _ = client.encrypt(source=b"for the other key", key_provider=stranger)
    assert client.decrypt(source=other_ciphertext, key_provider=stranger)[0] == b"for the other key"
    with pytest.raises(DecryptKeyError):
        client.decrypt(source=other_ciphertext, key_provider=provider)


def test_encryption_sdk_with_a_disabled_key(
    server: KeyholdServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kms = server.client("kms")
    key = kms.create_key(Description="esdk disabled")["KeyMetadata"]
    session = keyhold_botocore_session(server, tmp_path)
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]], botocore_session=session)
    ciphertext, _ = client.encrypt(source=b"before disabling", key_provider=provider)
    kms.disable_key(KeyId=key["KeyId"])
    with caplog.at_level(logging.ERROR, logger="aws_encryption_sdk"), pytest.raises(DecryptKeyError):
        client.decrypt(source=ciphertext, key_provider=provider)
    # The SDK logs the KMS error it turned into DecryptKeyError: Keyhold's DisabledException.
    kms_errors = [
        record.exc_info[1]
        for record in caplog.records
        if record.name == "aws_encryption_sdk.key_providers.kms" and record.exc_info
    ]
    assert kms_errors
    assert all(isinstance(error, ClientError) for error in kms_errors)
    assert {error.response["Error"]["Code"] for error in kms_errors} == {"DisabledException"}  # type: ignore[union-attr]
    kms.enable_key(KeyId=key["KeyId"])
    assert client.decrypt(source=ciphertext, key_provider=provider)[0] == b"before disabling"
