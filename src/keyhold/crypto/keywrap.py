"""Wrapping secrets at rest under the root key (format version 1).

Layout: ``0x01 || nonce (12) || AES-256-GCM ciphertext || tag``. The AAD is
``encode_fields(b"keyhold-wrap-v1", purpose, *bindings)``: a purpose label such as ``b"kms-key-material"`` and
the identifiers the secret belongs to (for KMS key material: the key ARN and the material id). A wrapped
secret moved to another key, another purpose or another row therefore fails to unwrap.
See docs/formats/root-key-wrapping.md.
"""

from keyhold.crypto.aead import KEY_SIZE, NONCE_SIZE, TAG_SIZE, Aes256Gcm
from keyhold.crypto.encoding import encode_fields
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

VERSION = 1
_DOMAIN = b"keyhold-wrap-v1"
_CHECK_VALUE = b"keyhold root key check value v1"


class RootKey:
    """The 256-bit root of trust. It wraps and unwraps; it never hands out its bytes."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes, *, random: RandomSource = system_random) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("the root key must be 32 bytes")
        self._aead = Aes256Gcm(key, random=random)

    def wrap(self, secret: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        return bytes([VERSION]) + self._aead.seal(secret, encode_fields(_DOMAIN, purpose, *bindings))

    def unwrap(self, wrapped: bytes, purpose: bytes, *bindings: bytes) -> bytes:
        if len(wrapped) < 1 + NONCE_SIZE + TAG_SIZE or wrapped[0] != VERSION:
            raise InvalidCiphertext
        return self._aead.open(wrapped[1:], encode_fields(_DOMAIN, purpose, *bindings))

    def check_value(self) -> bytes:
        """A wrapped constant stored beside the data, so a wrong root key is caught at start-up."""
        return self.wrap(_CHECK_VALUE, b"root-key-check")

    def matches(self, check_value: bytes) -> bool:
        try:
            return self.unwrap(check_value, b"root-key-check") == _CHECK_VALUE
        except InvalidCiphertext:
            return False
