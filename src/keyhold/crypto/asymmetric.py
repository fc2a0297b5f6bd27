"""RSA and elliptic-curve keys for KMS asymmetric keys and data key pairs: sign, verify, encrypt, decrypt, ECDH.

Private keys travel as PKCS#8 DER and public keys as SubjectPublicKeyInfo (SPKI) DER, the encodings KMS uses in
GetPublicKey and GenerateDataKeyPair. The parameters are AWS KMS's published ones (asymmetric-key-specs):

- RSASSA_PSS_SHA_n: PSS with SHA-n for the message and for MGF1, salt length = the digest length (n/8 bytes).
- RSASSA_PKCS1_V1_5_SHA_n: PKCS #1 v1.5 signatures. ECDSA_SHA_n: DER-encoded (r, s) (RFC 3279, 2.2.3).
- RSAES_OAEP_SHA_1 / _SHA_256: OAEP with the same hash for OAEP and MGF1, empty label.
- MessageType DIGEST: the message is the hash already and must have the hash's length.

Verification answers a bool; callers turn False into their own error. Every RSA decryption failure is the one
opaque InvalidCiphertext. No error message ever contains key material, plaintext or signatures.
See docs/formats/asymmetric-material.md.
"""

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from keyhold.crypto.errors import CryptoError, InvalidCiphertext

KEY_SPECS_RSA: Final = ("RSA_2048", "RSA_3072", "RSA_4096")
KEY_SPECS_ECC: Final = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519")
UNSUPPORTED_KEY_SPECS: Final = ("SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
"""Key specs AWS KMS has and Keyhold cannot make: ``generate_private_key`` raises UnsupportedAlgorithm for them."""

MESSAGE_TYPES: Final = ("RAW", "DIGEST")

_RSA_BITS: Final = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_ED25519: Final = "ECC_NIST_EDWARDS25519"
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "SHA_1": hashes.SHA1,
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}
_RSA_SIGNING: Final = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)
_SIGNING: Final[dict[str, tuple[str, ...]]] = {
    **dict.fromkeys(KEY_SPECS_RSA, _RSA_SIGNING),
    "ECC_NIST_P256": ("ECDSA_SHA_256",),
    "ECC_NIST_P384": ("ECDSA_SHA_384",),
    "ECC_NIST_P521": ("ECDSA_SHA_512",),
    "ECC_SECG_P256K1": ("ECDSA_SHA_256",),
    _ED25519: ("ED25519_SHA_512", "ED25519_PH_SHA_512"),
}
_ENCRYPTION: Final[dict[str, tuple[str, ...]]] = dict.fromkeys(
    KEY_SPECS_RSA, ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
)
# AWS offers key agreement on the NIST curves (and SM2) only; secp256k1 and Ed25519 are SIGN_VERIFY only.
_KEY_AGREEMENT: Final[dict[str, tuple[str, ...]]] = dict.fromkeys(
    ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"), ("ECDH",)
)

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class UnsupportedAlgorithm(CryptoError, ValueError):
    """A key spec, algorithm or message type that AWS KMS offers and Keyhold does not implement."""


class InvalidDigestLength(CryptoError, ValueError):
    """MessageType DIGEST with a message that is not as long as the algorithm's hash. The text is AWS's."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"Digest is invalid length for algorithm {algorithm}.")


def signing_algorithms(key_spec: str) -> tuple[str, ...]:
    """AWS's SigningAlgorithms for a key spec; () for a spec that cannot sign here."""
    return _SIGNING.get(key_spec, ())


def encryption_algorithms(key_spec: str) -> tuple[str, ...]:
    """AWS's EncryptionAlgorithms for an asymmetric key spec; () for a spec that cannot encrypt here."""
    return _ENCRYPTION.get(key_spec, ())


def key_agreement_algorithms(key_spec: str) -> tuple[str, ...]:
    """AWS's KeyAgreementAlgorithms for a key spec; () for a spec without key agreement."""
    return _KEY_AGREEMENT.get(key_spec, ())


def max_plaintext(key_spec: str, algorithm: str) -> int:
    """The longest plaintext RSAES_OAEP can encrypt: modulus bytes - 2 * hash bytes - 2 (214/190, 342/318, 470/446)."""
    if algorithm not in encryption_algorithms(key_spec):
        raise ValueError(f"{algorithm} is not an encryption algorithm of {key_spec}")
    return _RSA_BITS[key_spec] // 8 - 2 * _oaep_hash(algorithm).digest_size - 2


