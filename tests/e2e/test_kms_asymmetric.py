"""Asymmetric KMS keys through a real server: every signature verifies with plain `cryptography` given only
GetPublicKey's output, RSA ciphertexts cross between Keyhold and `cryptography`, data key pairs, ECDH."""

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from support.kms import error_of, make_user, new_key
from support.server import KeyholdServer

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
SIGNING_CASES = [
    *[(spec, algorithm) for spec in ("RSA_2048", "RSA_3072", "RSA_4096") for algorithm in RSA_SIGNING],
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
]
RSA_LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
    ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
    ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
    ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}
MESSAGE = b"the quick brown fox jumps over the lazy dog"

_keys: dict[tuple[str, str], dict[str, Any]] = {}


def key_for(kms: Any, spec: str, usage: str) -> dict[str, Any]:
    """One key per (spec, usage) for the module: RSA_4096 generation is slow."""
    if (spec, usage) not in _keys:
        _keys[(spec, usage)] = new_key(kms, KeySpec=spec, KeyUsage=usage)
    return _keys[(spec, usage)]


def hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm[-3:]]()


def local_verify(public_der: bytes, algorithm: str, message: bytes, signature: bytes, *, digest: bool) -> None:
    """Verify with plain `cryptography`, as a client holding only GetPublicKey's output would. Raises if invalid."""
    public = serialization.load_der_public_key(public_der)
    if isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, message)
        return
    hash_ = hash_of(algorithm)
    data_hash = utils.Prehashed(hash_) if digest else hash_
    if isinstance(public, rsa.RSAPublicKey):
        if "PSS" in algorithm:
            pad: padding.AsymmetricPadding = padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
        else:
            pad = padding.PKCS1v15()
        public.verify(signature, message, pad, data_hash)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, message, ec.ECDSA(data_hash))


