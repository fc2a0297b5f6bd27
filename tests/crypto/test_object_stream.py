"""The object-encryption stream v1 (keyhold.crypto.object_stream).

Known-answer vectors from tests/vectors/object_stream_v1.json, checked through keyhold.crypto and through an
independent reimplementation of docs/formats/object-encryption.md below (struct + HKDF + AESGCM); round trips and
range reads at every chunk boundary, with hypothesis; and tampering of every kind, which must raise the one opaque
InvalidCiphertext.
"""

import hashlib
import json
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.crypto import object_stream as stream
from keyhold.crypto.errors import InvalidCiphertext

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
DOCS = ROOT / "docs" / "formats"
FILE = "object_stream_v1.json"
C = 65536
KEY = bytes(range(32))
OUTER = bytes(range(32, 64))


# --- the specification, reimplemented independently ---------------------------------------------------------

_HEADER = struct.Struct(">4sBB32s7s")
_INFO = b"keyhold object-stream v1"


def ref_key(data_key: bytes, salt: bytes, layer: int) -> bytes:
    """K_j = HKDF-SHA256(ikm = data key j, salt, info = "keyhold object-stream v1" || u8(j), length 32)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO + struct.pack(">B", layer)).derive(data_key)


def ref_nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, final)


def ref_aad(header: bytes, part_number: int, index: int, final: bool, layer: int) -> bytes:
    return header + struct.pack(">IIBB", part_number, index, final, layer)


def ref_count(size: int) -> int:
    return max(1, (size + C - 1) // C)


def ref_seal(data_keys: Sequence[bytes], part_number: int, salt: bytes, prefix: bytes, plaintext: bytes) -> bytes:
    header = _HEADER.pack(b"KHOS", 1, len(data_keys), salt, prefix)
    keys = [AESGCM(ref_key(k, salt, j)) for j, k in enumerate(data_keys)]
    n = ref_count(len(plaintext))
    out = [header]
    for i in range(n):
        final = i == n - 1
        chunk = plaintext[i * C : (i + 1) * C]
        for j, aead in enumerate(keys):
            chunk = aead.encrypt(ref_nonce(prefix, i, final), chunk, ref_aad(header, part_number, i, final, j))
        out.append(chunk)
    return b"".join(out)


def ref_open(data_keys: Sequence[bytes], part_number: int, stored: bytes, size: int) -> bytes | None:
    """Decrypt a whole stream; None for every rejection."""
    layers = len(data_keys)
    if len(stored) < _HEADER.size:
        return None
    magic, version, header_layers, salt, prefix = _HEADER.unpack_from(stored)
    if magic != b"KHOS" or version != 1 or header_layers != layers:
        return None
    header = stored[: _HEADER.size]
    n = ref_count(size)
    if len(stored) != _HEADER.size + size + 16 * layers * n:
        return None
    keys = [AESGCM(ref_key(k, salt, j)) for j, k in enumerate(data_keys)]
    out = []
    pos = _HEADER.size
    for i in range(n):
        final = i == n - 1
        length = (size - i * C if final else C) + 16 * layers
        chunk = stored[pos : pos + length]
        pos += length
        try:
            for j in reversed(range(layers)):
                chunk = keys[j].decrypt(ref_nonce(prefix, i, final), chunk, ref_aad(header, part_number, i, final, j))
        except InvalidTag:
            return None
        out.append(chunk)
    return b"".join(out)


def ref_span(size: int, layers: int, start: int, end: int) -> dict[str, int]:
    full = C + 16 * layers
    first, last = start // C, end // C
    last_length = min(C, size - last * C)
    return {
        "offset": 45 + first * full,
        "length": (last - first) * full + last_length + 16 * layers,
        "first_chunk": first,
        "skip": start - first * C,
        "take": end - start + 1,
    }


# --- the vectors --------------------------------------------------------------------------------------------


@cache
def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / FILE).read_text(encoding="utf-8"))
    return document


def vectors(valid: bool) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in load()["vectors"] if v["valid"] is valid]


def by_id(vector_id: str) -> dict[str, Any]:
    vector: dict[str, Any] = next(v for v in load()["vectors"] if v["id"] == vector_id)
    return vector


def mod251(length: int) -> bytes:
    return bytes(i % 251 for i in range(length))


def plaintext_of(vector: Mapping[str, Any]) -> bytes:
    if "plaintext" in vector:
        return bytes.fromhex(vector["plaintext"])
    assert vector["plaintext_generator"]["name"] == "mod-251"
    plaintext = mod251(vector["plaintext_generator"]["length"])
    assert hashlib.sha256(plaintext).hexdigest() == vector["plaintext_sha256"]
    return plaintext


def keys_of(vector: Mapping[str, Any]) -> list[bytes]:
    return [bytes.fromhex(k) for k in vector["data_keys"]]


@cache
def stored_of(vector_id: str) -> bytes:
    """A valid vector's stored stream: given inline, or rebuilt from the specification and checked by SHA-256."""
    vector = by_id(vector_id)
    drawn = bytes.fromhex(vector["random"])
    stored = ref_seal(keys_of(vector), vector["part_number"], drawn[:32], drawn[32:], plaintext_of(vector))
    if "stored" in vector:
        assert stored.hex() == vector["stored"]
    else:
        assert hashlib.sha256(stored).hexdigest() == vector["stored_sha256"]
    assert len(stored) == vector["stored_length"]
    return stored