def generate_private_key(key_spec: str) -> bytes:
    """A fresh private key for ``key_spec`` as unencrypted PKCS#8 DER."""
    key: _PrivateKey
    if key_spec in _RSA_BITS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_spec])
    elif key_spec in _CURVES:
        key = ec.generate_private_key(_CURVES[key_spec]())
    elif key_spec == _ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    elif key_spec in UNSUPPORTED_KEY_SPECS:
        raise UnsupportedAlgorithm(f"key spec {key_spec} is not supported by Keyhold")
    else:
        raise ValueError(f"unknown asymmetric key spec {key_spec!r}")
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def check_private_key(private_pkcs8: bytes, key_spec: str) -> None:
    """Full validation of a private key from outside (imported material): parses, matches the spec, and for RSA
    runs the complete consistency check that the per-call loader skips. ValueError if anything is wrong.
    """
    try:
        key = serialization.load_der_private_key(private_pkcs8, password=None)
    except (ValueError, TypeError):
        raise ValueError("the key material is not a valid unencrypted PKCS#8 private key") from None
    _check_type(key, key_spec)


def public_key_der(private_pkcs8: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a PKCS#8 private key: what GetPublicKey and GenerateDataKeyPair return."""
    return _spki(_load_private(private_pkcs8, None).public_key())


def sign(private_pkcs8: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str) -> bytes:
    """Sign ``message`` (RAW) or its hash (DIGEST). RSA: the signature as PKCS #1 defines it; ECDSA: DER."""
    _check_message(key_spec, algorithm, message, message_type)
    key = _load_private(private_pkcs8, key_spec)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    hash_ = _signing_hash(algorithm)
    data_hash = utils.Prehashed(hash_) if message_type == "DIGEST" else hash_
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, _rsa_signature_padding(algorithm), data_hash)
    return key.sign(message, ec.ECDSA(data_hash))


def verify(
    public_or_private: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str, signature: bytes
) -> bool:
    """True if ``signature`` is valid for ``message`` under the key (SPKI or PKCS#8 DER); False if not.

    Raises ValueError (not False) for requests that are wrong rather than signatures that are: an algorithm the
    spec does not have, a bad message type, a digest of the wrong length (InvalidDigestLength), a bad key.
    """
    _check_message(key_spec, algorithm, message, message_type)
    key = _load_public(public_or_private, key_spec)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        hash_ = _signing_hash(algorithm)
        data_hash = utils.Prehashed(hash_) if message_type == "DIGEST" else hash_
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, _rsa_signature_padding(algorithm), data_hash)
        else:
            key.verify(signature, message, ec.ECDSA(data_hash))
    except InvalidSignature:
        return False
    return True


