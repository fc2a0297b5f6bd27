"""Content and data-key crypto of AWS's S3 Encryption Client (S3EC) formats V2 and V3, byte for byte.

This module is pure: bytes in, bytes out, no metadata names, no I/O. ``keyhold.cse`` builds the object metadata
and talks to S3 and KMS. Specified in ``docs/client-side-encryption.md`` (after AWS's S3EC specification):

- **V3**, suite 0x0073 ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY: a random 28-byte message id; PRK =
  HMAC-SHA512(key=message id, msg=data key); DEK = HKDF-Expand-SHA512(PRK, 00 73 "DERIVEKEY", 32); commitment =
  HKDF-Expand-SHA512(PRK, 00 73 "COMMITKEY", 28). Body = AES-256-GCM(DEK, IV = 01 x 12, AAD = 00 73) as
  ciphertext || 16-byte tag. The commitment is compared in constant time before any decryption.
- **V2**, suite 0x0072 ALG_AES_256_GCM_IV12_TAG16_NO_KDF: body = AES-256-GCM(data key, random 12-byte IV, no AAD).

Every data key, IV and message id is drawn here through a RandomSource. The fixed V3 IV is safe because every
object gets its own derived key (a fresh random message id and, in practice, a fresh data key).

Data-key wraps of the raw keyrings live here too, because they draw nonces: ``AES/GCM`` (EDK = IV(12) ||
AES-GCM(KEK, data key, AAD = cek-alg name) || tag) and ``RSA-OAEP-SHA1`` (OAEP with SHA-1 and MGF1-SHA1 over
``len(key) || key || cek-alg name``).

**Ranged reads, unauthenticated.** GCM encrypts plaintext block i (16 bytes, from 0) by XOR with
AES(K, IV || BE32(2 + i)) (J0 = IV || 00000001 is kept for the tag), so any block-aligned slice of the
ciphertext decrypts alone as AES-CTR from that counter. This is how AWS's Java client reads ranges (0x0072 read as
0x0071 for V2, 0x0073 as 0x0074 for V3). The tag is never checked: a changed slice decrypts to wrong bytes without
an error. The V3 key commitment is still checked, so the derived key belongs to the data key.

Bodies are whole in memory for now. The functions take and return bytes so that an incremental sealer/opener
(``update``/``finalize`` over the same key schedule) can be added without changing these signatures.
Every failure to decrypt or unwrap is the one opaque ``InvalidCiphertext``.
"""

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

DATA_KEY_SIZE = 32
TAG_SIZE = 16
V2_IV_SIZE = 12
V3_SUITE_ID = 0x0073
V3_SUITE_ID_BYTES = V3_SUITE_ID.to_bytes(2, "big")
V3_MESSAGE_ID_SIZE = 28
V3_COMMITMENT_SIZE = 28
V3_IV = b"\x01" * 12
V2_CEK_ALG = "AES/GCM/NoPadding"
"""The V2 content cipher name (``x-amz-cek-alg``), also the wrap AAD / pseudo-key suffix for V2."""
V3_CEK_ALG = str(V3_SUITE_ID)
"""``"115"``: the V3 content cipher (``x-amz-c``), also the wrap AAD / pseudo-key suffix for V3."""
AES_GCM_WRAP_IV_SIZE = 12
AES_GCM_WRAPPED_SIZE = AES_GCM_WRAP_IV_SIZE + DATA_KEY_SIZE + TAG_SIZE
BLOCK_SIZE = 16
GCM_MAX_BLOCKS = 2**32 - 2
"""GCM's plaintext limit in blocks: the 32-bit counter runs from 2 (block 0) to 2**32 - 1 and never wraps."""


@dataclass(frozen=True, slots=True)
class V3Header:
    """What a V3 object stores next to its body: ``x-amz-i`` and ``x-amz-d`` (raw bytes)."""

    message_id: bytes
    commitment: bytes


def _draw(random: RandomSource, size: int) -> bytes:
    value = random(size)
    if len(value) != size:
        raise ValueError("random source returned too few bytes")
    return value