def negative_stored(vector: Mapping[str, Any]) -> bytes:
    if "stored" in vector:
        return bytes.fromhex(vector["stored"])
    out = b"".join(
        bytes.fromhex(p["hex"]) if "hex" in p else stored_of(p["vector"])[p["start"] : p["end"]]
        for p in vector["stored_pieces"]
    )
    assert len(out) == vector["stored_length"]
    return out


class Recorded:
    """A random source handing out exactly the recorded bytes; it notices if some are left over."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, n: int) -> bytes:
        if n > len(self._data):
            raise AssertionError("the code drew more random bytes than the vector recorded")
        out, self._data = self._data[:n], self._data[n:]
        return out

    def exhausted(self) -> bool:
        return not self._data


@pytest.mark.parametrize("vector", vectors(True))
def test_vector_through_keyhold(vector: dict[str, Any]) -> None:
    plaintext, data_keys, part = plaintext_of(vector), keys_of(vector), vector["part_number"]
    source = Recorded(bytes.fromhex(vector["random"]))
    encryptor = stream.StreamEncryptor(data_keys, part, random=source)
    assert source.exhausted()
    assert encryptor.header.hex() == vector["header"]
    pieces = [encryptor.header]
    position = 0
    for size in vector["update_sizes"]:
        pieces.append(encryptor.update(plaintext[position : position + size]))
        position += size
    pieces.append(encryptor.update(plaintext[position:]))
    pieces.append(encryptor.finalize())
    assert encryptor.plaintext_size == len(plaintext) == vector["plaintext_size"]
    stored = b"".join(pieces)
    assert stored == stored_of(vector["id"])
    assert stream.encrypt(data_keys, part, plaintext, random=Recorded(bytes.fromhex(vector["random"]))) == stored
    assert len(stored) == stream.stored_size(len(plaintext), len(data_keys))
    assert stream.chunk_count(len(plaintext)) == len(vector["chunks"])

    header = stream.read_header(stored)
    assert (header.version, header.layers) == (1, len(data_keys))
    assert (header.salt.hex(), header.nonce_prefix.hex()) == (vector["salt"], vector["nonce_prefix"])
    assert stream.read_header_layers(stored[:45]) == len(data_keys)
    assert stream.decrypt(data_keys, part, stored, len(plaintext)) == plaintext
    assert read_chunk_by_chunk(data_keys, part, stored, len(plaintext)) == plaintext
    decryptor = stream.StreamDecryptor(data_keys, part, stored[:45], len(plaintext))
    for chunk in vector["chunks"]:
        at = chunk["stored_offset"]
        opened = decryptor.open_chunks(stored[at : at + chunk["stored_length"]], chunk["index"])
        assert opened == plaintext[chunk["plaintext_offset"] : chunk["plaintext_offset"] + chunk["plaintext_length"]]


@pytest.mark.parametrize("vector", vectors(True))
def test_vector_from_the_spec(vector: dict[str, Any]) -> None:
    plaintext, data_keys, part = plaintext_of(vector), keys_of(vector), vector["part_number"]
    drawn = bytes.fromhex(vector["random"])
    salt, prefix = drawn[:32], drawn[32:]
    assert len(drawn) == 39
    assert (salt.hex(), prefix.hex()) == (vector["salt"], vector["nonce_prefix"])
    assert [ref_key(k, salt, j).hex() for j, k in enumerate(data_keys)] == vector["stream_keys"]
    header = _HEADER.pack(b"KHOS", 1, len(data_keys), salt, prefix)
    assert header.hex() == vector["header"]
    stored = stored_of(vector["id"])
    n = ref_count(len(plaintext))
    assert [c["index"] for c in vector["chunks"]] == list(range(n))
    full = C + 16 * len(data_keys)
    for chunk in vector["chunks"]:
        i, final = chunk["index"], chunk["final"]
        assert final is (i == n - 1)
        assert chunk["stored_offset"] == 45 + i * full
        assert chunk["plaintext_offset"] == i * C
        assert chunk["stored_length"] == chunk["plaintext_length"] + 16 * len(data_keys)
        assert chunk["nonce"] == ref_nonce(prefix, i, final).hex()
        assert chunk["aads"] == [ref_aad(header, part, i, final, j).hex() for j in range(len(data_keys))]
    assert ref_open(data_keys, part, stored, len(plaintext)) == plaintext


def read_chunk_by_chunk(data_keys: Sequence[bytes], part: int, stored: bytes, size: int) -> bytes:
    """Open a stream one chunk at a time from its computed offsets, as a GET does (the last read runs to the end)."""
    decryptor = stream.StreamDecryptor(data_keys, part, stored[:45], size)
    body = memoryview(stored)[45:]
    full = C + 16 * len(data_keys)
    n = ref_count(size)
    return b"".join(
        decryptor.open_chunks(body[i * full : (i + 1) * full] if i < n - 1 else body[i * full :], i) for i in range(n)
    )


@pytest.mark.parametrize("vector", vectors(False))
def test_negative_vector(vector: dict[str, Any]) -> None:
    data_keys, part, size = keys_of(vector), vector["part_number"], vector["plaintext_size"]
    stored = negative_stored(vector)
    with pytest.raises(InvalidCiphertext):
        stream.decrypt(data_keys, part, stored, size)
    with pytest.raises(InvalidCiphertext):  # the streaming path, chunk by chunk, as a GET reads it
        read_chunk_by_chunk(data_keys, part, stored, size)
    assert ref_open(data_keys, part, stored, size) is None


@pytest.mark.parametrize("vector", [pytest.param(v, id=f"{v['start']}-{v['end']}") for v in load()["range_vectors"]])
def test_range_vector(vector: dict[str, Any]) -> None:
    size, layers, start, end = vector["plaintext_size"], vector["layers"], vector["start"], vector["end"]
    span = stream.span_for_range(size, layers, start, end)
    expected = {k: vector[k] for k in ("offset", "length", "first_chunk", "skip", "take")}
    assert {k: getattr(span, k) for k in expected} == expected == ref_span(size, layers, start, end)


def test_range_vectors_decrypt_from_the_vector_streams() -> None:
    streams = {
        (v["plaintext_size"], len(v["data_keys"])): v for v in load()["vectors"] if v["valid"] and v["part_number"] == 0
    }
    checked = 0
    for r in load()["range_vectors"]:
        vector = streams.get((r["plaintext_size"], r["layers"]))
        if vector is None:
            continue
        stored, plaintext = stored_of(vector["id"]), plaintext_of(vector)
        span = stream.span_for_range(r["plaintext_size"], r["layers"], r["start"], r["end"])
        decryptor = stream.StreamDecryptor(keys_of(vector), 0, stored[:45], len(plaintext))
        piece = stored[span.offset : span.offset + span.length]
        assert decryptor.open_span(piece, span) == plaintext[r["start"] : r["end"] + 1]
        checked += 1
    assert checked == len(load()["range_vectors"])


def test_vectors_cover_what_the_brief_asks_for() -> None:
    valid = [v for v in load()["vectors"] if v["valid"]]
    assert {0, 1, C, C + 1, 3 * C + 100} <= {v["plaintext_size"] for v in valid}
    assert any(len(v["data_keys"]) == 2 for v in valid)
    assert any(v["part_number"] == 7 for v in valid)
    ids = {v["id"] for v in load()["vectors"] if not v["valid"]}
    assert {
        "truncated-at-chunk-boundary",
        "chunks-swapped",
        "final-flag-missing",
        "extended-past-final-chunk",
        "wrong-part-number",
        "tampered-salt",
        "trailing-byte",
        "chunk-from-other-stream",
    } <= ids


def text_blocks_hex(doc: str) -> list[str]:
    """For each ```text block of a spec page: its hex tokens joined (annotations are skipped)."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in text.split("```text\n")[1:]]
    hex_digits = set("0123456789abcdef")
    return ["".join(t for t in block.split() if set(t) <= hex_digits) for block in blocks]