def encrypt(public_or_private: bytes, key_spec: str, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP encryption under the public key. ValueError if the plaintext is longer than max_plaintext()."""
    limit = max_plaintext(key_spec, algorithm)
    if len(plaintext) > limit:
        raise ValueError(f"plaintext is {len(plaintext)} bytes; {algorithm} with {key_spec} takes at most {limit}")
    key = _load_public(public_or_private, key_spec)
    if not isinstance(key, rsa.RSAPublicKey):  # pragma: no cover - _load_public checked the type
        raise ValueError(f"the key does not match key spec {key_spec}")
    return key.encrypt(plaintext, _oaep(algorithm))


def decrypt(private_pkcs8: bytes, key_spec: str, algorithm: str, ciphertext: bytes) -> bytes:
    """RSAES-OAEP decryption. Any failure of the ciphertext is InvalidCiphertext; a wrong algorithm is ValueError."""
    max_plaintext(key_spec, algorithm)  # ValueError unless the algorithm belongs to this RSA spec
    key = _load_private(private_pkcs8, key_spec)
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - _load_private checked the type
        raise ValueError(f"the key does not match key spec {key_spec}")
    if len(ciphertext) != _RSA_BITS[key_spec] // 8:
        raise InvalidCiphertext
    try:
        return key.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise InvalidCiphertext from None


def derive_shared_secret(private_pkcs8: bytes, key_spec: str, peer_public_der: bytes) -> bytes:
    """ECDH (cofactor 1 on these curves): the shared point's x coordinate, as DeriveSharedSecret returns it.

    ``peer_public_der`` is the peer's SubjectPublicKeyInfo DER; ValueError if it is malformed, not an EC key, or on
    another curve.
    """
    if not key_agreement_algorithms(key_spec):
        raise ValueError(f"key spec {key_spec} has no key agreement algorithm")
    key = _load_private(private_pkcs8, key_spec)
    try:
        peer = serialization.load_der_public_key(peer_public_der)
    except (ValueError, TypeError):
        raise ValueError("the peer public key is not a valid DER-encoded SubjectPublicKeyInfo") from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(peer.curve, _CURVES[key_spec]):
        raise ValueError(f"the peer public key is not on the curve of {key_spec}")
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - _load_private checked the type
        raise ValueError(f"the key does not match key spec {key_spec}")
    return key.exchange(ec.ECDH(), peer)


# -- internals ---------------------------------------------------------------------------------------------------


def _check_message(key_spec: str, algorithm: str, message: bytes, message_type: str) -> None:
    if algorithm not in signing_algorithms(key_spec):
        raise ValueError(f"{algorithm} is not a signing algorithm of {key_spec}")
    if message_type not in MESSAGE_TYPES:
        if message_type == "EXTERNAL_MU":
            raise UnsupportedAlgorithm("message type EXTERNAL_MU is for ML-DSA, which Keyhold does not support")
        raise ValueError(f"unknown message type {message_type!r}")
    if algorithm == "ED25519_SHA_512":
        if message_type != "RAW":
            raise ValueError(f"message type {message_type} is incompatible with algorithm {algorithm}")
        return
    if algorithm == "ED25519_PH_SHA_512":
        if message_type != "DIGEST":
            raise ValueError(f"message type {message_type} is incompatible with algorithm {algorithm}")
        if len(message) != hashes.SHA512.digest_size:
            raise InvalidDigestLength(algorithm)
        raise UnsupportedAlgorithm(
            "ED25519_PH_SHA_512 (Ed25519ph, RFC 8032) is not supported: the cryptography library has no Ed25519ph"
        )
    if message_type == "DIGEST" and len(message) != _signing_hash(algorithm).digest_size:
        raise InvalidDigestLength(algorithm)


def _signing_hash(algorithm: str) -> hashes.HashAlgorithm:
    return _HASHES[algorithm[algorithm.index("SHA_") :]]()


def _oaep_hash(algorithm: str) -> hashes.HashAlgorithm:
    return _HASHES[algorithm.removeprefix("RSAES_OAEP_")]()


def _oaep(algorithm: str) -> padding.OAEP:
    hash_ = _oaep_hash(algorithm)
    return padding.OAEP(mgf=padding.MGF1(hash_), algorithm=hash_, label=None)


def _rsa_signature_padding(algorithm: str) -> padding.AsymmetricPadding:
    if algorithm.startswith("RSASSA_PSS_"):
        hash_ = _signing_hash(algorithm)
        return padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
    return padding.PKCS1v15()


def _parse_private(der: bytes) -> _PrivateKey | None:
    """Parse PKCS#8 DER that Keyhold generated (or checked with check_private_key) and stored wrapped; None if the
    bytes are not such a key.

    The RSA consistency check is skipped: it costs 30 ms (2048) to 200 ms (4096) per call, more than the operation,
    and the bytes are authenticated under the root key. Material from outside goes through check_private_key first.
    """
    try:
        key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    return None


def _load_private(der: bytes, key_spec: str | None) -> _PrivateKey:
    key = _parse_private(der)
    if key is None:
        raise ValueError("the key material is not an unencrypted PKCS#8 DER RSA, EC or Ed25519 private key")
    if key_spec is not None:
        _check_type(key, key_spec)
    return key


def _load_public(der: bytes, key_spec: str) -> _PublicKey:
    """An SPKI DER public key, or the public half of a PKCS#8 DER private key."""
    public: object
    try:
        public = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        private = _parse_private(der)
        if private is None:
            raise ValueError("the key is neither an SPKI DER public key nor a PKCS#8 DER private key") from None
        public = private.public_key()
    _check_type(public, key_spec)
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise ValueError(f"the key does not match key spec {key_spec}")  # pragma: no cover - _check_type rejects
    return public


def _check_type(key: object, key_spec: str) -> None:
    """ValueError unless ``key`` (private or public) is of exactly the kind ``key_spec`` names."""
    ok = False
    if key_spec in _RSA_BITS:
        ok = isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size == _RSA_BITS[key_spec]
    elif key_spec in _CURVES:
        ok = isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
            key.curve, _CURVES[key_spec]
        )
    elif key_spec == _ED25519:
        ok = isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)
    elif key_spec in UNSUPPORTED_KEY_SPECS:
        raise UnsupportedAlgorithm(f"key spec {key_spec} is not supported by Keyhold")
    if not ok:
        raise ValueError(f"the key does not match key spec {key_spec}")


def _spki(public: _PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
