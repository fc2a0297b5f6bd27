"""Imported key material through a real server and boto3: the client wraps its material with plain
`cryptography` exactly as AWS's instructions do it with OpenSSL, and everything after the import is checked
against that client-side material (local HMACs, signatures verified with the imported key's own public half)."""

import base64
import datetime
import gzip
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from support.key_import import WRAPPING_ALGORITHMS, pkcs8, wrap
from support.kms import error_of, make_user, new_key, now
from support.server import KeyholdServer

NO_EXPIRY = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
MATERIAL = bytes(range(32))


def import_material(
    kms: Any,
    key_id: str,
    material: bytes,
    algorithm: str = "RSAES_OAEP_SHA_256",
    wrapping_key_spec: str = "RSA_2048",
    **options: Any,
) -> dict[str, Any]:
    """GetParametersForImport, wrap on the client side, ImportKeyMaterial: the response."""
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=wrapping_key_spec)
    encrypted = wrap(params["PublicKey"], algorithm, material)
    response: dict[str, Any] = kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=encrypted, **(options or NO_EXPIRY)
    )
    return response


def client_error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return error_of(caught)


# ---- symmetric keys -------------------------------------------------------------------------------------


def test_an_external_key_is_pending_import_until_material_arrives(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL", Description="bring your own key")
    assert (key["Origin"], key["KeyState"], key["Enabled"]) == ("EXTERNAL", "PendingImport", False)
    assert "CurrentKeyMaterialId" not in key
    assert "ExpirationModel" not in key
    assert client_error(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending import.",
    )
    assert client_error(kms.enable_key, KeyId=key["KeyId"]) == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending import.",
    )
    code, message = client_error(kms.enable_key_rotation, KeyId=key["KeyId"])
    assert (code, message) == (
        "UnsupportedOperationException",
        f"{key['Arn']} origin is EXTERNAL which is not valid for this operation.",
    )
    for origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
        assert client_error(kms.create_key, Origin=origin)[0] == "UnsupportedOperationException"


@pytest.mark.parametrize("algorithm", WRAPPING_ALGORITHMS)
def test_import_with_each_wrapping_algorithm_then_encrypt_and_decrypt(server: KeyholdServer, algorithm: str) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL")
    params = kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072")
    assert params["KeyId"] == key["Arn"]
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 3072
    valid_for = params["ParametersValidTo"] - now()
    assert datetime.timedelta(hours=23, minutes=59) < valid_for <= datetime.timedelta(hours=24)

    imported = kms.import_key_material(
        KeyId=key["Arn"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, MATERIAL),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert imported["KeyId"] == key["Arn"]
    material_id = imported["KeyMaterialId"]
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"], described["ExpirationModel"]) == (
        "Enabled",
        True,
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert described["CurrentKeyMaterialId"] == material_id
    assert "ValidTo" not in described
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext={"a": "b"})["CiphertextBlob"]
    decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert (decrypted["Plaintext"], decrypted["KeyMaterialId"]) == (b"secret", material_id)


