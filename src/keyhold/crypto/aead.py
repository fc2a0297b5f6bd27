"""AES-256-GCM under a key object that owns its nonces.

Callers pass plaintext and associated data; this module draws a fresh random 96-bit nonce for every seal and
returns ``nonce || ciphertext || tag``. Random 96-bit nonces keep the collision probability below 2^-32 for up
to 2^32 messages under one key (NIST SP 800-38D, 8.3). Uses that could pass that bound under one key (KMS
ciphertexts) derive a fresh key per message instead (see kms_blob.py).
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


class Aes256Gcm:
    """An AES-256-GCM key. ``seal`` chooses the nonce; ``open`` raises InvalidCiphertext on any failure."""

    __slots__ = ("_aead", "_random")

    def __init__(self, key: bytes, *, random: RandomSource = system_random) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        self._random = random

    def new_nonce(self) -> bytes:
        """A fresh nonce for a caller in this package that must put the nonce inside its own AAD."""
        nonce = self._random(NONCE_SIZE)
        if len(nonce) != NONCE_SIZE:
            raise ValueError("random source returned too few bytes")
        return nonce

    def seal_with_nonce(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Ciphertext || tag for a nonce from new_nonce(). Only for formats in this package."""
        return self._aead.encrypt(nonce, plaintext, aad)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """nonce || ciphertext || tag."""
        nonce = self.new_nonce()
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Inverse of seal()."""
        if len(sealed) < NONCE_SIZE + TAG_SIZE:
            raise InvalidCiphertext
        return self.open_with_nonce(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)

    def open_with_nonce(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag as exc:
            raise InvalidCiphertext from exc
