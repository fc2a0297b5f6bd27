"""Symmetric KMS cryptography through a real `keyhold serve` and boto3: Encrypt, Decrypt, ReEncrypt,
GenerateDataKey(WithoutPlaintext), GenerateRandom, encryption context as AAD, and tampered or foreign ciphertext."""

import os
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from keyhold.crypto import kms_blob
from support.kms import error_of, new_key, status_of, unique, unvalidated
from support.server import KeyholdServer


def new_aliased_key(server: KeyholdServer, kms: Any) -> tuple[dict[str, Any], str, str]:
    meta = new_key(kms)
    alias = f"alias/{unique('crypto')}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta, alias, f"arn:aws:kms:{server.region}:{server.account_id}:{alias}"


# -- Encrypt / Decrypt -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4096])
def test_encrypt_decrypt_round_trip(server: KeyholdServer, size: int) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    plaintext = os.urandom(size)
    sealed = kms.encrypt(KeyId=meta["KeyId"], Plaintext=plaintext)
    assert sealed["KeyId"] == meta["Arn"]
    assert sealed["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = sealed["CiphertextBlob"]
    assert len(blob) > size
    assert len(blob) <= 6144
    if size >= 16:  # a single byte turns up in any blob by chance
        assert plaintext not in blob
    opened = kms.decrypt(CiphertextBlob=blob)
    assert opened["Plaintext"] == plaintext
    assert opened["KeyId"] == meta["Arn"]
    assert opened["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert opened["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    # Encryption is randomized: the same plaintext twice gives two different blobs.
    assert kms.encrypt(KeyId=meta["KeyId"], Plaintext=plaintext)["CiphertextBlob"] != blob


@pytest.mark.parametrize("size", [0, 4097])
def test_encrypt_refuses_plaintext_outside_1_to_4096_bytes(server: KeyholdServer, size: int) -> None:
    kms = unvalidated(server)
    meta = new_key(kms)
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"p" * size)
    assert error_of(caught)[0] == "ValidationException"
    assert status_of(caught) == 400


def test_decrypt_with_and_without_key_id(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta, alias, alias_arn = new_aliased_key(server, kms)
    blob = kms.encrypt(KeyId=alias, Plaintext=b"payload")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    for ref in (meta["KeyId"], meta["Arn"], alias, alias_arn):
        opened = kms.decrypt(CiphertextBlob=blob, KeyId=ref)
        assert (opened["Plaintext"], opened["KeyId"]) == (b"payload", meta["Arn"]), ref
    other = new_key(kms)
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert error_of(caught)[0] == "IncorrectKeyException"
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, KeyId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "NotFoundException"


# -- encryption context ------------------------------------------------------------------------------------------


def test_encryption_context_must_match_exactly_in_any_order(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    context = {"tenant": "acme", "purpose": "invoice", "Case": "Sensitive"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"ctx", EncryptionContext=context)["CiphertextBlob"]
    reordered = dict(reversed(list(context.items())))
    assert list(reordered) != list(context)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"ctx"
    wrong_contexts = [
        None,
        {},
        {"tenant": "acme", "purpose": "invoice"},
        {**context, "extra": "pair"},
        {**context, "tenant": "ACME"},
        {"Tenant": "acme", "purpose": "invoice", "Case": "Sensitive"},
        {"tenant": "acme", "purpose": "invoice", "Case": "Sensitive "},
    ]
    for wrong in wrong_contexts:
        kwargs: dict[str, Any] = {} if wrong is None else {"EncryptionContext": wrong}
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=blob, **kwargs)
        assert error_of(caught)[0] == "InvalidCiphertextException", wrong
    # A blob sealed without a context does not open with one.
    bare = kms.encrypt(KeyId=key_id, Plaintext=b"bare")["CiphertextBlob"]
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=bare, EncryptionContext={"a": "b"})
    assert error_of(caught)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize(
    ("sealed_with", "opened_with"),
    [
        ({"ab": "c"}, {"a": "bc"}),
        ({"a": "bc"}, {"ab": "c"}),
        ({"a": "b=c"}, {"a=b": "c"}),
        ({"a": "b", "c": "d"}, {"a": "b,c:d"}),
        ({"a": "b", "c": "d"}, {"a": "bc", "": "d"}),
        ({"k": "v\u00e9"}, {"k": "ve\u0301"}),
    ],
)
def test_encryption_context_encoding_has_no_collisions(
    server: KeyholdServer, sealed_with: dict[str, str], opened_with: dict[str, str]
) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"aad", EncryptionContext=sealed_with)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=sealed_with)["Plaintext"] == b"aad"
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=opened_with)
    assert error_of(caught)[0] == "InvalidCiphertextException"


