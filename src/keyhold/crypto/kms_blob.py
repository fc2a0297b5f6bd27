"""The KMS ciphertext blob (format version 1), as returned by Encrypt and GenerateDataKey.

Layout (big-endian; see docs/formats/kms-ciphertext.md for the specification and known-answer vectors)::

    offset  size  field
    0       2     magic "KH" (0x4B 0x48)
    2       1     format version, 0x01
    3       16    key id: the KMS key's UUID, binary
    19      32    key material id: which material version of the key sealed it
    51      12    nonce (random, drawn here)
    63      n+16  AES-256-GCM ciphertext || tag

    AAD = bytes 0..62 (the whole header, nonce included) || canonical encryption context

The header names the key and material, so Decrypt needs no KeyId; because the header is authenticated,
changing any byte of it, the ciphertext, the tag or the encryption context fails with InvalidCiphertext.
"""

import struct
from dataclasses import dataclass

from keyhold.crypto.aead import TAG_SIZE, Aes256Gcm
from keyhold.crypto.errors import InvalidCiphertext

MAGIC = b"KH"
VERSION = 1
KEY_ID_SIZE = 16
MATERIAL_ID_SIZE = 32
_HEADER = struct.Struct(">2sB16s32s12s")
HEADER_SIZE = _HEADER.size  # 63
OVERHEAD = HEADER_SIZE + TAG_SIZE  # 79 bytes more than the plaintext


@dataclass(frozen=True, slots=True)
class BlobHeader:
    """What an unauthenticated look at a blob tells: which key and which material version to try."""

    key_id: bytes
    material_id: bytes


def seal(key: Aes256Gcm, key_id: bytes, material_id: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under a key material; ``context`` is the canonical context encoding."""
    if len(key_id) != KEY_ID_SIZE or len(material_id) != MATERIAL_ID_SIZE:
        raise ValueError("key id must be 16 bytes and material id 32 bytes")
    nonce = key.new_nonce()
    header = _HEADER.pack(MAGIC, VERSION, key_id, material_id, nonce)
    return header + key.seal_with_nonce(nonce, plaintext, header + context)


def read_header(blob: bytes) -> BlobHeader:
    """Parse the header without authenticating it; InvalidCiphertext if it is not a version-1 blob."""
    if len(blob) < OVERHEAD:
        raise InvalidCiphertext
    magic, version, key_id, material_id, _nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION:
        raise InvalidCiphertext
    return BlobHeader(key_id=key_id, material_id=material_id)


def open_blob(key: Aes256Gcm, blob: bytes, context: bytes) -> bytes:
    """Authenticate and decrypt a blob whose header named ``key``; InvalidCiphertext on any failure."""
    read_header(blob)
    header = blob[:HEADER_SIZE]
    nonce = header[HEADER_SIZE - 12 :]
    return key.open_with_nonce(nonce, blob[HEADER_SIZE:], header + context)
