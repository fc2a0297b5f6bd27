"""KMS asymmetric keys: every spec and algorithm round-trips, and plain `cryptography` holding only the SPKI public
key (what a GetPublicKey client has) verifies Keyhold's signatures and encrypts what Keyhold decrypts."""

import functools

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from keyhold.crypto import asymmetric as asym
from keyhold.crypto.errors import InvalidCiphertext

MESSAGE = b"Keyhold signs what it is given." * 7
HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "SHA_1": hashes.SHA1,
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}
CURVES: dict[str, type[ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1 | ec.SECP256K1]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
ALL_SPECS = asym.KEY_SPECS_RSA + asym.KEY_SPECS_ECC


@functools.cache
def private_key(key_spec: str) -> bytes:
    return asym.generate_private_key(key_spec)


@functools.cache
def public_key(key_spec: str) -> bytes:
    return asym.public_key_der(private_key(key_spec))


def hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return HASHES[algorithm[algorithm.index("SHA_") :]]()


def digest(algorithm: str, message: bytes) -> bytes:
    h = hashes.Hash(hash_of(algorithm))
    h.update(message)
    return h.finalize()


def plain_verify(spki: bytes, algorithm: str, message: bytes, signature: bytes) -> None:
    """Verify the way a KMS client does: only the SPKI public key, the raw message and AWS's documented parameters."""
    key = serialization.load_der_public_key(spki)
    if algorithm == "ED25519_SHA_512":
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(signature, message)
    elif algorithm.startswith("RSASSA_PSS_"):
        assert isinstance(key, rsa.RSAPublicKey)
        h = hash_of(algorithm)
        key.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(signature, message, padding.PKCS1v15(), hash_of(algorithm))
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, message, ec.ECDSA(hash_of(algorithm)))


SIGNING = [
    pytest.param(spec, algorithm, message_type, id=f"{spec}-{algorithm}-{message_type}")
    for spec in ALL_SPECS
    for algorithm in asym.signing_algorithms(spec)
    if algorithm != "ED25519_PH_SHA_512"
    for message_type in (("RAW",) if algorithm.startswith("ED25519") else ("RAW", "DIGEST"))
]
HASHED_SIGNING = [
    pytest.param(spec, algorithm, id=f"{spec}-{algorithm}")
    for spec in ALL_SPECS
    for algorithm in asym.signing_algorithms(spec)
    if not algorithm.startswith("ED25519")
]
ENCRYPTION = [
    pytest.param(spec, algorithm, id=f"{spec}-{algorithm}")
    for spec in asym.KEY_SPECS_RSA
    for algorithm in asym.encryption_algorithms(spec)
]


def test_algorithm_tables_are_aws_lists() -> None:
    pss = tuple(f"RSASSA_PSS_SHA_{n}" for n in (256, 384, 512))
    pkcs1 = tuple(f"RSASSA_PKCS1_V1_5_SHA_{n}" for n in (256, 384, 512))
    expected_signing = {
        **dict.fromkeys(asym.KEY_SPECS_RSA, pss + pkcs1),
        "ECC_NIST_P256": ("ECDSA_SHA_256",),
        "ECC_NIST_P384": ("ECDSA_SHA_384",),
        "ECC_NIST_P521": ("ECDSA_SHA_512",),
        "ECC_SECG_P256K1": ("ECDSA_SHA_256",),
        "ECC_NIST_EDWARDS25519": ("ED25519_SHA_512", "ED25519_PH_SHA_512"),
    }
    # AWS: key agreement on the NIST curves only; secp256k1 and Ed25519 keys are SIGN_VERIFY only.
    ecdh = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
    for spec in ALL_SPECS:
        assert asym.signing_algorithms(spec) == expected_signing[spec]
        oaep = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256") if spec in asym.KEY_SPECS_RSA else ()
        assert asym.encryption_algorithms(spec) == oaep
        assert asym.key_agreement_algorithms(spec) == (("ECDH",) if spec in ecdh else ())
    for other in ("SYMMETRIC_DEFAULT", "HMAC_256", "SM2", "ML_DSA_65", "nonsense"):
        assert asym.signing_algorithms(other) == asym.encryption_algorithms(other) == ()
        assert asym.key_agreement_algorithms(other) == ()


