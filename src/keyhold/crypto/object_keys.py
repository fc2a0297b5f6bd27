"""How the object store protects an object's data key (its "envelope"), version 1. See
docs/formats/object-envelope.md.

- ``new_data_key``: a fresh random 256-bit data key (one per object; multipart parts share their object's key and
  each part stream derives its own key from it and its own salt, see object_stream.py).
- ``DataKeySealer``: a 256-bit key-encryption key that seals data keys as ``0x01 || nonce || ct || tag`` with AAD
  ``encode_fields("keyhold-object-key-v1", purpose, *bindings)`` (the SSE-S3 key, and the key derived from an
  SSE-C customer key). A sealed key moved to another object or purpose fails to open.
- ``derive_object_key``: the key that seals an object's data key, derived from a bucket key and a per-object random
  salt (S3 Bucket Keys), so that many objects need one KMS call.
- ``customer_key_check`` / ``customer_key_matches``: the salted HMAC of an SSE-C customer key that is stored to tell a
  wrong key from the right one, compared in constant time; ``customer_kek``: the sealing key derived from it.
- ``opaque_etag``: the ETag of an SSE-KMS or SSE-C object, which must not be the plaintext's MD5: random.
"""

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto.aead import KEY_SIZE, NONCE_SIZE, TAG_SIZE, Aes256Gcm
from keyhold.crypto.encoding import encode_fields
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

VERSION = 1
SALT_SIZE = 32
_SEAL_DOMAIN = b"keyhold-object-key-v1"
_BUCKET_KEY_INFO = b"keyhold bucket-key object key v1"
_CUSTOMER_KEK_INFO = b"keyhold sse-c kek v1"
_CUSTOMER_CHECK_LABEL = b"keyhold sse-c key check v1"


def _random(random: RandomSource, size: int) -> bytes:
    value = random(size)
    if len(value) != size:
        raise ValueError("random source returned too few bytes")
    return value


def new_data_key(random: RandomSource = system_random) -> bytes:
    return _random(random, KEY_SIZE)


def new_salt(random: RandomSource = system_random) -> bytes:
    return _random(random, SALT_SIZE)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    if len(ikm) != KEY_SIZE or len(salt) != SALT_SIZE:
        raise ValueError("a 32-byte key and a 32-byte salt are required")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(ikm)


class DataKeySealer:
    """A key-encryption key for data keys. ``seal`` draws the nonce; ``open`` raises InvalidCiphertext."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes, *, random: RandomSource = system_random) -> None:
        self._aead = Aes256Gcm(key, random=random)

    def seal(self, data_key: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        if len(data_key) != KEY_SIZE:
            raise ValueError("data keys are 32 bytes")
        return bytes([VERSION]) + self._aead.seal(data_key, encode_fields(_SEAL_DOMAIN, purpose, *bindings))

    def open(self, sealed: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        if len(sealed) != 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE or sealed[0] != VERSION:
            raise InvalidCiphertext
        return self._aead.open(sealed[1:], encode_fields(_SEAL_DOMAIN, purpose, *bindings))


def derive_object_key(bucket_key: bytes, salt: bytes) -> bytes:
    return _hkdf(bucket_key, salt, _BUCKET_KEY_INFO)


def customer_kek(customer_key: bytes, salt: bytes) -> DataKeySealer:
    return DataKeySealer(_hkdf(customer_key, salt, _CUSTOMER_KEK_INFO))


def customer_key_check(customer_key: bytes, salt: bytes) -> bytes:
    """HMAC-SHA256(customer key, label || salt): what is stored to recognise the key, never the key or its MD5."""
    if len(customer_key) != KEY_SIZE or len(salt) != SALT_SIZE:
        raise ValueError("a 32-byte key and a 32-byte salt are required")
    return hmac.new(customer_key, _CUSTOMER_CHECK_LABEL + salt, hashlib.sha256).digest()


def customer_key_matches(customer_key: bytes, salt: bytes, check: bytes) -> bool:
    return hmac.compare_digest(customer_key_check(customer_key, salt), check)


def opaque_etag(random: RandomSource = system_random) -> str:
    """32 random hex digits: the shape clients expect of an ETag, and nothing about the plaintext."""
    return _random(random, 16).hex()