def test_worked_example_in_the_spec_is_the_vector() -> None:
    vector = by_id("one-byte")
    blocks = text_blocks_hex("object-encryption.md")
    for value in (vector["stream_keys"][0], vector["header"], vector["chunks"][0]["aads"][0], vector["stored"]):
        assert value in blocks, "object-encryption.md: the worked example is not vector one-byte's"


# --- round trips --------------------------------------------------------------------------------------------


def seal(
    plaintext: bytes, data_keys: Sequence[bytes] = (KEY,), part: int = 0, splits: Sequence[int] = ()
) -> tuple[bytes, bytes]:
    """(header, chunks) with update() called on pieces of the given sizes, then on the rest."""
    encryptor = stream.StreamEncryptor(data_keys, part)
    out = []
    position = 0
    for size in splits:
        out.append(encryptor.update(plaintext[position : position + size]))
        position += size
    out.append(encryptor.update(memoryview(plaintext)[position:]))
    out.append(encryptor.finalize())
    assert encryptor.plaintext_size == len(plaintext)
    return encryptor.header, b"".join(out)


def whole(plaintext: bytes, data_keys: Sequence[bytes] = (KEY,), part: int = 0) -> bytes:
    header, body = seal(plaintext, data_keys, part)
    return header + body


SIZES = [0, 1, C - 1, C, C + 1, 2 * C, 3 * C, 3 * C + 1, 3 * C + 100]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(size: int, layers: int) -> None:
    plaintext = os.urandom(size)
    data_keys = [KEY, OUTER][:layers]
    header, body = seal(plaintext, data_keys, part=3)
    assert len(header) == stream.HEADER_SIZE
    assert len(header) + len(body) == stream.stored_size(size, layers) == 45 + size + 16 * layers * ref_count(size)
    assert stream.decrypt(data_keys, 3, header + body, size) == plaintext
    assert ref_open(data_keys, 3, header + body, size) == plaintext
    decryptor = stream.StreamDecryptor(data_keys, 3, header, size)
    assert decryptor.open_chunks(body, 0) == plaintext
    assert decryptor.stored_size == len(header) + len(body)