def expect(code: str, call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    got, message = error_of(caught)
    assert got == code, message
    return message


# -- CreateKey, DescribeKey, GetPublicKey --------------------------------------------------------------------------


def test_describe_and_get_public_key_list_only_the_relevant_algorithms(server: KeyholdServer) -> None:
    kms = server.client("kms")
    rsa_sign = key_for(kms, "RSA_2048", "SIGN_VERIFY")
    assert rsa_sign["KeySpec"] == rsa_sign["CustomerMasterKeySpec"] == "RSA_2048"
    assert rsa_sign["SigningAlgorithms"] == RSA_SIGNING
    assert "EncryptionAlgorithms" not in rsa_sign
    assert "CurrentKeyMaterialId" not in rsa_sign
    rsa_encrypt = key_for(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    assert rsa_encrypt["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert "SigningAlgorithms" not in rsa_encrypt
    agreement = key_for(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    assert agreement["KeyAgreementAlgorithms"] == ["ECDH"]
    assert "SigningAlgorithms" not in agreement
    described = kms.describe_key(KeyId=rsa_sign["KeyId"])["KeyMetadata"]
    assert described["SigningAlgorithms"] == RSA_SIGNING
    assert described["KeyUsage"] == "SIGN_VERIFY"

    public = kms.get_public_key(KeyId=rsa_encrypt["KeyId"])
    assert public["KeyId"] == rsa_encrypt["Arn"]
    assert public["KeySpec"] == public["CustomerMasterKeySpec"] == "RSA_2048"
    assert public["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert public["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert "SigningAlgorithms" not in public
    loaded = serialization.load_der_public_key(public["PublicKey"])
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.key_size == 2048
    assert kms.get_public_key(KeyId=agreement["KeyId"])["KeyAgreementAlgorithms"] == ["ECDH"]


def test_create_key_checks_spec_and_usage(server: KeyholdServer) -> None:
    kms = server.client("kms")
    message = expect("ValidationException", kms.create_key, KeySpec="ECC_NIST_P256")
    assert message == "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    message = expect("ValidationException", kms.create_key, KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")
    assert message == "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1"
    expect("ValidationException", kms.create_key, KeySpec="RSA_2048", KeyUsage="KEY_AGREEMENT")
    expect("ValidationException", kms.create_key, KeySpec="ECC_NIST_P384", KeyUsage="ENCRYPT_DECRYPT")
    expect("ValidationException", kms.create_key, KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="ENCRYPT_DECRYPT")
    expect("ValidationException", kms.create_key, KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY")
    expect("UnsupportedOperationException", kms.create_key, KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    expect("UnsupportedOperationException", kms.create_key, KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")


def test_get_public_key_is_refused_for_symmetric_keys_and_allowed_on_disabled_keys(server: KeyholdServer) -> None:
    kms = server.client("kms")
    expect("UnsupportedOperationException", kms.get_public_key, KeyId=new_key(kms)["KeyId"])
    key = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    kms.disable_key(KeyId=key["KeyId"])
    assert kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    message = expect("DisabledException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert message == f"{key['Arn']} is disabled."


# -- Sign and Verify -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING_CASES)
def test_signatures_verify_with_cryptography_given_only_the_public_key(
    server: KeyholdServer, spec: str, algorithm: str
) -> None:
    kms = server.client("kms")
    key = key_for(kms, spec, "SIGN_VERIFY")
    public_der = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    raw = kms.sign(KeyId=key["KeyId"], Message=MESSAGE, MessageType="RAW", SigningAlgorithm=algorithm)
    assert raw["KeyId"] == key["Arn"]
    assert raw["SigningAlgorithm"] == algorithm
    local_verify(public_der, algorithm, MESSAGE, raw["Signature"], digest=False)
    verified = kms.verify(KeyId=key["KeyId"], Message=MESSAGE, SigningAlgorithm=algorithm, Signature=raw["Signature"])
    assert verified["SignatureValid"] is True
    assert verified["KeyId"] == key["Arn"]
    with pytest.raises(InvalidSignature):
        local_verify(public_der, algorithm, MESSAGE + b"!", raw["Signature"], digest=False)
    message = expect(
        "KMSInvalidSignatureException",
        kms.verify,
        KeyId=key["KeyId"],
        Message=MESSAGE + b"!",
        SigningAlgorithm=algorithm,
        Signature=raw["Signature"],
    )
    assert message == ""
    if algorithm.startswith("ED25519"):
        return
    hasher = hashlib.new("sha" + algorithm[-3:])
    hasher.update(MESSAGE)
    digest = hasher.digest()
    signed = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
    local_verify(public_der, algorithm, digest, signed["Signature"], digest=True)
    local_verify(public_der, algorithm, MESSAGE, signed["Signature"], digest=False)  # the same kind of signature
    kms.verify(
        KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm, Signature=raw["Signature"]
    )


def test_sign_refuses_wrong_digest_lengths_algorithms_and_usages(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    message = expect(
        "ValidationException",
        kms.sign,
        KeyId=key["KeyId"],
        Message=b"x" * 31,
        MessageType="DIGEST",
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert message == "Digest is invalid length for algorithm ECDSA_SHA_256."
    message = expect(
        "InvalidKeyUsageException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384"
    )
    assert message == "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."
    expect(
        "InvalidKeyUsageException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256"
    )
    symmetric = new_key(kms)
    message = expect(
        "InvalidKeyUsageException", kms.sign, KeyId=symmetric["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"
    )
    assert message == f"{symmetric['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Sign."
    message = expect("InvalidKeyUsageException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert message == f"{key['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt."
    expect("InvalidKeyUsageException", kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")
    ed = key_for(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    expect(
        "UnsupportedOperationException",
        kms.sign,
        KeyId=ed["KeyId"],
        Message=b"d" * 64,
        MessageType="DIGEST",
        SigningAlgorithm="ED25519_PH_SHA_512",
    )


def test_rotation_is_refused_for_asymmetric_keys(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    expect("UnsupportedOperationException", kms.enable_key_rotation, KeyId=key["KeyId"])
    expect("UnsupportedOperationException", kms.rotate_key_on_demand, KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


# -- Encrypt and Decrypt with RSA keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), sorted(RSA_LIMITS))
def test_rsa_ciphertexts_cross_between_keyhold_and_cryptography(
    server: KeyholdServer, spec: str, algorithm: str
) -> None:
    kms = server.client("kms")
    key = key_for(kms, spec, "ENCRYPT_DECRYPT")
    limit = RSA_LIMITS[(spec, algorithm)]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    hash_ = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()  # noqa: S303 - AWS offers OAEP-SHA1
    oaep = padding.OAEP(mgf=padding.MGF1(hash_), algorithm=hash_, label=None)

    plaintext = bytes(range(256)) * 2
    local = public.encrypt(plaintext[:limit], oaep)  # made outside with the public key only
    opened = kms.decrypt(CiphertextBlob=local, KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
    assert opened["Plaintext"] == plaintext[:limit]
    assert opened["KeyId"] == key["Arn"]
    assert opened["EncryptionAlgorithm"] == algorithm
    assert "KeyMaterialId" not in opened

    sealed = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext[:limit], EncryptionAlgorithm=algorithm)
    assert sealed["EncryptionAlgorithm"] == algorithm
    assert len(sealed["CiphertextBlob"]) == public.key_size // 8  # raw RSAES-OAEP, no Keyhold header
    again = kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"], KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
    assert again["Plaintext"] == plaintext[:limit]

    message = expect(
        "ValidationException",
        kms.encrypt,
        KeyId=key["KeyId"],
        Plaintext=plaintext[: limit + 1],
        EncryptionAlgorithm=algorithm,
    )
    assert message == f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes."
    other = "RSAES_OAEP_SHA_1" if algorithm.endswith("256") else "RSAES_OAEP_SHA_256"
    expect(
        "InvalidCiphertextException",
        kms.decrypt,
        CiphertextBlob=sealed["CiphertextBlob"],
        KeyId=key["KeyId"],
        EncryptionAlgorithm=other,
    )


def test_rsa_encryption_needs_the_algorithm_and_key_id_and_takes_no_context(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = key_for(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    message = expect("InvalidKeyUsageException", kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert message == "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
    expect(
        "ValidationException",
        kms.encrypt,
        KeyId=key["KeyId"],
        Plaintext=b"x",
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        EncryptionContext={"a": "b"},
    )
    sealed = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    expect("InvalidCiphertextException", kms.decrypt, CiphertextBlob=sealed["CiphertextBlob"])
    expect("InvalidKeyUsageException", kms.decrypt, CiphertextBlob=sealed["CiphertextBlob"], KeyId=key["KeyId"])
    # A Keyhold (symmetric) ciphertext is not an RSA ciphertext.
    blob = kms.encrypt(KeyId=new_key(kms)["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    expect(
        "InvalidCiphertextException",
        kms.decrypt,
        CiphertextBlob=blob,
        KeyId=key["KeyId"],
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    expect("InvalidKeyUsageException", kms.generate_data_key, KeyId=key["KeyId"], KeySpec="AES_256")
    expect("InvalidKeyUsageException", kms.generate_data_key_pair, KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256")


def test_re_encrypt_between_symmetric_and_rsa_keys(server: KeyholdServer) -> None:
    kms = server.client("kms")
    rsa_key = key_for(kms, "RSA_3072", "ENCRYPT_DECRYPT")
    symmetric = new_key(kms)
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"secret", EncryptionContext={"k": "v"})["CiphertextBlob"]
    to_rsa = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"k": "v"},
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert to_rsa["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert to_rsa["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "DestinationKeyMaterialId" not in to_rsa
    assert to_rsa["SourceKeyMaterialId"]
    back = kms.re_encrypt(
        CiphertextBlob=to_rsa["CiphertextBlob"],
        SourceKeyId=rsa_key["KeyId"],
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationKeyId=symmetric["KeyId"],
        DestinationEncryptionContext={"k": "w"},
    )
    assert back["SourceKeyId"] == rsa_key["Arn"]
    plain = kms.decrypt(CiphertextBlob=back["CiphertextBlob"], EncryptionContext={"k": "w"})["Plaintext"]
    assert plain == b"secret"


# -- GenerateDataKeyPair --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "RSA_2048",
        "RSA_3072",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
    ],
)
def test_generate_data_key_pair(server: KeyholdServer, spec: str) -> None:
    kms = server.client("kms")
    key = new_key(kms)
    context = {"purpose": "pair"}
    pair = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec=spec, EncryptionContext=context)
    assert pair["KeyId"] == key["Arn"]
    assert pair["KeyPairSpec"] == spec
    assert pair["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == pair["PublicKey"]
    opened = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert opened["Plaintext"] == pair["PrivateKeyPlaintext"]
    expect("InvalidCiphertextException", kms.decrypt, CiphertextBlob=pair["PrivateKeyCiphertextBlob"])

    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in bare
    private_der = kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"]
    reloaded = serialization.load_der_private_key(private_der, password=None)
    assert (
        reloaded.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == bare["PublicKey"]
    )


def test_generate_data_key_pair_refuses_sm2(server: KeyholdServer) -> None:
    kms = server.client("kms")
    expect("UnsupportedOperationException", kms.generate_data_key_pair, KeyId=new_key(kms)["KeyId"], KeyPairSpec="SM2")


# -- DeriveSharedSecret --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", ec.SECP256R1), ("ECC_NIST_P384", ec.SECP384R1), ("ECC_NIST_P521", ec.SECP521R1)],
)
def test_derive_shared_secret_matches_local_ecdh(
    server: KeyholdServer, spec: str, curve: type[ec.EllipticCurve]
) -> None:
    kms = server.client("kms")
    key = key_for(kms, spec, "KEY_AGREEMENT")
    peer = ec.generate_private_key(curve())
    peer_spki = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    derived = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_spki)
    assert derived["KeyId"] == key["Arn"]
    assert derived["KeyAgreementAlgorithm"] == "ECDH"
    assert derived["KeyOrigin"] == "AWS_KMS"
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(kms_public, ec.EllipticCurvePublicKey)
    assert derived["SharedSecret"] == peer.exchange(ec.ECDH(), kms_public)


def test_derive_shared_secret_refusals(server: KeyholdServer) -> None:
    kms = server.client("kms")
    key = key_for(kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key()
    spki = other_curve.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expect(
        "ValidationException",
        kms.derive_shared_secret,
        KeyId=key["KeyId"],
        KeyAgreementAlgorithm="ECDH",
        PublicKey=spki,
    )
    signing = key_for(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    message = expect(
        "InvalidKeyUsageException",
        kms.derive_shared_secret,
        KeyId=signing["KeyId"],
        KeyAgreementAlgorithm="ECDH",
        PublicKey=spki,
    )
    assert message == f"{signing['Arn']} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."
    expect("InvalidKeyUsageException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


# -- authorization ---------------------------------------------------------------------------------------------------


def test_a_policy_condition_on_the_signing_algorithm(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    key = key_for(kms_root, "RSA_2048", "SIGN_VERIFY")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Sign",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PSS_SHA_256"}},
            }
        ],
    }
    _, kms = make_user(server, policy)
    kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    message = expect(
        "AccessDeniedException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_384"
    )
    assert "kms:Sign" in message
    expect("AccessDeniedException", kms.get_public_key, KeyId=key["KeyId"])


def test_a_policy_condition_on_ecdsa_sha_256(server: KeyholdServer) -> None:
    key = key_for(server.client("kms"), "ECC_SECG_P256K1", "SIGN_VERIFY")
    condition = {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST"}}
    _, kms = make_user(
        server,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:Sign", "Resource": "*", "Condition": condition}],
        },
    )
    kms.sign(KeyId=key["KeyId"], Message=b"d" * 32, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    expect("AccessDeniedException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    expect(
        "AccessDeniedException",
        kms.verify,
        KeyId=key["KeyId"],
        Message=b"d" * 32,
        MessageType="DIGEST",
        SigningAlgorithm="ECDSA_SHA_256",
        Signature=b"s",
    )


def test_grants_take_the_operations_of_the_key_usage(server: KeyholdServer) -> None:
    kms_root = server.client("kms")
    key = key_for(kms_root, "ECC_NIST_P384", "SIGN_VERIFY")
    name, kms = make_user(server)
    grantee = f"arn:aws:iam::{server.account_id}:user/{name}"
    expect("AccessDeniedException", kms.sign, KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    kms_root.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, Operations=["Sign", "GetPublicKey"])
    kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    kms.get_public_key(KeyId=key["KeyId"])
    expect(
        "ValidationException",
        kms_root.create_grant,
        KeyId=key["KeyId"],
        GranteePrincipal=grantee,
        Operations=["Encrypt"],
    )
    expect(
        "ValidationException",
        kms_root.create_grant,
        KeyId=new_key(kms_root)["KeyId"],
        GranteePrincipal=grantee,
        Operations=["Sign"],
    )
