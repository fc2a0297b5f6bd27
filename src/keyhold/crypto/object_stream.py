"""The object-encryption stream (format version 1): chunked AES-256-GCM, one or two layers, cheap range reads.

Layout (big-endian; docs/formats/object-encryption.md has the specification and known-answer vectors)::

    offset  size  field
    0       4     magic "KHOS"
    4       1     format version, 0x01
    5       1     layers L: 1, or 2 (dual-layer, aws:kms:dsse)
    6       32    salt (random, drawn here, per stream)
    38      7     nonce prefix (random, drawn here, per stream)
    45      ...   chunk 0 || chunk 1 || ... || chunk n-1

    plaintext chunk i = plaintext[i*65536 : (i+1)*65536]; n = max(1, ceil(size / 65536)); chunk n-1 is final
    K_j      = HKDF-SHA256(ikm = data_key_j, salt = salt, info = "keyhold object-stream v1" || u8(j), length = 32)
    nonce_i  = nonce prefix || u32be(i) || final_i                 (final_i = 0x01 for chunk n-1, else 0x00)
    AAD_i,j  = header (45 bytes) || u32be(part number) || u32be(i) || final_i || u8(j)
    stored chunk i = AES-256-GCM under K_{L-1} of ... AES-256-GCM under K_0 of plaintext chunk i
                   (each layer appends a 16-byte tag: a full chunk is stored as 65536 + 16*L bytes)

Every stream gets its own keys (the salt is fresh), every chunk of a stream its own nonce (its index), so no
(key, nonce) pair ever repeats; the final flag and the index in nonce and AAD make truncation, extension and
reordering fail; the header and part number in the AAD make splicing across streams and parts fail. Every such
failure is the one opaque InvalidCiphertext.

Performance: every call encrypts or decrypts all of its chunks into one preallocated bytearray with
``AESGCM.encrypt_into`` / ``decrypt_into``; nonce and AAD live in small reusable buffers rewritten in place.
``update``, ``finalize`` and ``open_chunks`` return that bytearray (no copy into ``bytes``).
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random

MAGIC: Final = b"KHOS"
VERSION: Final = 1
CHUNK_SIZE: Final = 65536
TAG_SIZE: Final = 16
KEY_SIZE: Final = 32
SALT_SIZE: Final = 32
NONCE_PREFIX_SIZE: Final = 7
MAX_LAYERS: Final = 2
MAX_CHUNKS: Final = 2**32  # the chunk index is a u32
MAX_PLAINTEXT_SIZE: Final = MAX_CHUNKS * CHUNK_SIZE  # 2^48 bytes (256 TiB) per stream
MAX_PART_NUMBER: Final = 10000  # 0 is a single-PUT object, 1..10000 a multipart part
DERIVATION_INFO: Final = b"keyhold object-stream v1"  # followed by u8(layer)

_HEADER: Final = struct.Struct(">4sBB32s7s")
HEADER_SIZE: Final = _HEADER.size  # 45
_SALT_OFFSET: Final = 6
_PREFIX_OFFSET: Final = _SALT_OFFSET + SALT_SIZE  # 38
_NONCE_TAIL: Final = struct.Struct(">IB")  # u32be(i) || final, at offset 7 of the nonce
_AAD_CHUNK: Final = struct.Struct(">IB")  # u32be(i) || final, at offset 49 of the AAD
_AAD_SIZE: Final = HEADER_SIZE + 4 + 4 + 1 + 1  # 55
_FINAL: Final = 1
_NOT_FINAL: Final = 0


def chunk_count(plaintext_size: int) -> int:
    """How many chunks a stream of ``plaintext_size`` bytes has: max(1, ceil(size / 65536))."""
    _check_size(plaintext_size)
    return max(1, -(-plaintext_size // CHUNK_SIZE))


def stored_size(plaintext_size: int, layers: int) -> int:
    """The length of the whole blob: header plus every chunk with its L tags."""
    _check_layers(layers)
    return HEADER_SIZE + plaintext_size + chunk_count(plaintext_size) * TAG_SIZE * layers


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """What the 45-byte header says, before anything is authenticated (for an inspect command; no key needed)."""

    version: int
    layers: int
    salt: bytes
    nonce_prefix: bytes


def read_header(header: bytes | bytearray | memoryview) -> StreamHeader:
    """Parse the first 45 bytes of a stream; InvalidCiphertext unless magic, version and layer count are valid."""
    if len(header) < HEADER_SIZE:
        raise InvalidCiphertext
    magic, version, layers, salt, prefix = _HEADER.unpack_from(header)
    if magic != MAGIC or version != VERSION or not 1 <= layers <= MAX_LAYERS:
        raise InvalidCiphertext
    return StreamHeader(version=version, layers=layers, salt=salt, nonce_prefix=prefix)


def read_header_layers(header: bytes | bytearray | memoryview) -> int:
    """The layer count of a stream header (1, or 2 for dual-layer); InvalidCiphertext if it is not a v1 header."""
    return read_header(header).layers


@dataclass(frozen=True, slots=True)
class CiphertextSpan:
    """Which stored bytes hold plaintext [start, end]: read ``length`` bytes at ``offset`` (chunk ``first_chunk``
    onwards), decrypt them, then drop the first ``skip`` plaintext bytes and keep the next ``take``."""

    offset: int
    length: int
    first_chunk: int
    skip: int
    take: int


def span_for_range(plaintext_size: int, layers: int, start: int, end: int) -> CiphertextSpan:
    """The whole chunks covering plaintext bytes ``start`` to ``end`` inclusive (0 <= start <= end < size)."""
    _check_layers(layers)
    _check_size(plaintext_size)
    if not 0 <= start <= end < plaintext_size:
        raise ValueError("the range must satisfy 0 <= start <= end < plaintext size")
    full = CHUNK_SIZE + TAG_SIZE * layers
    first = start // CHUNK_SIZE
    last = end // CHUNK_SIZE
    last_plain = min(plaintext_size, (last + 1) * CHUNK_SIZE) - last * CHUNK_SIZE
    return CiphertextSpan(
        offset=HEADER_SIZE + first * full,
        length=(last - first) * full + last_plain + TAG_SIZE * layers,
        first_chunk=first,
        skip=start - first * CHUNK_SIZE,
        take=end - start + 1,
    )


class StreamEncryptor:
    """Encrypts one stream. Write ``header``, then every ``update()`` result, then ``finalize()``, in order.

    The salt and nonce prefix are drawn here, from ``random``; no caller chooses them. Not safe to share between
    threads (nonce and AAD buffers are rewritten in place for every chunk).
    """

    __slots__ = ("_cipher", "_finalized", "_index", "_pending", "_size", "header")

    def __init__(self, data_keys: Sequence[bytes], part_number: int, *, random: RandomSource = system_random) -> None:
        layers = _check_keys(data_keys)
        _check_part(part_number)
        salt = _draw(random, SALT_SIZE)
        prefix = _draw(random, NONCE_PREFIX_SIZE)
        self.header: bytes = _HEADER.pack(MAGIC, VERSION, layers, salt, prefix)
        self._cipher = _ChunkCipher(data_keys, part_number, self.header)
        self._pending = bytearray()  # plaintext not yet encrypted: 0..CHUNK_SIZE bytes, the held-back chunk
        self._index = 0  # the index of the next chunk to encrypt
        self._size = 0
        self._finalized = False

    @property
    def plaintext_size(self) -> int:
        """Plaintext bytes passed to update() so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> bytearray:
        """Stored bytes of every chunk completed so far, except the last one, which is held back until it is known
        whether it is final. Accepts any size; may return an empty bytearray."""
        if self._finalized:
            raise ValueError("the stream is already finalized")
        view = memoryview(data).cast("B")
        n = len(view)
        if self._size + n > MAX_PLAINTEXT_SIZE:
            raise ValueError("a stream holds at most 2^48 bytes")
        self._size += n
        pending = self._pending
        available = len(pending) + n
        if available <= CHUNK_SIZE:
            pending += view
            return bytearray()
        count = (available - 1) // CHUNK_SIZE  # at least one byte stays behind, so none of these is final
        cipher = self._cipher
        out = bytearray(count * cipher.full)
        dst = memoryview(out)
        used = 0
        done = 0
        if pending:
            used = CHUNK_SIZE - len(pending)
            pending += view[:used]
            with memoryview(pending) as held:
                cipher.seal(self._index, 1, held, dst, last_final=False)
            done = 1
        if count > done:
            cipher.seal(
                self._index + done,
                count - done,
                view[used : used + (count - done) * CHUNK_SIZE],
                dst[done * cipher.full :],
                last_final=False,
            )
            used += (count - done) * CHUNK_SIZE
        self._index += count
        del pending[:]
        pending += view[used:]
        return out

    def finalize(self) -> bytearray:
        """The held-back chunk sealed as the final chunk (an empty final chunk if no bytes were passed)."""
        if self._finalized:
            raise ValueError("the stream is already finalized")
        self._finalized = True
        cipher = self._cipher
        out = bytearray(len(self._pending) + cipher.overhead)
        with memoryview(self._pending) as held:
            cipher.seal(self._index, 1, held, memoryview(out), last_final=True)
        self._index += 1
        del self._pending[:]
        return out