def test_update_holds_back_the_last_chunk() -> None:
    encryptor = stream.StreamEncryptor([KEY], 0)
    assert encryptor.update(bytes(C)) == b""  # might be final
    first = encryptor.update(b"x")
    assert len(first) == C + 16  # now chunk 0 is known not to be final
    assert encryptor.update(bytes(C - 1)) == b""
    assert len(encryptor.finalize()) == C + 16
    with pytest.raises(ValueError, match="finalized"):
        encryptor.update(b"")
    with pytest.raises(ValueError, match="finalized"):
        encryptor.finalize()


def test_update_accepts_bytearray_and_memoryview_and_ignores_later_changes() -> None:
    buffer = bytearray(os.urandom(C + 10))
    expected = bytes(buffer)
    encryptor = stream.StreamEncryptor([KEY], 0)
    body = bytearray(encryptor.update(memoryview(buffer)[:5]))
    body += encryptor.update(buffer[5:])
    buffer[:] = bytes(len(buffer))  # the encryptor must have copied what it holds back
    body += encryptor.finalize()
    assert stream.decrypt([KEY], 0, encryptor.header + bytes(body), len(expected)) == expected


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=4 * C + 3),
    cuts=st.lists(st.integers(min_value=0, max_value=4 * C + 3), max_size=8),
    layers=st.sampled_from([1, 2]),
    part=st.integers(min_value=0, max_value=10000),
)
def test_round_trip_any_size_any_split(size: int, cuts: list[int], layers: int, part: int) -> None:
    plaintext = mod251(size)
    points = sorted({min(c, size) for c in cuts})
    splits = [b - a for a, b in zip([0, *points], points, strict=False)]
    data_keys = [KEY, OUTER][:layers]
    header, body = seal(plaintext, data_keys, part, splits)
    _, body2 = seal(plaintext, data_keys, part)
    # The split does not change the chunking: same length, and the same bytes under the same salt.
    assert len(body) == len(body2) == stream.stored_size(size, layers) - 45
    salt, prefix = header[6:38], header[38:45]
    assert header + body == ref_seal(data_keys, part, salt, prefix, plaintext)
    assert stream.decrypt(data_keys, part, header + body, size) == plaintext


