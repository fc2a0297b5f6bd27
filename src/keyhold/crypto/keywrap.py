"""Wrapping secrets at rest under the root key (format version 1).

Layout: ``0x01 || nonce (12) || AES-256-GCM ciphertext || tag``. The AAD is
``encode_fields(b"keyhold-wrap-v1", purpose, *bindings)``: a purpose label such as ``b"kms-key-material"`` and
the identifiers the secret belongs to (for KMS key material: the key ARN and the material id). A wrapped
secret moved to another key, another purpose or another row therefore fails to unwrap.
See docs/formats/root-key-wrapping.md.

``seal_record`` / ``record_sealed`` authenticate stored rows that hold no secret (an object's metadata: which
blobs, sizes, envelope): an HMAC-SHA256 under a MAC key derived from the root key, over
``encode_fields(b"keyhold-mac-v1", purpose, *fields)``. Whoever can write the database but has no root key
cannot change such a row without the change being caught.
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
_DOMAIN = b"keyhold-wrap-v1"
_CHECK_VALUE = b"keyhold root key check value v1"
_MAC_KEY_INFO = b"keyhold root mac key v1"
_MAC_DOMAIN = b"keyhold-mac-v1"
MAC_SIZE = 32


class RootKey:
    """The 256-bit root of trust. It wraps and unwraps; it never hands out its bytes."""

    __slots__ = ("_aead", "_mac_key")

    def __init__(self, key: bytes, *, random: RandomSource = system_random) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("the root key must be 32 bytes")
        self._aead = Aes256Gcm(key, random=random)
        self._mac_key = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=_MAC_KEY_INFO).derive(key)

    def wrap(self, secret: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        return bytes([VERSION]) + self._aead.seal(secret, encode_fields(_DOMAIN, purpose, *bindings))

    def unwrap(self, wrapped: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        if len(wrapped) < 1 + NONCE_SIZE + TAG_SIZE or wrapped[0] != VERSION:
            raise InvalidCiphertext
        return self._aead.open(wrapped[1:], encode_fields(_DOMAIN, purpose, *bindings))

    def seal_record(self, purpose: bytes, *fields: bytes) -> bytes:
        """A 32-byte tag over a stored row's fields (no secrets in them; they stay readable)."""
        return hmac.new(self._mac_key, encode_fields(_MAC_DOMAIN, purpose, *fields), hashlib.sha256).digest()

    def record_sealed(self, tag: bytes, purpose: bytes, *fields: bytes) -> bool:
        """Whether ``tag`` is the seal of exactly these fields (compared in constant time)."""
        return hmac.compare_digest(self.seal_record(purpose, *fields), tag)

    def check_value(self) -> bytes:
        """A wrapped constant stored beside the data, so a wrong root key is caught at start-up."""
        return self.wrap(_CHECK_VALUE, b"root-key-check")

    def matches(self, check_value: bytes) -> bool:
        try:
            return self.unwrap(check_value, b"root-key-check") == _CHECK_VALUE
        except InvalidCiphertext:
            return False
