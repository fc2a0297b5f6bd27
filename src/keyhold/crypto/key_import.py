"""Importing key material as AWS KMS does: RSA wrapping keys, unwrapping EncryptedKeyMaterial, checking it.

GetParametersForImport hands out the public half of a fresh RSA wrapping key (RSA_2048/3072/4096). The caller
wraps its key material under it with one of AWS's wrapping algorithms:

- ``RSAES_OAEP_SHA_1`` / ``RSAES_OAEP_SHA_256``: the material itself, RSAES-OAEP with SHA-1 / SHA-256 for both the
  OAEP hash and MGF1, empty label (``openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep ...``).
- ``RSA_AES_KEY_WRAP_SHA_1`` / ``_SHA_256`` (PKCS #11 CKM_RSA_AES_KEY_WRAP): a fresh 256-bit AES key wrapped with
  RSAES-OAEP as above (modulus-length bytes), followed by the material wrapped under that AES key with AES Key
  Wrap with Padding (RFC 5649, ``openssl enc -id-aes256-wrap-pad``).

Every failure to unwrap is the one opaque InvalidCiphertext. The checks on what comes out (``check_material``)
raise IncorrectMaterial with a message that names the requirement, never the bytes.

Imported material gets a deterministic id, ``material_id(key_id, material)`` = SHA-256 of the field encoding of
a label, the key id and the material: importing the same material into the same key again gives the same id, so
ciphertexts made before a deletion (which name the id) decrypt again after the reimport.
See docs/formats/import-token.md.
"""

import hashlib
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from keyhold.crypto import asymmetric, mac
from keyhold.crypto.encoding import encode_fields
from keyhold.crypto.errors import CryptoError, InvalidCiphertext

WRAPPING_KEY_SPECS: Final[dict[str, int]] = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
"""The WrappingKeySpec values Keyhold offers, with their modulus sizes (AWS's SM2 is China-only)."""

WRAPPING_ALGORITHMS: Final = (
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
)
"""The WrappingAlgorithm values Keyhold implements (AWS retired RSAES_PKCS1_V1_5; SM2PKE is China-only)."""

SYMMETRIC_MATERIAL_SIZE: Final = 32
HMAC_MATERIAL_SIZES: Final[dict[str, tuple[int, int]]] = {
    "HMAC_224": (28, 64),
    "HMAC_256": (32, 64),
    "HMAC_384": (48, 128),
    "HMAC_512": (64, 128),
}
"""Imported HMAC key lengths in bytes, inclusive: at least the spec's bits / 8, at most its hash's block size."""

EPHEMERAL_AES_KEY_SIZE: Final = 32
_MATERIAL_ID_LABEL: Final = b"keyhold-imported-material-id-v1"
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}


class IncorrectMaterial(CryptoError, ValueError):
    """Unwrapped key material that does not fit the KMS key's spec. The message never contains the material."""


def generate_wrapping_key(wrapping_key_spec: str) -> bytes:
    """A fresh RSA wrapping private key (public exponent 65537) as unencrypted PKCS#8 DER."""
    bits = WRAPPING_KEY_SPECS.get(wrapping_key_spec)
    if bits is None:
        raise ValueError(f"unknown wrapping key spec {wrapping_key_spec!r}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def wrapping_public_key(private_pkcs8: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a wrapping key: GetParametersForImport's PublicKey."""
    return (
        _load_wrapping_key(private_pkcs8)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def unwrap(private_pkcs8: bytes, wrapping_algorithm: str, encrypted: bytes) -> bytes:
    """The key material inside ``encrypted`` (ImportKeyMaterial's EncryptedKeyMaterial). InvalidCiphertext if it
    does not unwrap under this wrapping key and algorithm; ValueError for an algorithm Keyhold does not know."""
    if wrapping_algorithm not in WRAPPING_ALGORITHMS:
        raise ValueError(f"unknown wrapping algorithm {wrapping_algorithm!r}")
    key = _load_wrapping_key(private_pkcs8)
    modulus_bytes = (key.key_size + 7) // 8
    oaep = _oaep(wrapping_algorithm)
    try:
        if wrapping_algorithm.startswith("RSAES_OAEP_"):
            if len(encrypted) != modulus_bytes:
                raise InvalidCiphertext
            return key.decrypt(encrypted, oaep)
        if len(encrypted) <= modulus_bytes:
            raise InvalidCiphertext
        aes_key = key.decrypt(encrypted[:modulus_bytes], oaep)
        if len(aes_key) != EPHEMERAL_AES_KEY_SIZE:
            raise InvalidCiphertext
        return aes_key_unwrap_with_padding(aes_key, encrypted[modulus_bytes:])
    except (ValueError, InvalidUnwrap):
        raise InvalidCiphertext from None


def canonical_material(key_spec: str, material: bytes) -> bytes:
    """The material as Keyhold stores it, or IncorrectMaterial if it does not fit ``key_spec``.

    SYMMETRIC_DEFAULT: exactly 32 bytes. HMAC_*: HMAC_MATERIAL_SIZES. RSA and ECC specs: an unencrypted PKCS#8 DER
    private key of exactly that kind (fully validated, RSA consistency included), re-encoded as Keyhold's PKCS#8
    DER so that the same key always gives the same bytes (and the same material id).
    """
    if key_spec == "SYMMETRIC_DEFAULT":
        if len(material) != SYMMETRIC_MATERIAL_SIZE:
            raise IncorrectMaterial("Key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 bytes).")
        return bytes(material)
    if key_spec in mac.HMAC_KEY_SPECS:
        low, high = HMAC_MATERIAL_SIZES[key_spec]
        if not low <= len(material) <= high:
            raise IncorrectMaterial(f"Key material for an {key_spec} key must be {low} to {high} bytes long.")
        return bytes(material)
    try:
        asymmetric.check_private_key(material, key_spec)
        key = serialization.load_der_private_key(material, password=None)
    except ValueError:
        raise IncorrectMaterial(
            f"Key material for a {key_spec} key must be an unencrypted PKCS#8 DER private key of that key spec."
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes) -> bytes:
    """An unencrypted PEM private key (PKCS#8 "PRIVATE KEY", or the traditional "RSA/EC PRIVATE KEY") as PKCS#8
    DER, the form imported asymmetric material takes. ValueError if it is not one (the message shows no bytes)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def material_id(key_id: str, material: bytes) -> str:
    """The deterministic id of imported (or seeded) material: 64 lower-case hex digits.

    ``SHA-256(encode_fields("keyhold-imported-material-id-v1", key_id, material))``, where ``key_id`` is the KMS
    key's UUID text and ``material`` the canonical material. One-way: the id reveals nothing the ciphertexts that
    carry it do not already allow testing.
    """
    return hashlib.sha256(encode_fields(_MATERIAL_ID_LABEL, key_id.encode("utf-8"), material)).hexdigest()


def _load_wrapping_key(private_pkcs8: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(private_pkcs8, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a wrapping key must be an RSA private key")
    return key


def _oaep(wrapping_algorithm: str) -> padding.OAEP:
    hash_ = _HASHES[wrapping_algorithm[wrapping_algorithm.index("SHA_") :]]()
    return padding.OAEP(mgf=padding.MGF1(hash_), algorithm=hash_, label=None)
