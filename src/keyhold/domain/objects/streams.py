"""Moving object bytes between a request and the blob store: encrypt-and-write, read-and-decrypt.

Bytes arrive and leave in blocks of about 1 MiB; nothing holds more than a block or two, whatever the size.
A write makes the blob durable (fsync, rename) before returning; on any failure the half-written blob is removed.
A read of an encrypted stream reads only the chunks its range needs (crypto/object_stream.py).
"""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.object_stream import (
    CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    StreamDecryptor,
    StreamEncryptor,
    read_header,
    span_for_range,
    stored_size,
)
from keyhold.crypto.rand import RandomSource, system_random
from keyhold.domain.objects.model import StoredPart
from keyhold.domain.objects.ports import BlobMissing, BlobStore, BlobTruncated

CHUNKS_PER_READ = 32  # about 2 MiB of plaintext per block read from disk


@dataclass(frozen=True, slots=True)
class Written:
    blob_id: str
    size: int  # plaintext bytes
    md5: bytes | None  # when asked for
    stream_salt: str  # hex of the stream header's salt; "" when not encrypted


def write_stream(
    blobs: BlobStore,
    payload: Iterable[bytes | bytearray],
    data_keys: Sequence[bytes],
    part_number: int,
    *,
    want_md5: bool,
    random: RandomSource = system_random,
) -> Written:
    """Write one stream (encrypted when there are data keys) and make it durable. ``payload`` may raise at its
    end (a checksum that does not hold): then nothing is kept."""
    writer = blobs.create()
    salt = ""
    try:
        md5 = hashlib.md5(usedforsecurity=False) if want_md5 else None
        size = 0
        if data_keys:
            encryptor = StreamEncryptor(data_keys, part_number, random=random)
            salt = read_header(encryptor.header).salt.hex()
            writer.write(encryptor.header)
            for block in payload:
                size += len(block)
                if md5 is not None:
                    md5.update(block)
                sealed = encryptor.update(block)
                if sealed:
                    writer.write(sealed)
            writer.write(encryptor.finalize())
        else:
            for block in payload:
                size += len(block)
                if md5 is not None:
                    md5.update(block)
                writer.write(block)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return Written(writer.blob_id, size, md5.digest() if md5 is not None else None, salt)


def read_part(
    blobs: BlobStore, part: StoredPart, data_keys: Sequence[bytes], start: int, end: int
) -> Iterator[bytes | bytearray]:
    """Plaintext bytes [start, end] (inclusive) of one stream. Raises InvalidCiphertext if the stored bytes were
    changed, cut short or extended."""
    if not data_keys:
        if part.stream_salt:  # the row says this stream is encrypted: never serve its ciphertext as the object
            raise InvalidCiphertext
        try:
            yield from blobs.read(part.blob_id, start, end - start + 1)
        except (BlobMissing, BlobTruncated):
            raise InvalidCiphertext from None
        return
    decryptor = open_stream(blobs, part, data_keys)
    if part.size == 0:
        return
    span = span_for_range(part.size, decryptor.layers, start, end)
    stride = CHUNK_SIZE + TAG_SIZE * decryptor.layers
    chunk = span.first_chunk
    skip, take = span.skip, span.take
    try:
        for block in blobs.read(part.blob_id, span.offset, span.length, block_size=CHUNKS_PER_READ * stride):
            plain = decryptor.open_chunks(block, chunk)
            chunk += -(-len(block) // stride)
            produced = len(plain)
            del plain[skip + take :]
            del plain[:skip]  # cheap: a bytearray moves its start instead of copying
            skip = max(0, skip - produced)
            take -= len(plain)
            if plain:
                yield plain
    except (BlobMissing, BlobTruncated):
        raise InvalidCiphertext from None


def open_stream(blobs: BlobStore, part: StoredPart, data_keys: Sequence[bytes]) -> StreamDecryptor:
    """Read and check a stream's header and length; the decryptor then opens its chunks."""
    try:
        header = b"".join(blobs.read(part.blob_id, 0, HEADER_SIZE))
        if read_header(header).salt.hex() != part.stream_salt:  # another stream than the one the row names
            raise InvalidCiphertext
        decryptor = StreamDecryptor(data_keys, part.number, header, part.size)
        if blobs.size(part.blob_id) != stored_size(part.size, decryptor.layers):
            raise InvalidCiphertext
    except (BlobMissing, BlobTruncated):
        raise InvalidCiphertext from None
    if part.size == 0:  # one empty final chunk: open it, so a changed tag or flag is caught
        decryptor.open_chunks(b"".join(blobs.read(part.blob_id, HEADER_SIZE, TAG_SIZE * decryptor.layers)), 0)
    return decryptor