# --- ranges -------------------------------------------------------------------------------------------------


def check_range(decryptor: stream.StreamDecryptor, stored: bytes, plaintext: bytes, start: int, end: int) -> None:
    layers = decryptor.layers
    span = stream.span_for_range(len(plaintext), layers, start, end)
    assert {k: getattr(span, k) for k in ("offset", "length", "first_chunk", "skip", "take")} == ref_span(
        len(plaintext), layers, start, end
    )
    piece = stored[span.offset : span.offset + span.length]
    assert len(piece) == span.length  # the span never runs past the stream
    assert decryptor.open_span(piece, span) == plaintext[start : end + 1]
    opened = decryptor.open_chunks(piece, span.first_chunk)
    assert opened[span.skip : span.skip + span.take] == plaintext[start : end + 1]
    # At most one partial chunk's worth of waste at each end, plus the tags of the chunks read.
    chunks = span.length // (C + 16 * layers) + 1
    assert span.length <= span.take + 2 * (C - 1) + 16 * layers * chunks
    assert chunks <= span.take // C + 3


@pytest.fixture(scope="module")
def ranged() -> dict[int, tuple[stream.StreamDecryptor, bytes, bytes]]:
    out = {}
    for layers in (1, 2):
        plaintext = os.urandom(3 * C + 100)
        data_keys = [KEY, OUTER][:layers]
        stored = whole(plaintext, data_keys)
        out[layers] = (stream.StreamDecryptor(data_keys, 0, stored[:45], len(plaintext)), stored, plaintext)
    return out


BOUNDARIES = [0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 3 * C - 1, 3 * C, 3 * C + 99]


@pytest.mark.parametrize("layers", [1, 2])
def test_range_at_every_boundary(layers: int, ranged: dict[int, tuple[stream.StreamDecryptor, bytes, bytes]]) -> None:
    decryptor, stored, plaintext = ranged[layers]
    for start in BOUNDARIES:
        for end in BOUNDARIES:
            if start <= end:
                check_range(decryptor, stored, plaintext, start, end)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), layers=st.sampled_from([1, 2]))
def test_range_any(
    data: st.DataObject, layers: int, ranged: dict[int, tuple[stream.StreamDecryptor, bytes, bytes]]
) -> None:
    decryptor, stored, plaintext = ranged[layers]
    start = data.draw(st.integers(min_value=0, max_value=len(plaintext) - 1))
    end = data.draw(st.integers(min_value=start, max_value=len(plaintext) - 1))
    check_range(decryptor, stored, plaintext, start, end)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=2**40), layers=st.sampled_from([1, 2]))
def test_span_arithmetic_any_size(data: st.DataObject, size: int, layers: int) -> None:
    start = data.draw(st.integers(min_value=0, max_value=size - 1))
    end = data.draw(st.integers(min_value=start, max_value=size - 1))
    span = stream.span_for_range(size, layers, start, end)
    assert {k: getattr(span, k) for k in ("offset", "length", "first_chunk", "skip", "take")} == ref_span(
        size, layers, start, end
    )
    assert span.offset + span.length <= stream.stored_size(size, layers)
    assert (span.offset - 45) % (C + 16 * layers) == 0


@pytest.mark.parametrize(("start", "end"), [(-1, 0), (1, 0), (0, 10), (10, 10)])
def test_span_rejects_ranges_outside_the_plaintext(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="range"):
        stream.span_for_range(10, 1, start, end)


# --- tampering ----------------------------------------------------------------------------------------------

PLAIN = mod251(3 * C + 100)


@pytest.fixture(scope="module")
def three() -> bytes:
    return whole(PLAIN)


def rejects(stored: bytes, size: int = len(PLAIN), data_keys: Sequence[bytes] = (KEY,), part: int = 0) -> None:
    with pytest.raises(InvalidCiphertext) as info:
        stream.decrypt(data_keys, part, stored, size)
    assert str(info.value) == "decryption failed"
    assert ref_open(data_keys, part, stored, size) is None