def new_data_key(*, random: RandomSource = system_random) -> bytes:
    """A fresh 256-bit data key (for raw keyrings; KMS keyrings get theirs from GenerateDataKey)."""
    return _draw(random, DATA_KEY_SIZE)


def _check_data_key(data_key: bytes) -> None:
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError("S3EC data keys are 32 bytes")


# -- V3: suite 0x0073 -------------------------------------------------------------------------------------------


def derive_v3_keys(data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """(derived encryption key, key commitment) of suite 0x0073."""
    _check_data_key(data_key)
    if len(message_id) != V3_MESSAGE_ID_SIZE:
        raise ValueError("V3 message ids are 28 bytes")
    prk = hmac.new(message_id, data_key, hashlib.sha512).digest()
    dek = HKDFExpand(hashes.SHA512(), DATA_KEY_SIZE, V3_SUITE_ID_BYTES + b"DERIVEKEY").derive(prk)
    commitment = HKDFExpand(hashes.SHA512(), V3_COMMITMENT_SIZE, V3_SUITE_ID_BYTES + b"COMMITKEY").derive(prk)
    return dek, commitment


def encrypt_v3(data_key: bytes, plaintext: bytes, *, random: RandomSource = system_random) -> tuple[V3Header, bytes]:
    """Seal a whole body: (header, ciphertext || tag)."""
    message_id = _draw(random, V3_MESSAGE_ID_SIZE)
    dek, commitment = derive_v3_keys(data_key, message_id)
    body = AESGCM(dek).encrypt(V3_IV, plaintext, V3_SUITE_ID_BYTES)
    return V3Header(message_id=message_id, commitment=commitment), body


def decrypt_v3(data_key: bytes, header: V3Header, body: bytes) -> bytes:
    """Check the key commitment (constant time), then open ciphertext || tag."""
    if (
        len(data_key) != DATA_KEY_SIZE
        or len(header.message_id) != V3_MESSAGE_ID_SIZE
        or len(header.commitment) != V3_COMMITMENT_SIZE
        or len(body) < TAG_SIZE
    ):
        raise InvalidCiphertext
    dek, commitment = derive_v3_keys(data_key, header.message_id)
    if not hmac.compare_digest(commitment, header.commitment):
        raise InvalidCiphertext
    return _open(dek, V3_IV, body, V3_SUITE_ID_BYTES)


# -- V2: suite 0x0072 -------------------------------------------------------------------------------------------


def encrypt_v2(data_key: bytes, plaintext: bytes, *, random: RandomSource = system_random) -> tuple[bytes, bytes]:
    """Seal a whole body: (12-byte IV for ``x-amz-iv``, ciphertext || tag). No AAD, as the format has none."""
    _check_data_key(data_key)
    iv = _draw(random, V2_IV_SIZE)
    return iv, AESGCM(data_key).encrypt(iv, plaintext, None)


def decrypt_v2(data_key: bytes, iv: bytes, body: bytes) -> bytes:
    if len(data_key) != DATA_KEY_SIZE or len(iv) != V2_IV_SIZE or len(body) < TAG_SIZE:
        raise InvalidCiphertext
    return _open(data_key, iv, body, None)


def decrypt_range_unauthenticated_v2(data_key: bytes, iv: bytes, ciphertext: bytes, first_block: int) -> bytes:
    """UNAUTHENTICATED: decrypt a slice of a V2 body's ciphertext (tag excluded) that starts at block
    ``first_block`` (byte offset 16 * first_block), as AES-CTR with GCM's counters. Altered bytes decrypt to wrong
    plaintext without an error; only a whole-body ``decrypt_v2`` detects them."""
    if len(data_key) != DATA_KEY_SIZE or len(iv) != V2_IV_SIZE:
        raise InvalidCiphertext
    return _gcm_ctr(data_key, iv, ciphertext, first_block)


def decrypt_range_unauthenticated_v3(data_key: bytes, header: V3Header, ciphertext: bytes, first_block: int) -> bytes:
    """UNAUTHENTICATED, like ``decrypt_range_unauthenticated_v2`` (suite 0x0074's reading of a 0x0073 body), but
    the key commitment is checked in constant time first."""
    if (
        len(data_key) != DATA_KEY_SIZE
        or len(header.message_id) != V3_MESSAGE_ID_SIZE
        or len(header.commitment) != V3_COMMITMENT_SIZE
    ):
        raise InvalidCiphertext
    dek, commitment = derive_v3_keys(data_key, header.message_id)
    if not hmac.compare_digest(commitment, header.commitment):
        raise InvalidCiphertext
    return _gcm_ctr(dek, V3_IV, ciphertext, first_block)


def _gcm_ctr(key: bytes, iv: bytes, ciphertext: bytes, first_block: int) -> bytes:
    blocks = -(-len(ciphertext) // BLOCK_SIZE)
    if first_block < 0 or first_block + blocks > GCM_MAX_BLOCKS:
        raise ValueError("block range outside what AES-GCM can encrypt")
    counter = iv + (2 + first_block).to_bytes(4, "big")
    decryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _open(key: bytes, iv: bytes, body: bytes, aad: bytes | None) -> bytes:
    try:
        return AESGCM(key).decrypt(iv, body, aad)
    except InvalidTag as exc:
        raise InvalidCiphertext from exc


# -- raw keyring wraps -------------------------------------------------------------------------------------------


def wrap_aes_gcm(kek: bytes, data_key: bytes, cek_alg: str, *, random: RandomSource = system_random) -> bytes:
    """``AES/GCM`` wrap: IV(12) || AES-256-GCM(kek, data key, AAD = cek_alg) || tag (60 bytes)."""
    _check_data_key(data_key)
    if len(kek) != DATA_KEY_SIZE:
        raise ValueError("AES/GCM wrapping keys are 32 bytes")
    iv = _draw(random, AES_GCM_WRAP_IV_SIZE)
    return iv + AESGCM(kek).encrypt(iv, data_key, cek_alg.encode())


def unwrap_aes_gcm(kek: bytes, wrapped: bytes, cek_alg: str) -> bytes:
    if len(kek) != DATA_KEY_SIZE or len(wrapped) != AES_GCM_WRAPPED_SIZE:
        raise InvalidCiphertext
    iv = wrapped[:AES_GCM_WRAP_IV_SIZE]
    return _open(kek, iv, wrapped[AES_GCM_WRAP_IV_SIZE:], cek_alg.encode())


def _oaep_sha1() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def wrap_rsa_oaep_sha1(public_key: rsa.RSAPublicKey, data_key: bytes, cek_alg: str) -> bytes:
    """``RSA-OAEP-SHA1`` wrap of the pseudo key ``len(data key) || data key || cek_alg``. OAEP draws its own seed
    from the OS CSPRNG inside OpenSSL (there is no way to inject it)."""
    _check_data_key(data_key)
    pseudo_key = bytes([len(data_key)]) + data_key + cek_alg.encode()
    return public_key.encrypt(pseudo_key, _oaep_sha1())


def unwrap_rsa_oaep_sha1(private_key: rsa.RSAPrivateKey, wrapped: bytes, cek_alg: str) -> bytes:
    """Inverse of wrap_rsa_oaep_sha1; the trailing cipher name is compared in constant time."""
    try:
        pseudo_key = private_key.decrypt(wrapped, _oaep_sha1())
    except ValueError as exc:
        raise InvalidCiphertext from exc
    suffix = cek_alg.encode()
    if len(pseudo_key) != 1 + DATA_KEY_SIZE + len(suffix) or pseudo_key[0] != DATA_KEY_SIZE:
        raise InvalidCiphertext
    if not hmac.compare_digest(pseudo_key[1 + DATA_KEY_SIZE :], suffix):
        raise InvalidCiphertext
    return pseudo_key[1 : 1 + DATA_KEY_SIZE]
