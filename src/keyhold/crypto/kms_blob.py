"""The KMS ciphertext blob (format version 1), as returned by Encrypt and GenerateDataKey.

Layout (big-endian; see docs/formats/kms-ciphertext.md for the specification and known-answer vectors)::

    offset  size  field
    0       2     magic "KH" (0x4B 0x48)
    2       1     format version, 0x01
    3       16    key id: the KMS key's UUID, binary
    19      32    key material id: which material version of the key sealed it
    51      32    derivation nonce (random, drawn here, per blob)
    83      12    GCM nonce (random, drawn here, per blob)
    95      n+16  AES-256-GCM ciphertext || tag

    K_b = HKDF-SHA256(ikm = material, salt = derivation nonce, info = "keyhold kms-blob v1", length = 32)
    AAD = bytes 0..94 (the whole header, both nonces included) || canonical encryption context

No blob is sealed directly under the key material: each one gets its own key ``K_b``, derived from the material
and a fresh 256-bit derivation nonce, and ``K_b`` seals that one blob only. The 2^32 bound NIST SP 800-38D puts
on random 96-bit nonces under one key therefore never comes near; what is left is a collision of two 256-bit
derivation nonces, which is negligible. Both nonces are drawn here (derivation nonce first, then the GCM nonce)
from the material key's random source, so known-answer tests can inject them.

The header names the key and material, so Decrypt needs no KeyId; because the header is authenticated,
changing any byte of it, the ciphertext, the tag or the encryption context fails with InvalidCiphertext.
"""

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto.aead import KEY_SIZE, NONCE_SIZE, TAG_SIZE
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

MAGIC = b"KH"
VERSION = 1
KEY_ID_SIZE = 16
MATERIAL_ID_SIZE = 32
DERIVATION_NONCE_SIZE = 32
DERIVATION_INFO = b"keyhold kms-blob v1"
_HEADER = struct.Struct(">2sB16s32s32s12s")
HEADER_SIZE = _HEADER.size  # 95
DERIVATION_NONCE_OFFSET = 3 + KEY_ID_SIZE + MATERIAL_ID_SIZE  # 51
NONCE_OFFSET = DERIVATION_NONCE_OFFSET + DERIVATION_NONCE_SIZE  # 83
OVERHEAD = HEADER_SIZE + TAG_SIZE  # 111 bytes more than the plaintext


class MaterialKey:
    """One KMS key material (32 bytes). It derives a fresh AES-256-GCM key per blob and never shows its bytes."""

    __slots__ = ("_material", "_random")

    def __init__(self, material: bytes, *, random: RandomSource = system_random) -> None:
        if len(material) != KEY_SIZE:
            raise ValueError("key material must be a 32-byte key")
        self._material = bytes(material)
        self._random = random

    def __repr__(self) -> str:
        return "MaterialKey(<redacted>)"

    __str__ = __repr__

    def _draw(self, n: int) -> bytes:
        out = self._random(n)
        if len(out) != n:
            raise ValueError("random source returned too few bytes")
        return out

    def _blob_aead(self, derivation_nonce: bytes) -> AESGCM:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=derivation_nonce, info=DERIVATION_INFO)
        return AESGCM(hkdf.derive(self._material))


@dataclass(frozen=True, slots=True)
class BlobHeader:
    """What an unauthenticated look at a blob tells: which key and which material version to try."""

    key_id: bytes
    material_id: bytes


def seal(key: MaterialKey, key_id: bytes, material_id: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under a per-blob key derived from ``key``; ``context`` is the canonical encoding."""
    if len(key_id) != KEY_ID_SIZE or len(material_id) != MATERIAL_ID_SIZE:
        raise ValueError("key id must be 16 bytes and material id 32 bytes")
    derivation_nonce = key._draw(DERIVATION_NONCE_SIZE)
    nonce = key._draw(NONCE_SIZE)
    header = _HEADER.pack(MAGIC, VERSION, key_id, material_id, derivation_nonce, nonce)
    return header + key._blob_aead(derivation_nonce).encrypt(nonce, plaintext, header + context)


def read_header(blob: bytes) -> BlobHeader:
    """Parse the header without authenticating it; InvalidCiphertext if it is not a version-1 blob."""
    if len(blob) < OVERHEAD:
        raise InvalidCiphertext
    magic, version, key_id, material_id, _derivation_nonce, _nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION:
        raise InvalidCiphertext
    return BlobHeader(key_id=key_id, material_id=material_id)


def open_blob(key: MaterialKey, blob: bytes, context: bytes) -> bytes:
    """Authenticate and decrypt a blob whose header named ``key``; InvalidCiphertext on any failure."""
    read_header(blob)
    header = blob[:HEADER_SIZE]
    derivation_nonce = header[DERIVATION_NONCE_OFFSET:NONCE_OFFSET]
    nonce = header[NONCE_OFFSET:HEADER_SIZE]
    try:
        return key._blob_aead(derivation_nonce).decrypt(nonce, blob[HEADER_SIZE:], header + context)
    except InvalidTag as exc:
        raise InvalidCiphertext from exc
