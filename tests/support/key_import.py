"""The client side of importing key material, as AWS's instructions do it with OpenSSL, written with plain
`cryptography` (no Keyhold code): wrap material under GetParametersForImport's public key."""

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")


def wrap(public_key_der: bytes, algorithm: str, material: bytes) -> bytes:
    """EncryptedKeyMaterial for ``material``.

    RSAES_OAEP_*: ``openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
    -pkeyopt rsa_mgf1_md:sha256``. RSA_AES_KEY_WRAP_*: a fresh 256-bit AES key encrypted like that, followed by
    ``openssl enc -id-aes256-wrap-pad -K <aes key> -iv A65959A6`` of the material (RFC 5649).
    """
    public = serialization.load_der_public_key(public_key_der)
    assert isinstance(public, rsa.RSAPublicKey)
    sha1 = hashes.SHA1()  # noqa: S303 - RSAES_OAEP_SHA_1 and RSA_AES_KEY_WRAP_SHA_1 are AWS's algorithms
    hash_: hashes.HashAlgorithm = hashes.SHA256() if algorithm.endswith("SHA_256") else sha1
    oaep = padding.OAEP(mgf=padding.MGF1(hash_), algorithm=hash_, label=None)
    if algorithm.startswith("RSAES_OAEP_"):
        return public.encrypt(material, oaep)
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)


def pkcs8(private_key: PrivateKeyTypes) -> bytes:
    """A `cryptography` private key as unencrypted PKCS#8 DER, the form AWS takes asymmetric material in."""
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