class StreamDecryptor:
    """Decrypts chunks of one stream whose plaintext size is known (from the object's metadata).

    Validates the header (magic, version, layer count equal to the number of data keys) at construction. Not safe to
    share between threads; make one per read.
    """

    __slots__ = ("_chunks", "_cipher", "_final_plain", "layers", "plaintext_size")

    def __init__(
        self, data_keys: Sequence[bytes], part_number: int, header: bytes | bytearray | memoryview, plaintext_size: int
    ) -> None:
        layers = _check_keys(data_keys)
        _check_part(part_number)
        _check_size(plaintext_size)
        if len(header) != HEADER_SIZE or read_header(header).layers != layers:
            raise InvalidCiphertext
        self.layers = layers
        self.plaintext_size = plaintext_size
        self._chunks = chunk_count(plaintext_size)
        self._final_plain = plaintext_size - (self._chunks - 1) * CHUNK_SIZE
        self._cipher = _ChunkCipher(data_keys, part_number, bytes(header))

    @property
    def stored_size(self) -> int:
        """The length the whole blob must have; a reader must check it (a longer blob has been extended)."""
        return stored_size(self.plaintext_size, self.layers)

    def open_chunks(self, stored: bytes | bytearray | memoryview, first_chunk: int) -> bytearray:
        """Decrypt consecutive whole stored chunks, the first being chunk ``first_chunk``.

        ``stored`` must be whole chunks: non-final chunks only, or running exactly to the end of the final chunk
        (which must carry the final flag). Anything else (no bytes, a partial chunk, bytes after the final chunk, a
        chunk index past the end, a tag that fails) raises InvalidCiphertext. The caller must also check that it got
        every byte it asked for, or use ``open_span``, which does.
        """
        if first_chunk < 0:
            raise ValueError("chunk index must not be negative")
        cipher = self._cipher
        view = memoryview(stored).cast("B")
        total = len(view)
        full = cipher.full
        non_final = self._chunks - 1 - first_chunk  # non-final chunks from first_chunk on (negative: past the end)
        if total == 0 or non_final < 0:
            raise InvalidCiphertext
        count, rest = divmod(total, full)
        if rest == 0 and count <= non_final:
            last_final = False
        elif total == non_final * full + self._final_plain + cipher.overhead:
            count, last_final = non_final + 1, True
        else:
            raise InvalidCiphertext
        out = bytearray(total - count * cipher.overhead)
        try:
            cipher.open(first_chunk, count, view, memoryview(out), last_final=last_final)
        except InvalidTag as exc:
            out[:] = bytes(len(out))  # decrypt_into wrote the failing chunk before checking its tag: wipe it all
            raise InvalidCiphertext from exc
        return out

    def open_span(self, stored: bytes | bytearray | memoryview, span: CiphertextSpan) -> bytearray:
        """Plaintext of a range: ``stored`` must be exactly the ``span.length`` bytes read at ``span.offset``."""
        if len(stored) != span.length:
            raise InvalidCiphertext
        out = self.open_chunks(stored, span.first_chunk)
        if span.skip + span.take > len(out):
            raise ValueError("the span does not belong to this stream")
        del out[span.skip + span.take :]
        del out[: span.skip]  # cheap: CPython moves a bytearray's start instead of copying
        return out