def test_max_plaintext_is_aws_table() -> None:
    expected = {
        ("RSA_2048", "RSAES_OAEP_SHA_1"): 214,
        ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
        ("RSA_3072", "RSAES_OAEP_SHA_1"): 342,
        ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
        ("RSA_4096", "RSAES_OAEP_SHA_1"): 470,
        ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
    }
    for (spec, algorithm), limit in expected.items():
        assert asym.max_plaintext(spec, algorithm) == limit
    with pytest.raises(ValueError, match="not an encryption algorithm"):
        asym.max_plaintext("ECC_NIST_P256", "RSAES_OAEP_SHA_256")
    with pytest.raises(ValueError, match="not an encryption algorithm"):
        asym.max_plaintext("RSA_2048", "SYMMETRIC_DEFAULT")
    with pytest.raises(ValueError, match="not an encryption algorithm"):
        asym.encrypt(public_key("ECC_NIST_P256"), "ECC_NIST_P256", "RSAES_OAEP_SHA_256", b"x")


@pytest.mark.parametrize("key_spec", ALL_SPECS)
def test_generated_keys_are_pkcs8_and_spki_of_the_spec(key_spec: str) -> None:
    private = serialization.load_der_private_key(private_key(key_spec), password=None)
    public = serialization.load_der_public_key(public_key(key_spec))
    assert public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key_spec in asym.KEY_SPECS_RSA:
        assert isinstance(private, rsa.RSAPrivateKey)
        assert private.key_size == int(key_spec.removeprefix("RSA_"))
        assert private.private_numbers().public_numbers.e == 65537
    elif key_spec in CURVES:
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert isinstance(private.curve, CURVES[key_spec])
    else:
        assert isinstance(private, ed25519.Ed25519PrivateKey)
    asym.check_private_key(private_key(key_spec), key_spec)
    assert asym.generate_private_key(key_spec) != private_key(key_spec)