def test_valid_to_shows_in_describe_key_and_list_key_rotations(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL")
    valid_to = (now() + datetime.timedelta(days=30)).replace(microsecond=0)
    code, message = client_error(
        kms.import_key_material,
        KeyId=key["KeyId"],
        ImportToken=b"x" * 100,
        EncryptedKeyMaterial=b"x" * 256,
    )
    assert (code, message) == (
        "ValidationException",
        "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.",
    )
    import_material(kms, key["KeyId"], MATERIAL, ValidTo=valid_to, KeyMaterialDescription="from the HSM")
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (described["ExpirationModel"], described["ValidTo"]) == ("KEY_MATERIAL_EXPIRES", valid_to)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert rotations == [
        {
            "KeyId": key["Arn"],
            "KeyMaterialId": described["CurrentKeyMaterialId"],
            "KeyMaterialDescription": "from the HSM",
            "ImportState": "IMPORTED",
            "KeyMaterialState": "CURRENT",
            "ExpirationModel": "KEY_MATERIAL_EXPIRES",
            "ValidTo": valid_to,
        }
    ]


def test_tokens_for_another_key_or_tampered_are_invalid(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key, other = new_key(kms, Origin="EXTERNAL"), new_key(kms, Origin="EXTERNAL")
    params = kms.get_parameters_for_import(
        KeyId=other["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    encrypted = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", MATERIAL)
    code, message = client_error(
        kms.import_key_material,
        KeyId=key["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=encrypted,
        **NO_EXPIRY,
    )
    assert code == "InvalidImportTokenException"
    assert key["Arn"] in message
    tampered = bytearray(params["ImportToken"])
    tampered[30] ^= 0x80  # the last byte of the expiry
    code, _ = client_error(
        kms.import_key_material,
        KeyId=other["KeyId"],
        ImportToken=bytes(tampered),
        EncryptedKeyMaterial=encrypted,
        **NO_EXPIRY,
    )
    assert code == "InvalidImportTokenException"
    wrong_wrap = wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", MATERIAL)  # not the token's algorithm
    code, _ = client_error(
        kms.import_key_material,
        KeyId=other["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrong_wrap,
        **NO_EXPIRY,
    )
    assert code == "InvalidCiphertextException"
    assert kms.describe_key(KeyId=other["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


def test_reimport_rules_and_delete_then_reimport_decrypts_old_ciphertexts(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL")
    material_id = import_material(kms, key["KeyId"], MATERIAL)["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"written before")["CiphertextBlob"]

    with pytest.raises(ClientError) as caught:
        import_material(kms, key["KeyId"], bytes(32))
    assert error_of(caught)[0] == "IncorrectKeyMaterialException"
    with pytest.raises(ClientError) as caught:
        import_material(kms, key["KeyId"], bytes(16))
    assert error_of(caught) == (
        "IncorrectKeyMaterialException",
        "Key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 bytes).",
    )

    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert (deleted["KeyId"], deleted["KeyMaterialId"]) == (key["Arn"], material_id)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert client_error(kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending import.",
    )
    rotations = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["ImportState"]) for r in rotations] == [(material_id, "PENDING_IMPORT")]

    again = import_material(kms, key["KeyId"], MATERIAL, "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096")
    assert again["KeyMaterialId"] == material_id
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"written before"


def test_new_key_material_then_rotate_key_on_demand(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL")
    first = import_material(kms, key["KeyId"], MATERIAL)["KeyMaterialId"]
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    second = import_material(kms, key["KeyId"], bytes(32), ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    states = {
        r["KeyMaterialId"]: r["KeyMaterialState"]
        for r in kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states == {first: "CURRENT", second["KeyMaterialId"]: "PENDING_ROTATION"}
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    described = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["CurrentKeyMaterialId"] == second["KeyMaterialId"]
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyMaterialId"], r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [
        (second["KeyMaterialId"], "ON_DEMAND", "CURRENT")
    ]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    new = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == second["KeyMaterialId"]


def test_import_operations_refuse_keys_and_algorithms_they_cannot_serve(server: KeyholdServer) -> None:
    kms = server.client("kms")
    generated = new_key(kms)
    message = f"{generated['Arn']} origin is AWS_KMS which is not valid for this operation."
    assert client_error(
        kms.get_parameters_for_import,
        KeyId=generated["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    ) == ("UnsupportedOperationException", message)
    assert client_error(kms.delete_imported_key_material, KeyId=generated["KeyId"]) == (
        "UnsupportedOperationException",
        message,
    )
    key = new_key(kms, Origin="EXTERNAL")
    code, message = client_error(
        kms.get_parameters_for_import,
        KeyId=key["KeyId"],
        WrappingAlgorithm="RSAES_PKCS1_V1_5",
        WrappingKeySpec="RSA_2048",
    )
    assert (code, "no longer supported" in message) == ("ValidationException", True)
    code, _ = client_error(
        kms.get_parameters_for_import, KeyId=key["KeyId"], WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2"
    )
    assert code == "UnsupportedOperationException"


# ---- HMAC and asymmetric keys -----------------------------------------------------------------------------


def test_imported_hmac_key_makes_the_macs_of_the_clients_key(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL", KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")
    secret = hashlib.sha512(b"the client's HMAC key").digest() + b"\x07" * 16  # 80 bytes
    response = import_material(kms, key["KeyId"], secret, "RSA_AES_KEY_WRAP_SHA_256")
    assert response == {"KeyId": key["Arn"], "ResponseMetadata": response["ResponseMetadata"]}
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"message", MacAlgorithm="HMAC_SHA_512")["Mac"]
    assert mac == hmac.new(secret, b"message", "sha512").digest()
    code, _ = client_error(
        kms.import_key_material,
        KeyId=key["KeyId"],
        ImportToken=b"t" * 64,
        EncryptedKeyMaterial=b"m" * 256,
        ImportType="EXISTING_KEY_MATERIAL",
        **NO_EXPIRY,
    )
    assert code == "ValidationException"


def test_imported_rsa_and_ecc_keys_sign_what_their_public_halves_verify(server: KeyholdServer) -> None:
    kms = server.client("kms")
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_key = new_key(kms, Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    import_material(kms, rsa_key["KeyId"], pkcs8(rsa_private), "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    signature = kms.sign(KeyId=rsa_key["KeyId"], Message=b"signed", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    rsa_private.public_key().verify(signature, b"signed", pss, hashes.SHA256())
    public = kms.get_public_key(KeyId=rsa_key["KeyId"])["PublicKey"]
    assert public == rsa_private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    ecc_private = ec.generate_private_key(ec.SECP384R1())
    ecc_key = new_key(kms, Origin="EXTERNAL", KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")
    assert client_error(kms.get_public_key, KeyId=ecc_key["KeyId"])[0] == "KMSInvalidStateException"
    import_material(kms, ecc_key["KeyId"], pkcs8(ecc_private), "RSAES_OAEP_SHA_256", "RSA_3072")
    signature = kms.sign(KeyId=ecc_key["KeyId"], Message=b"signed", SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    ecc_private.public_key().verify(signature, b"signed", ec.ECDSA(hashes.SHA384()))
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ClientError) as caught:
        import_material(kms, ecc_key["KeyId"], pkcs8(other), "RSAES_OAEP_SHA_256", "RSA_3072")
    assert error_of(caught)[0] == "IncorrectKeyMaterialException"


# ---- authorization ----------------------------------------------------------------------------------------


def test_import_operations_are_authorized_with_their_condition_keys(server: KeyholdServer) -> None:
    admin = server.client("kms")
    key = new_key(admin, Origin="EXTERNAL")
    _, user = make_user(
        server,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "kms:GetParametersForImport",
                    "Resource": key["Arn"],
                    "Condition": {
                        "StringEquals": {
                            "kms:WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256",
                            "kms:WrappingKeySpec": "RSA_4096",
                        }
                    },
                },
                {
                    "Effect": "Allow",
                    "Action": "kms:ImportKeyMaterial",
                    "Resource": key["Arn"],
                    "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"}},
                },
            ],
        },
    )
    for algorithm, spec in (("RSAES_OAEP_SHA_256", "RSA_4096"), ("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")):
        code, message = client_error(
            user.get_parameters_for_import, KeyId=key["KeyId"], WrappingAlgorithm=algorithm, WrappingKeySpec=spec
        )
        assert code == "AccessDeniedException"
        assert "kms:GetParametersForImport" in message
    params = user.get_parameters_for_import(
        KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_4096"
    )
    encrypted = wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", MATERIAL)
    code, message = client_error(
        user.import_key_material,
        KeyId=key["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=encrypted,
        **NO_EXPIRY,
    )
    assert (code, "kms:ImportKeyMaterial" in message) == ("AccessDeniedException", True)
    assert admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    user.import_key_material(
        KeyId=key["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=encrypted,
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=now() + datetime.timedelta(days=1),
    )
    assert admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    code, message = client_error(user.delete_imported_key_material, KeyId=key["KeyId"])
    assert (code, "kms:DeleteImportedKeyMaterial" in message) == ("AccessDeniedException", True)
    assert admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


# ---- the audit trail --------------------------------------------------------------------------------------


def test_no_token_wrapped_material_or_material_reaches_the_audit_trail(make_server: Any) -> None:
    server: KeyholdServer = make_server(extra_args=("--audit-flush-interval", "0.2"))
    kms = server.client("kms")
    key = new_key(kms, Origin="EXTERNAL")
    params = kms.get_parameters_for_import(
        KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    encrypted = wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", MATERIAL)
    valid_to = (now() + datetime.timedelta(days=2)).replace(microsecond=0)
    kms.import_key_material(
        KeyId=key["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=encrypted, ValidTo=valid_to
    )
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert server.stop() == 0

    trail = []
    for path in sorted((server.data_dir / "audit").rglob("*.json.gz")):
        if "Digest" not in path.name:
            trail.extend(json.loads(gzip.decompress(path.read_bytes()))["Records"])
    by_name = {r["eventName"]: r for r in trail if key["KeyId"] in json.dumps(r)}
    assert by_name["GetParametersForImport"]["requestParameters"] == {
        "keyId": key["KeyId"],
        "wrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256",
        "wrappingKeySpec": "RSA_2048",
    }
    assert by_name["GetParametersForImport"]["responseElements"] is None
    imported = by_name["ImportKeyMaterial"]
    assert imported["requestParameters"] == {"keyId": key["KeyId"], "validTo": valid_to.timestamp()}
    assert imported["responseElements"] is None
    assert imported["resources"][0]["ARN"] == key["Arn"]
    assert by_name["DeleteImportedKeyMaterial"]["readOnly"] is False
    text = json.dumps(trail)
    for secret in (params["ImportToken"], encrypted, MATERIAL, params["PublicKey"]):
        assert base64.b64encode(secret).decode() not in text
        assert secret.hex() not in text