# -- tampered, garbage and foreign ciphertext --------------------------------------------------------------------


def test_tampered_blobs_are_invalid_ciphertext(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key_id = new_key(kms)["KeyId"]
    context = {"scope": "tamper"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"t" * 40, EncryptionContext=context)["CiphertextBlob"]
    header = kms_blob.HEADER_SIZE
    assert len(blob) == kms_blob.OVERHEAD + 40
    key_id_bytes = range(3, 3 + kms_blob.KEY_ID_SIZE)
    positions = {
        "magic": 0,
        "magic 2": 1,
        "version": 2,
        "material id first": 19,
        "material id last": 50,
        "derivation nonce first": kms_blob.DERIVATION_NONCE_OFFSET,
        "derivation nonce middle": kms_blob.DERIVATION_NONCE_OFFSET + 16,
        "derivation nonce last": kms_blob.NONCE_OFFSET - 1,
        "nonce first": kms_blob.NONCE_OFFSET,
        "nonce last": header - 1,
        "ciphertext first": header,
        "ciphertext middle": header + 20,
        "tag first": len(blob) - 16,
        "tag last": len(blob) - 1,
    }
    for name, position in positions.items():
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(ClientError) as caught:
                kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=context)
            assert error_of(caught)[0] == "InvalidCiphertextException", (name, mask)
            assert status_of(caught) == 400
    # A changed key id names a key this server does not have: the same answer as a foreign blob.
    for position in (key_id_bytes.start, key_id_bytes.stop - 1):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=context)
        assert error_of(caught)[0] == "AccessDeniedException", position
    for length in (1, 2, 3, 18, 51, kms_blob.NONCE_OFFSET, header, header + 15, kms_blob.OVERHEAD - 1, len(blob) - 1):
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=blob[:length], EncryptionContext=context)
        assert error_of(caught)[0] == "InvalidCiphertextException", length
    for suffix in (b"\x00", b"extra bytes"):
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=blob + suffix, EncryptionContext=context)
        assert error_of(caught)[0] == "InvalidCiphertextException", suffix
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"t" * 40


def test_garbage_blobs_are_invalid_ciphertext(server: KeyholdServer) -> None:
    kms = server.client("kms")
    garbage = [
        b"\x00" + os.urandom(199),
        b"not a ciphertext blob at all, just some text that is long enough to look like one",
        b"\x01\x02\x03\x00\x78" + os.urandom(200),  # the shape of an AWS KMS blob
        b"KH\x02" + os.urandom(100),  # a future format version
        b"\xff" * 6144,
    ]
    for blob in garbage:
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=blob)
        assert error_of(caught)[0] == "InvalidCiphertextException", blob[:8]
        assert status_of(caught) == 400
    with pytest.raises(ClientError) as caught:
        unvalidated(server).decrypt(CiphertextBlob=b"")
    assert error_of(caught)[0] == "ValidationException"


def test_blob_from_another_keyhold_is_access_denied(server: KeyholdServer, make_server: Any) -> None:
    other: KeyholdServer = make_server("other")
    foreign_kms = other.client("kms")
    foreign_key = new_key(foreign_kms)["KeyId"]
    blob = foreign_kms.encrypt(KeyId=foreign_key, Plaintext=b"elsewhere")["CiphertextBlob"]
    assert foreign_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"elsewhere"
    kms = server.client("kms")
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob)
    code, message = error_of(caught)
    assert code == "AccessDeniedException"
    assert message.startswith("The ciphertext refers to a customer master key that does not exist")
    with pytest.raises(ClientError) as caught:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=new_key(kms)["KeyId"])
    assert error_of(caught)[0] == "AccessDeniedException"