@pytest.mark.parametrize("key_spec", ["SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_unsupported_specs_raise_unsupported_algorithm(key_spec: str) -> None:
    with pytest.raises(asym.UnsupportedAlgorithm, match="not supported"):
        asym.generate_private_key(key_spec)


@pytest.mark.parametrize("key_spec", ["SYMMETRIC_DEFAULT", "HMAC_256", "RSA_1024", ""])
def test_unknown_specs_raise_value_error(key_spec: str) -> None:
    with pytest.raises(ValueError, match="unknown asymmetric key spec"):
        asym.generate_private_key(key_spec)


@pytest.mark.parametrize(("key_spec", "algorithm", "message_type"), SIGNING)
def test_sign_verifies_here_and_with_plain_cryptography(key_spec: str, algorithm: str, message_type: str) -> None:
    message = MESSAGE if message_type == "RAW" else digest(algorithm, MESSAGE)
    signature = asym.sign(private_key(key_spec), key_spec, algorithm, message, message_type)
    plain_verify(public_key(key_spec), algorithm, MESSAGE, signature)
    for key in (public_key(key_spec), private_key(key_spec)):
        assert asym.verify(key, key_spec, algorithm, message, message_type, signature)


@pytest.mark.parametrize(("key_spec", "algorithm"), HASHED_SIGNING)
def test_raw_and_digest_are_the_same_signature_scheme(key_spec: str, algorithm: str) -> None:
    spki, hashed = public_key(key_spec), digest(algorithm, MESSAGE)
    from_raw = asym.sign(private_key(key_spec), key_spec, algorithm, MESSAGE, "RAW")
    from_digest = asym.sign(private_key(key_spec), key_spec, algorithm, hashed, "DIGEST")
    for signature in (from_raw, from_digest):
        assert asym.verify(spki, key_spec, algorithm, MESSAGE, "RAW", signature)
        assert asym.verify(spki, key_spec, algorithm, hashed, "DIGEST", signature)
    if algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        assert from_raw == from_digest  # deterministic scheme: identical bytes
    if algorithm.startswith("ECDSA_"):
        utils.decode_dss_signature(from_raw)  # DER SEQUENCE { r, s }


@pytest.mark.parametrize(("key_spec", "algorithm", "message_type"), SIGNING)
def test_tampered_message_or_signature_fails(key_spec: str, algorithm: str, message_type: str) -> None:
    message = MESSAGE if message_type == "RAW" else digest(algorithm, MESSAGE)
    spki = public_key(key_spec)
    signature = asym.sign(private_key(key_spec), key_spec, algorithm, message, message_type)
    other_message = bytearray(message)
    other_message[0] ^= 0x01
    assert not asym.verify(spki, key_spec, algorithm, bytes(other_message), message_type, signature)
    for index in (0, len(signature) // 2, len(signature) - 1):
        tampered = bytearray(signature)
        tampered[index] ^= 0x01
        assert not asym.verify(spki, key_spec, algorithm, message, message_type, bytes(tampered))
    assert not asym.verify(spki, key_spec, algorithm, message, message_type, signature[:-1])
    assert not asym.verify(spki, key_spec, algorithm, message, message_type, signature + b"\x00")
    assert not asym.verify(spki, key_spec, algorithm, message, message_type, b"")
    if key_spec not in asym.KEY_SPECS_RSA:  # another key of the spec (RSA generation is too slow to repeat)
        other = asym.public_key_der(asym.generate_private_key(key_spec))
        assert not asym.verify(other, key_spec, algorithm, message, message_type, signature)


def test_a_signature_under_another_rsa_algorithm_fails() -> None:
    signature = asym.sign(private_key("RSA_2048"), "RSA_2048", "RSASSA_PSS_SHA_256", MESSAGE, "RAW")
    for other in ("RSASSA_PSS_SHA_384", "RSASSA_PKCS1_V1_5_SHA_256"):
        assert not asym.verify(public_key("RSA_2048"), "RSA_2048", other, MESSAGE, "RAW", signature)


def test_pss_salt_is_exactly_the_digest_length() -> None:
    """AWS: "PSS padding using SHA-256 for both the message digest and the MGF1 ... along with a 256-bit salt"."""
    private = serialization.load_der_private_key(private_key("RSA_2048"), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    h = hashes.SHA256()
    longest_salt = private.sign(MESSAGE, padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.MAX_LENGTH), h)
    assert not asym.verify(public_key("RSA_2048"), "RSA_2048", "RSASSA_PSS_SHA_256", MESSAGE, "RAW", longest_salt)
    ours = asym.sign(private_key("RSA_2048"), "RSA_2048", "RSASSA_PSS_SHA_256", MESSAGE, "RAW")
    public = private.public_key()
    with pytest.raises(InvalidSignature):
        public.verify(ours, MESSAGE, padding.PSS(mgf=padding.MGF1(h), salt_length=20), h)
    public.verify(ours, MESSAGE, padding.PSS(mgf=padding.MGF1(h), salt_length=32), h)


@pytest.mark.parametrize(("key_spec", "algorithm"), HASHED_SIGNING)
def test_wrong_size_digests_are_rejected(key_spec: str, algorithm: str) -> None:
    size = hash_of(algorithm).digest_size
    for length in (0, size - 1, size + 1, 2 * size):
        with pytest.raises(asym.InvalidDigestLength, match=f"^Digest is invalid length for algorithm {algorithm}.$"):
            asym.sign(private_key(key_spec), key_spec, algorithm, b"\x01" * length, "DIGEST")
        with pytest.raises(asym.InvalidDigestLength):
            asym.verify(public_key(key_spec), key_spec, algorithm, b"\x01" * length, "DIGEST", b"\x00" * 64)


def test_ed25519_rules() -> None:
    spec, key = "ECC_NIST_EDWARDS25519", private_key("ECC_NIST_EDWARDS25519")
    sha512 = digest("ECDSA_SHA_512", MESSAGE)
    signature = asym.sign(key, spec, "ED25519_SHA_512", MESSAGE, "RAW")
    assert len(signature) == 64
    with pytest.raises(ValueError, match="DIGEST is incompatible with algorithm ED25519_SHA_512"):
        asym.sign(key, spec, "ED25519_SHA_512", sha512, "DIGEST")
    with pytest.raises(ValueError, match="RAW is incompatible with algorithm ED25519_PH_SHA_512"):
        asym.sign(key, spec, "ED25519_PH_SHA_512", MESSAGE, "RAW")
    with pytest.raises(asym.InvalidDigestLength, match="ED25519_PH_SHA_512"):
        asym.sign(key, spec, "ED25519_PH_SHA_512", b"\x01" * 32, "DIGEST")
    with pytest.raises(asym.UnsupportedAlgorithm, match="Ed25519ph"):
        asym.sign(key, spec, "ED25519_PH_SHA_512", sha512, "DIGEST")
    with pytest.raises(asym.UnsupportedAlgorithm, match="Ed25519ph"):
        asym.verify(public_key(spec), spec, "ED25519_PH_SHA_512", sha512, "DIGEST", signature)


def test_request_errors_raise_instead_of_answering_false() -> None:
    key, spki = private_key("ECC_NIST_P256"), public_key("ECC_NIST_P256")
    with pytest.raises(ValueError, match="ECDSA_SHA_384 is not a signing algorithm of ECC_NIST_P256"):
        asym.sign(key, "ECC_NIST_P256", "ECDSA_SHA_384", MESSAGE, "RAW")
    with pytest.raises(ValueError, match="not a signing algorithm"):
        asym.verify(spki, "ECC_NIST_P256", "RSASSA_PSS_SHA_256", MESSAGE, "RAW", b"sig")
    with pytest.raises(ValueError, match="unknown message type"):
        asym.sign(key, "ECC_NIST_P256", "ECDSA_SHA_256", MESSAGE, "raw")
    with pytest.raises(asym.UnsupportedAlgorithm, match="EXTERNAL_MU"):
        asym.sign(key, "ECC_NIST_P256", "ECDSA_SHA_256", b"\x00" * 64, "EXTERNAL_MU")
    with pytest.raises(ValueError, match="does not match key spec ECC_NIST_P384"):
        asym.sign(key, "ECC_NIST_P384", "ECDSA_SHA_384", MESSAGE, "RAW")
    with pytest.raises(ValueError, match="does not match key spec ECC_SECG_P256K1"):
        asym.verify(spki, "ECC_SECG_P256K1", "ECDSA_SHA_256", MESSAGE, "RAW", b"sig")
    with pytest.raises(ValueError, match="does not match key spec RSA_3072"):
        asym.sign(private_key("RSA_2048"), "RSA_3072", "RSASSA_PSS_SHA_256", MESSAGE, "RAW")
    with pytest.raises(ValueError, match="not an unencrypted PKCS#8"):
        asym.sign(b"\x30\x03\x02\x01\x00", "ECC_NIST_P256", "ECDSA_SHA_256", MESSAGE, "RAW")
    with pytest.raises(ValueError, match="neither an SPKI"):
        asym.verify(b"garbage", "ECC_NIST_P256", "ECDSA_SHA_256", MESSAGE, "RAW", b"sig")
    with pytest.raises(ValueError, match="not an unencrypted PKCS#8"):
        asym.public_key_der(spki)


@pytest.mark.parametrize(("key_spec", "algorithm"), ENCRYPTION)
def test_plain_cryptography_encrypts_keyhold_decrypts_at_the_limit(key_spec: str, algorithm: str) -> None:
    limit = asym.max_plaintext(key_spec, algorithm)
    h = HASHES[algorithm.removeprefix("RSAES_OAEP_")]()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    public = serialization.load_der_public_key(public_key(key_spec))
    assert isinstance(public, rsa.RSAPublicKey)
    for plaintext in (b"\xa5" * limit, b"x", b""):
        ciphertext = public.encrypt(plaintext, oaep)
        assert asym.decrypt(private_key(key_spec), key_spec, algorithm, ciphertext) == plaintext
    with pytest.raises(ValueError, match="Encryption failed"):
        public.encrypt(b"\xa5" * (limit + 1), oaep)  # the limit is the scheme's, not Keyhold's


@pytest.mark.parametrize(("key_spec", "algorithm"), ENCRYPTION)
def test_keyhold_encrypts_at_the_limit_and_refuses_one_more(key_spec: str, algorithm: str) -> None:
    limit = asym.max_plaintext(key_spec, algorithm)
    for key in (public_key(key_spec), private_key(key_spec)):
        ciphertext = asym.encrypt(key, key_spec, algorithm, b"\x5a" * limit)
        assert len(ciphertext) == int(key_spec.removeprefix("RSA_")) // 8
        assert asym.decrypt(private_key(key_spec), key_spec, algorithm, ciphertext) == b"\x5a" * limit
        with pytest.raises(ValueError, match=f"at most {limit}") as error:
            asym.encrypt(key, key_spec, algorithm, b"\x5a" * (limit + 1))
        assert "5a5a" not in str(error.value)
    h = HASHES[algorithm.removeprefix("RSAES_OAEP_")]()
    private = serialization.load_der_private_key(private_key(key_spec), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    ciphertext = asym.encrypt(public_key(key_spec), key_spec, algorithm, b"to plain cryptography")
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    assert private.decrypt(ciphertext, oaep) == b"to plain cryptography"


@pytest.mark.parametrize(("key_spec", "algorithm"), ENCRYPTION)
def test_every_decryption_failure_is_invalid_ciphertext(key_spec: str, algorithm: str) -> None:
    key = private_key(key_spec)
    ciphertext = asym.encrypt(public_key(key_spec), key_spec, algorithm, b"secret")
    other_algorithm = next(a for a in asym.encryption_algorithms(key_spec) if a != algorithm)
    other_spec = next(s for s in asym.KEY_SPECS_RSA if s != key_spec)
    bad = [
        bytes([ciphertext[0] ^ 1]) + ciphertext[1:],
        ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]),
        ciphertext[:-1],
        ciphertext + b"\x00",
        b"",
        b"\xff" * len(ciphertext),  # larger than the modulus
    ]
    for blob in bad:
        with pytest.raises(InvalidCiphertext) as error:
            asym.decrypt(key, key_spec, algorithm, blob)
        assert str(error.value) == "decryption failed"
    with pytest.raises(InvalidCiphertext):
        asym.decrypt(key, key_spec, other_algorithm, ciphertext)
    foreign = asym.encrypt(public_key(other_spec), other_spec, algorithm, b"secret")
    with pytest.raises(InvalidCiphertext):
        asym.decrypt(key, key_spec, algorithm, foreign)
    with pytest.raises(ValueError, match="not an encryption algorithm"):
        asym.decrypt(key, key_spec, "RSASSA_PSS_SHA_256", ciphertext)


@pytest.mark.parametrize("key_spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"])
def test_ecdh_both_sides_derive_the_same_secret(key_spec: str) -> None:
    curve = CURVES[key_spec]()
    peer = ec.generate_private_key(curve)
    peer_spki = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ours = asym.derive_shared_secret(private_key(key_spec), key_spec, peer_spki)
    our_public = serialization.load_der_public_key(public_key(key_spec))
    assert isinstance(our_public, ec.EllipticCurvePublicKey)
    assert ours == peer.exchange(ec.ECDH(), our_public)
    assert len(ours) == (curve.key_size + 7) // 8  # the x coordinate, fixed width
    other_peer = ec.generate_private_key(curve).public_key()
    other_spki = other_peer.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert asym.derive_shared_secret(private_key(key_spec), key_spec, other_spki) != ours


def test_ecdh_rejects_foreign_and_malformed_peer_keys() -> None:
    key = private_key("ECC_NIST_P256")
    for wrong in ("ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "RSA_2048"):
        with pytest.raises(ValueError, match="not on the curve of ECC_NIST_P256"):
            asym.derive_shared_secret(key, "ECC_NIST_P256", public_key(wrong))
    spki = public_key("ECC_NIST_P256")
    for malformed in (b"", b"garbage", spki[:-1], spki[:-1] + bytes([spki[-1] ^ 1]), private_key("ECC_NIST_P256")):
        with pytest.raises(ValueError, match="not a valid DER-encoded SubjectPublicKeyInfo"):
            asym.derive_shared_secret(key, "ECC_NIST_P256", malformed)


@pytest.mark.parametrize("key_spec", ["ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "RSA_2048"])
def test_ecdh_only_on_key_agreement_specs(key_spec: str) -> None:
    with pytest.raises(ValueError, match="has no key agreement algorithm"):
        asym.derive_shared_secret(private_key(key_spec), key_spec, public_key(key_spec))


def test_check_private_key_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="does not match key spec RSA_4096"):
        asym.check_private_key(private_key("RSA_2048"), "RSA_4096")
    with pytest.raises(ValueError, match="does not match key spec ECC_NIST_P256"):
        asym.check_private_key(private_key("ECC_SECG_P256K1"), "ECC_NIST_P256")
    with pytest.raises(ValueError, match="not a valid unencrypted PKCS#8"):
        asym.check_private_key(b"\x30\x00", "RSA_2048")
    with pytest.raises(ValueError, match="not a valid unencrypted PKCS#8"):
        asym.check_private_key(public_key("RSA_2048"), "RSA_2048")
    with pytest.raises(asym.UnsupportedAlgorithm):
        asym.check_private_key(private_key("ECC_NIST_P256"), "SM2")


def test_errors_never_carry_key_bytes() -> None:
    key = private_key("ECC_NIST_P256")
    errors: list[BaseException] = []
    for call in (
        lambda: asym.sign(key, "ECC_NIST_P384", "ECDSA_SHA_384", MESSAGE, "RAW"),
        lambda: asym.sign(key[:-3], "ECC_NIST_P256", "ECDSA_SHA_256", MESSAGE, "RAW"),
        lambda: asym.check_private_key(key[:-3], "ECC_NIST_P256"),
        lambda: asym.derive_shared_secret(key, "ECC_NIST_P256", key),
    ):
        with pytest.raises(ValueError, match="key") as raised:
            call()
        errors.append(raised.value)
    for error in errors:
        text = f"{error!s} {error!r}"
        assert key.hex()[-40:] not in text
        assert repr(key)[-40:] not in text
        assert error.__cause__ is None