def flipped(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


@pytest.mark.parametrize("index", range(45))
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_header_bit_is_authenticated(three: bytes, index: int, mask: int) -> None:
    rejects(flipped(three, index, mask))


@pytest.mark.parametrize("chunk", range(4))
@pytest.mark.parametrize("where", ["first", "middle", "tag"])
def test_every_chunk_is_authenticated(three: bytes, chunk: int, where: str) -> None:
    start = 45 + chunk * (C + 16)
    end = min(len(three), start + C + 16)
    index = {"first": start, "middle": (start + end) // 2, "tag": end - 1}[where]
    rejects(flipped(three, index))


def chunks_of(stored: bytes, layers: int = 1) -> list[bytes]:
    full = C + 16 * layers
    return [stored[at : at + full] for at in range(45, len(stored), full)]


def test_swapped_chunks(three: bytes) -> None:
    c = chunks_of(three)
    rejects(three[:45] + c[1] + c[0] + c[2] + c[3])
    rejects(three[:45] + c[0] + c[2] + c[1] + c[3])


def test_dropped_chunks(three: bytes) -> None:
    c = chunks_of(three)
    rejects(three[:45] + c[0] + c[1] + c[2])  # final chunk dropped, size unchanged
    rejects(three[:45] + c[0] + c[1] + c[2], size=3 * C)  # and the size made to match: chunk 2 is not final
    rejects(three[:45] + c[0] + c[1] + c[3], size=2 * C + 100)  # a middle chunk dropped
    rejects(three[:45], size=0)
    rejects(three[:-1])


def test_appended_bytes_and_chunks(three: bytes) -> None:
    rejects(three + b"\x00")
    rejects(three + bytes(C + 16), size=len(PLAIN) + C)
    # A full stream of exactly 3 chunks, then another stream's valid final chunk appended.
    exact = whole(PLAIN[: 3 * C])
    rejects(exact + chunks_of(three)[3], size=len(PLAIN))


def test_chunk_from_another_stream_with_the_same_keys(three: bytes) -> None:
    other = whole(PLAIN)  # same keys and part number, a fresh salt and nonce prefix
    assert other[6:45] != three[6:45]
    mine, theirs = chunks_of(three), chunks_of(other)
    for i in range(4):
        spliced = [*mine[:i], theirs[i], *mine[i + 1 :]]
        rejects(three[:45] + b"".join(spliced))
    rejects(three[:45] + other[45:])  # every chunk of the other stream under this header
    rejects(other[:45] + three[45:])


def test_part_number_is_bound(three: bytes) -> None:
    part5 = whole(PLAIN, part=5)
    assert stream.decrypt([KEY], 5, part5, len(PLAIN)) == PLAIN
    for wrong in (0, 4, 6, 10000):
        rejects(part5, part=wrong)
    rejects(three, part=1)


def test_layers_must_match_the_keys(three: bytes) -> None:
    dual = whole(PLAIN[:1000], [KEY, OUTER])
    rejects(dual, size=1000, data_keys=[KEY])
    rejects(dual, size=1000, data_keys=[OUTER])
    rejects(dual, size=1000, data_keys=[OUTER, KEY])
    rejects(dual[:5] + b"\x01" + dual[6:], size=1000, data_keys=[KEY])
    rejects(three, data_keys=[KEY, OUTER])
    with pytest.raises(InvalidCiphertext):
        stream.StreamDecryptor([KEY], 0, dual[:45], 1000)


def test_wrong_key_or_size(three: bytes) -> None:
    rejects(three, data_keys=[OUTER])
    for size in (0, 1, 3 * C, 3 * C + 99, 3 * C + 101, 4 * C):
        rejects(three, size=size)


def test_open_chunks_needs_whole_chunks(three: bytes) -> None:
    decryptor = stream.StreamDecryptor([KEY], 0, three[:45], len(PLAIN))
    body = three[45:]
    full = C + 16
    assert decryptor.open_chunks(body[full : 3 * full], 1) == PLAIN[C : 3 * C]
    assert decryptor.open_chunks(body[3 * full :], 3) == PLAIN[3 * C :]
    for bad, first in [
        (b"", 0),  # nothing: a truncated read must not pass as an empty one
        (body[: full - 1], 0),  # a partial chunk
        (body[: full + 1], 0),  # a chunk and a byte
        (body[3 * full : -1], 3),  # the final chunk short by one
        (body[3 * full :] + b"\x00", 3),  # a byte after the final chunk
        (body[:full], 1),  # chunk 0 presented as chunk 1
        (body[3 * full :], 4),  # past the end
        (body[2 * full : 3 * full], 3),  # a full non-final chunk where the short final one belongs
    ]:
        with pytest.raises(InvalidCiphertext):
            decryptor.open_chunks(bad, first)
    span = stream.span_for_range(len(PLAIN), 1, 10, 20)
    with pytest.raises(InvalidCiphertext):
        decryptor.open_span(three[span.offset : span.offset + span.length - 1], span)


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"KHOS\x01\x01" + bytes(38),  # 44 bytes
        b"KHOS\x01\x01" + bytes(40),  # 46 bytes
        b"KHOT\x01\x01" + bytes(39),
        b"KHOS\x02\x01" + bytes(39),
        b"KHOS\x01\x00" + bytes(39),
        b"KHOS\x01\x03" + bytes(39),
    ],
)
def test_bad_headers(header: bytes) -> None:
    with pytest.raises(InvalidCiphertext):
        stream.StreamDecryptor([KEY], 0, header, 0)