# -- ReEncrypt ---------------------------------------------------------------------------------------------------


def test_re_encrypt_to_another_key_and_context(server: KeyholdServer) -> None:
    kms = server.client("kms")
    source = new_key(kms)
    destination, alias, _alias_arn = new_aliased_key(server, kms)
    blob = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"move me", EncryptionContext={"v": "1"})["CiphertextBlob"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"v": "1"},
        DestinationKeyId=alias,
        DestinationEncryptionContext={"v": "2"},
    )
    assert moved["SourceKeyId"] == source["Arn"]
    assert moved["KeyId"] == destination["Arn"]
    assert moved["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert moved["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert moved["SourceKeyMaterialId"] == source["CurrentKeyMaterialId"]
    assert moved["DestinationKeyMaterialId"] == destination["CurrentKeyMaterialId"]
    assert "Plaintext" not in moved
    assert b"move me" not in moved["CiphertextBlob"]
    opened = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"v": "2"})
    assert (opened["Plaintext"], opened["KeyId"]) == (b"move me", destination["Arn"])
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"v": "1"})
    assert error_of(caught)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], KeyId=source["KeyId"], EncryptionContext={"v": "2"})
    assert error_of(caught)[0] == "IncorrectKeyException"


def test_re_encrypt_under_the_same_key_with_a_new_context(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"same key")["CiphertextBlob"]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceKeyId=meta["Arn"],
        DestinationKeyId=meta["KeyId"],
        DestinationEncryptionContext={"new": "context"},
    )
    assert moved["SourceKeyId"] == moved["KeyId"] == meta["Arn"]
    assert moved["CiphertextBlob"] != blob
    opened = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"new": "context"})
    assert opened["Plaintext"] == b"same key"
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])
    assert error_of(caught)[0] == "InvalidCiphertextException"


def test_re_encrypt_checks_the_source_key_and_context(server: KeyholdServer) -> None:
    kms = server.client("kms")
    source, destination, stranger = new_key(kms), new_key(kms), new_key(kms)
    blob = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    with pytest.raises(ClientError) as caught:
        kms.re_encrypt(
            CiphertextBlob=blob,
            SourceKeyId=stranger["KeyId"],
            SourceEncryptionContext={"a": "b"},
            DestinationKeyId=destination["KeyId"],
        )
    assert error_of(caught)[0] == "IncorrectKeyException"
    with pytest.raises(ClientError) as caught:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination["KeyId"])
    assert error_of(caught)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as caught:
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "b"}, DestinationKeyId=str(uuid.uuid4()))
    assert error_of(caught)[0] == "NotFoundException"


# -- GenerateDataKey / GenerateDataKeyWithoutPlaintext -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "size"),
    [
        ({"KeySpec": "AES_256"}, 32),
        ({"KeySpec": "AES_128"}, 16),
        ({"NumberOfBytes": 1}, 1),
        ({"NumberOfBytes": 1024}, 1024),
    ],
)
def test_generate_data_key_sizes(server: KeyholdServer, kwargs: dict[str, Any], size: int) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    context = {"object": unique("obj")}
    generated = kms.generate_data_key(KeyId=meta["KeyId"], EncryptionContext=context, **kwargs)
    assert len(generated["Plaintext"]) == size
    assert generated["KeyId"] == meta["Arn"]
    assert generated["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    opened = kms.decrypt(CiphertextBlob=generated["CiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == generated["Plaintext"]
    assert opened["KeyId"] == meta["Arn"]
    again = kms.generate_data_key(KeyId=meta["KeyId"], EncryptionContext=context, **kwargs)
    if size >= 16:
        assert again["Plaintext"] != generated["Plaintext"]
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=generated["CiphertextBlob"])
    assert error_of(caught)[0] == "InvalidCiphertextException"