def encrypt(
    data_keys: Sequence[bytes], part_number: int, plaintext: bytes, *, random: RandomSource = system_random
) -> bytes:
    """The whole stored stream (header and chunks) of ``plaintext``, in one call."""
    encryptor = StreamEncryptor(data_keys, part_number, random=random)
    return b"".join((encryptor.header, encryptor.update(plaintext), encryptor.finalize()))


def decrypt(
    data_keys: Sequence[bytes], part_number: int, stored: bytes | bytearray | memoryview, plaintext_size: int
) -> bytearray:
    """The plaintext of a whole stored stream; InvalidCiphertext on any failure."""
    view = memoryview(stored).cast("B")
    decryptor = StreamDecryptor(data_keys, part_number, view[:HEADER_SIZE], plaintext_size)
    if len(view) != decryptor.stored_size:
        raise InvalidCiphertext
    return decryptor.open_chunks(view[HEADER_SIZE:], 0)


# --- internals ----------------------------------------------------------------------------------------------


class _ChunkCipher:
    """The per-stream AEADs (one per layer), with nonce and AAD buffers rewritten in place for each chunk."""

    __slots__ = ("_aads", "_aeads", "_nonce", "_scratch", "full", "overhead")

    def __init__(self, data_keys: Sequence[bytes], part_number: int, header: bytes) -> None:
        salt = header[_SALT_OFFSET:_PREFIX_OFFSET]
        self._aeads = tuple(AESGCM(_stream_key(key, salt, j)) for j, key in enumerate(data_keys))
        self._nonce = bytearray(header[_PREFIX_OFFSET:HEADER_SIZE] + bytes(5))
        self._aads = tuple(
            bytearray(header + struct.pack(">IIBB", part_number, 0, 0, j)) for j in range(len(data_keys))
        )
        self.overhead = TAG_SIZE * len(data_keys)
        self.full = CHUNK_SIZE + self.overhead
        # Two layers: the inner layer's ciphertext goes here before the outer layer seals or opens it.
        self._scratch = memoryview(bytearray(CHUNK_SIZE + TAG_SIZE)) if len(data_keys) == 2 else None

    def seal(self, first: int, count: int, src: memoryview, dst: memoryview, *, last_final: bool) -> None:
        """Encrypt ``count`` chunks of ``src`` (all full but perhaps the last) into ``dst``, from index ``first``."""
        nonce, aads, overhead = self._nonce, self._aads, self.overhead
        pack_nonce, pack_aad = _NONCE_TAIL.pack_into, _AAD_CHUNK.pack_into
        last = count - 1
        if self._scratch is None:
            aead, aad = self._aeads[0], aads[0]
            encrypt_into = aead.encrypt_into
            for k in range(count):
                final = _FINAL if last_final and k == last else _NOT_FINAL
                index = first + k
                pack_nonce(nonce, NONCE_PREFIX_SIZE, index, final)
                pack_aad(aad, HEADER_SIZE + 4, index, final)
                start = k * CHUNK_SIZE
                plain = src[start : start + CHUNK_SIZE]
                at = k * self.full
                encrypt_into(nonce, plain, aad, dst[at : at + len(plain) + overhead])
            return
        scratch = self._scratch
        inner, outer = self._aeads
        inner_aad, outer_aad = aads
        for k in range(count):
            final = _FINAL if last_final and k == last else _NOT_FINAL
            index = first + k
            pack_nonce(nonce, NONCE_PREFIX_SIZE, index, final)
            pack_aad(inner_aad, HEADER_SIZE + 4, index, final)
            pack_aad(outer_aad, HEADER_SIZE + 4, index, final)
            start = k * CHUNK_SIZE
            plain = src[start : start + CHUNK_SIZE]
            middle = scratch[: len(plain) + TAG_SIZE]
            inner.encrypt_into(nonce, plain, inner_aad, middle)
            at = k * self.full
            outer.encrypt_into(nonce, middle, outer_aad, dst[at : at + len(plain) + overhead])

    def open(self, first: int, count: int, src: memoryview, dst: memoryview, *, last_final: bool) -> None:
        """Decrypt ``count`` stored chunks of ``src`` into ``dst``; InvalidTag if any chunk fails."""
        nonce, aads, overhead, full = self._nonce, self._aads, self.overhead, self.full
        pack_nonce, pack_aad = _NONCE_TAIL.pack_into, _AAD_CHUNK.pack_into
        last = count - 1
        if self._scratch is None:
            aead, aad = self._aeads[0], aads[0]
            decrypt_into = aead.decrypt_into
            for k in range(count):
                final = _FINAL if last_final and k == last else _NOT_FINAL
                index = first + k
                pack_nonce(nonce, NONCE_PREFIX_SIZE, index, final)
                pack_aad(aad, HEADER_SIZE + 4, index, final)
                at = k * full
                sealed = src[at : at + full]
                start = k * CHUNK_SIZE
                decrypt_into(nonce, sealed, aad, dst[start : start + len(sealed) - overhead])
            return
        scratch = self._scratch
        inner, outer = self._aeads
        inner_aad, outer_aad = aads
        for k in range(count):
            final = _FINAL if last_final and k == last else _NOT_FINAL
            index = first + k
            pack_nonce(nonce, NONCE_PREFIX_SIZE, index, final)
            pack_aad(inner_aad, HEADER_SIZE + 4, index, final)
            pack_aad(outer_aad, HEADER_SIZE + 4, index, final)
            at = k * full
            sealed = src[at : at + full]
            middle = scratch[: len(sealed) - TAG_SIZE]
            outer.decrypt_into(nonce, sealed, outer_aad, middle)
            start = k * CHUNK_SIZE
            inner.decrypt_into(nonce, middle, inner_aad, dst[start : start + len(sealed) - overhead])


def _stream_key(data_key: bytes, salt: bytes, layer: int) -> bytes:
    info = DERIVATION_INFO + bytes([layer])
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(data_key)


def _draw(random: RandomSource, n: int) -> bytes:
    out = random(n)
    if len(out) != n:
        raise ValueError("random source returned too few bytes")
    return bytes(out)


def _check_keys(data_keys: Sequence[bytes]) -> int:
    if not 1 <= len(data_keys) <= MAX_LAYERS:
        raise ValueError("a stream has one or two layers: pass one or two data keys")
    if any(len(key) != KEY_SIZE for key in data_keys):
        raise ValueError("data keys must be 32 bytes")
    return len(data_keys)


def _check_layers(layers: int) -> None:
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError("a stream has one or two layers")


def _check_part(part_number: int) -> None:
    if not 0 <= part_number <= MAX_PART_NUMBER:
        raise ValueError("part number must be 0 (a single PUT) or 1..10000")


def _check_size(plaintext_size: int) -> None:
    if not 0 <= plaintext_size <= MAX_PLAINTEXT_SIZE:
        raise ValueError("plaintext size must be 0..2^48 bytes")