def test_read_header_for_inspection() -> None:
    stored = whole(b"abc", [KEY, OUTER], part=2)
    assert stream.read_header_layers(stored) == 2
    header = stream.read_header(stored[:45])
    assert (header.version, header.layers, header.salt, header.nonce_prefix) == (1, 2, stored[6:38], stored[38:45])
    for bad in (stored[:44], b"XXOS" + stored[4:], stored[:5] + b"\x00" + stored[6:]):
        with pytest.raises(InvalidCiphertext):
            stream.read_header(bad)


# --- nonces, keys and misuse --------------------------------------------------------------------------------


def test_fresh_salt_and_prefix_per_stream() -> None:
    headers = {stream.StreamEncryptor([KEY], 1).header for _ in range(50)}
    assert len(headers) == 50
    assert len({h[6:38] for h in headers}) == len({h[38:45] for h in headers}) == 50


def test_random_source_is_used_and_checked() -> None:
    drawn: list[int] = []

    def source(n: int) -> bytes:
        drawn.append(n)
        return bytes(n)

    header = stream.StreamEncryptor([KEY], 0, random=source).header
    assert drawn == [32, 7]
    assert header == b"KHOS\x01\x01" + bytes(39)
    with pytest.raises(ValueError, match="too few"):
        stream.StreamEncryptor([KEY], 0, random=lambda n: bytes(n - 1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: stream.StreamEncryptor([], 0), "one or two"),
        (lambda: stream.StreamEncryptor([KEY, KEY, KEY], 0), "one or two"),
        (lambda: stream.StreamEncryptor([KEY[:16]], 0), "32 bytes"),
        (lambda: stream.StreamEncryptor([KEY], -1), "part number"),
        (lambda: stream.StreamEncryptor([KEY], 10001), "part number"),
        (lambda: stream.StreamDecryptor([KEY], 0, bytes(45), -1), "plaintext size"),
        (lambda: stream.StreamDecryptor([KEY], 0, bytes(45), 2**48 + 1), "plaintext size"),
        (lambda: stream.stored_size(1, 3), "layers"),
        (lambda: stream.chunk_count(-1), "plaintext size"),
    ],
)
def test_misuse_is_a_value_error(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_sizes() -> None:
    assert [stream.chunk_count(n) for n in (0, 1, C - 1, C, C + 1, 2**48)] == [1, 1, 1, 1, 2, 2**32]
    assert stream.stored_size(0, 1) == 61
    assert stream.stored_size(0, 2) == 77
    assert stream.stored_size(C, 2) == 45 + C + 32
    assert stream.stored_size(5 * 2**30, 1) == 45 + 5 * 2**30 + 16 * 5 * 2**14
    assert (stream.CHUNK_SIZE, stream.TAG_SIZE, stream.HEADER_SIZE, stream.VERSION) == (C, 16, 45, 1)


def test_stream_keys_are_distinct_per_layer_and_salt() -> None:
    salt = bytes(32)
    assert ref_key(KEY, salt, 0) != ref_key(KEY, salt, 1)
    assert ref_key(KEY, salt, 0) != ref_key(KEY, b"\x01" + salt[1:], 0)
    # The same data key in both layers still gives two keys; the stream round-trips.
    stored = whole(b"same key twice", [KEY, KEY])
    assert stream.decrypt([KEY, KEY], 0, stored, 14) == b"same key twice"