def test_generate_data_key_needs_exactly_one_of_spec_and_size(server: KeyholdServer) -> None:
    kms = unvalidated(server)
    key_id = new_key(kms)["KeyId"]
    for operation in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
        for kwargs in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
            with pytest.raises(ClientError) as caught:
                operation(KeyId=key_id, **kwargs)
            assert error_of(caught) == (
                "ValidationException",
                "Please specify either number of bytes or key spec.",
            ), kwargs
        for count in (0, 1025):
            with pytest.raises(ClientError) as caught:
                operation(KeyId=key_id, NumberOfBytes=count)
            assert error_of(caught)[0] == "ValidationException", count
        with pytest.raises(ClientError) as caught:
            operation(KeyId=key_id, KeySpec="AES_512")
        assert error_of(caught)[0] == "ValidationException"


def test_responses_name_the_key_by_arn_even_for_an_alias(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta, alias, alias_arn = new_aliased_key(server, kms)
    for ref in (alias, alias_arn, meta["KeyId"]):
        assert kms.generate_data_key(KeyId=ref, KeySpec="AES_256")["KeyId"] == meta["Arn"], ref
        assert kms.generate_data_key_without_plaintext(KeyId=ref, KeySpec="AES_256")["KeyId"] == meta["Arn"]
        assert kms.encrypt(KeyId=ref, Plaintext=b"a")["KeyId"] == meta["Arn"], ref


def test_generate_data_key_without_plaintext(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    generated = kms.generate_data_key_without_plaintext(
        KeyId=meta["KeyId"], KeySpec="AES_256", EncryptionContext={"bucket": "b"}
    )
    assert "Plaintext" not in generated
    assert generated["KeyId"] == meta["Arn"]
    assert generated["KeyMaterialId"] == meta["CurrentKeyMaterialId"]
    opened = kms.decrypt(CiphertextBlob=generated["CiphertextBlob"], EncryptionContext={"bucket": "b"})
    assert len(opened["Plaintext"]) == 32
    assert opened["KeyId"] == meta["Arn"]


# -- GenerateRandom ----------------------------------------------------------------------------------------------


def test_generate_random(server: KeyholdServer) -> None:
    kms = server.client("kms")
    for count in (1, 2, 16, 32, 1000, 1024):
        assert len(kms.generate_random(NumberOfBytes=count)["Plaintext"]) == count
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != kms.generate_random(NumberOfBytes=32)["Plaintext"]
    raw = unvalidated(server)
    for count in (0, 1025):
        with pytest.raises(ClientError) as caught:
            raw.generate_random(NumberOfBytes=count)
        assert error_of(caught)[0] == "ValidationException", count


# -- DryRun and algorithms ---------------------------------------------------------------------------------------


def test_dry_run(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"dry")["CiphertextBlob"]
    calls = {
        "Encrypt": lambda: kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", DryRun=True),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256", DryRun=True),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=meta["KeyId"], DryRun=True),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught)[0] == "DryRunOperationException", name
    # A dry run still reports what the real call would have failed with.
    kms.disable_key(KeyId=meta["KeyId"])
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_of(caught) == ("DisabledException", f"{meta['Arn']} is disabled.")


def test_asymmetric_algorithms_on_a_symmetric_key(server: KeyholdServer) -> None:
    kms = server.client("kms")
    meta = new_key(kms)
    with pytest.raises(ClientError) as caught:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(caught)[0] == "InvalidKeyUsageException"
    sealed = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x", EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert error_of(caught)[0] == "InvalidKeyUsageException"
    opened = kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"], EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    assert opened["Plaintext"] == b"x"


def test_members_keyhold_cannot_honour_are_refused_not_ignored(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms)  # (bad grant tokens: tests/e2e/test_kms_authorization.py)
    with pytest.raises(ClientError) as caught:
        kms.generate_data_key(
            KeyId=key["KeyId"],
            KeySpec="AES_256",
            Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"doc"},
        )
    assert error_of(caught)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as caught:
        kms.create_key(CustomKeyStoreId="cks-1234567890abcdef0")
    assert error_of(caught)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as caught:
        kms.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1234567890abcdef0")
    assert error_of(caught)[0] == "UnsupportedOperationException"
