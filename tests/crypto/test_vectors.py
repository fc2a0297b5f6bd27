"""Known-answer vectors from tests/vectors/, one test case per vector.

Every positive vector is checked twice: through keyhold.crypto, and through the small reimplementation
below, written from docs/formats/ with nothing but ``struct`` and ``cryptography``'s ``HKDF`` and ``AESGCM``.
Negative vectors must be rejected by both. See tests/vectors/PROVENANCE.md.
"""

import hashlib
import importlib.util
import json
import struct
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto import kms_blob
from keyhold.crypto.encoding import encode_context, encode_fields
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
DOCS = ROOT / "docs" / "formats"


# --- the one loader -----------------------------------------------------------------------------------------


@cache
def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document


def cases(name: str, group: str = "vectors") -> list[Any]:
    """One pytest case per vector, named by its id."""
    return [pytest.param(vector, id=vector["id"]) for vector in load(name)[group]]


def positive(name: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in load(name)["vectors"] if v["valid"]]


def negative(name: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in load(name)["vectors"] if not v["valid"]]


class Recorded:
    """A random source handing out exactly the bytes a vector recorded; it notices if some are left over."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, n: int) -> bytes:
        if n > len(self._data):
            raise AssertionError("the code drew more random bytes than the vector recorded")
        out, self._data = self._data[:n], self._data[n:]
        return out

    def exhausted(self) -> bool:
        return not self._data


# --- the specification, reimplemented independently ---------------------------------------------------------

_U32 = struct.Struct(">I")
_BLOB_HEADER = struct.Struct(">2sB16s32s32s12s")
_BLOB_INFO = b"keyhold kms-blob v1"


def ref_context(context: Mapping[str, str]) -> bytes:
    """docs/formats/encryption-context.md: u32 count, then (u32 len, key, u32 len, value) by key bytes."""
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = bytearray(_U32.pack(len(pairs)))
    for k, v in pairs:
        out += _U32.pack(len(k)) + k + _U32.pack(len(v)) + v
    return bytes(out)


def ref_fields(fields: Sequence[bytes]) -> bytes:
    out = bytearray(_U32.pack(len(fields)))
    for f in fields:
        out += _U32.pack(len(f)) + f
    return bytes(out)


def ref_blob_key(material: bytes, derivation_nonce: bytes) -> bytes:
    """docs/formats/kms-ciphertext.md: HKDF-SHA256(ikm = material, salt = derivation nonce, info, 32 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=derivation_nonce, info=_BLOB_INFO).derive(material)


def ref_seal_blob(
    key: bytes,
    key_id: bytes,
    material_id: bytes,
    derivation_nonce: bytes,
    nonce: bytes,
    plaintext: bytes,
    ctx: bytes,
) -> bytes:
    header = _BLOB_HEADER.pack(b"KH", 1, key_id, material_id, derivation_nonce, nonce)
    return header + AESGCM(ref_blob_key(key, derivation_nonce)).encrypt(nonce, plaintext, header + ctx)


def ref_open_blob(key: bytes, blob: bytes, ctx: bytes) -> bytes | None:
    """docs/formats/kms-ciphertext.md, Decrypt; None for every rejection."""
    if len(blob) < _BLOB_HEADER.size + 16:
        return None
    magic, version, _key_id, _material_id, derivation_nonce, nonce = _BLOB_HEADER.unpack_from(blob)
    if magic != b"KH" or version != 1:
        return None
    header = blob[: _BLOB_HEADER.size]
    try:
        return AESGCM(ref_blob_key(key, derivation_nonce)).decrypt(nonce, blob[_BLOB_HEADER.size :], header + ctx)
    except InvalidTag:
        return None


def ref_wrap(root: bytes, nonce: bytes, secret: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    aad = ref_fields([b"keyhold-wrap-v1", purpose, *bindings])
    return b"\x01" + nonce + AESGCM(root).encrypt(nonce, secret, aad)


def ref_unwrap(root: bytes, wrapped: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes | None:
    """docs/formats/root-key-wrapping.md; None for every rejection."""
    if len(wrapped) < 1 + 12 + 16 or wrapped[0] != 1:
        return None
    aad = ref_fields([b"keyhold-wrap-v1", purpose, *bindings])
    try:
        return AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], aad)
    except InvalidTag:
        return None


def sha256_counter(seed: bytes, length: int) -> bytes:
    """The plaintext generator the vector files describe."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + _U32.pack(counter)).digest()
        counter += 1
    return bytes(out[:length])


def blob_plaintext(vector: Mapping[str, Any]) -> bytes:
    if "plaintext" in vector:
        return bytes.fromhex(vector["plaintext"])
    generator = vector["plaintext_generator"]
    assert generator["name"] == "sha256-counter"
    plaintext = sha256_counter(bytes.fromhex(generator["seed"]), generator["length"])
    assert hashlib.sha256(plaintext).hexdigest() == vector["plaintext_sha256"]
    return plaintext


# --- KMS ciphertext blob v1 ---------------------------------------------------------------------------------

BLOBS = "kms_ciphertext_v1.json"


@pytest.mark.parametrize("vector", positive(BLOBS))
def test_blob_vector_through_keyhold(vector: dict[str, Any]) -> None:
    key, plaintext = bytes.fromhex(vector["key"]), blob_plaintext(vector)
    key_id, material_id = bytes.fromhex(vector["key_id"]), bytes.fromhex(vector["material_id"])
    expected = bytes.fromhex(vector["blob"])
    ctx = encode_context(vector["context"])
    assert ctx.hex() == vector["context_encoding"]

    source = Recorded(bytes.fromhex(vector["random"]))
    assert kms_blob.seal(kms_blob.MaterialKey(key, random=source), key_id, material_id, plaintext, ctx) == expected
    assert source.exhausted()

    header = kms_blob.read_header(expected)
    assert (header.key_id, header.material_id) == (key_id, material_id)
    assert kms_blob.open_blob(kms_blob.MaterialKey(key), expected, ctx) == plaintext
    assert len(expected) == len(plaintext) + kms_blob.OVERHEAD


@pytest.mark.parametrize("vector", positive(BLOBS))
def test_blob_vector_from_the_spec(vector: dict[str, Any]) -> None:
    key, plaintext = bytes.fromhex(vector["key"]), blob_plaintext(vector)
    drawn, expected = bytes.fromhex(vector["random"]), bytes.fromhex(vector["blob"])
    derivation_nonce, nonce = drawn[:32], drawn[32:]
    assert len(drawn) == 44
    assert (derivation_nonce.hex(), nonce.hex()) == (vector["derivation_nonce"], vector["nonce"])
    assert ref_blob_key(key, derivation_nonce).hex() == vector["blob_key"]
    ctx = ref_context(vector["context"])
    assert ctx.hex() == vector["context_encoding"]
    assert (expected[:95] + ctx).hex() == vector["aad"]
    sealed = ref_seal_blob(
        key,
        bytes.fromhex(vector["key_id"]),
        bytes.fromhex(vector["material_id"]),
        derivation_nonce,
        nonce,
        plaintext,
        ctx,
    )
    assert sealed == expected
    assert ref_open_blob(key, expected, ctx) == plaintext


@pytest.mark.parametrize("vector", negative(BLOBS))
def test_blob_negative_vector(vector: dict[str, Any]) -> None:
    key, blob = bytes.fromhex(vector["key"]), bytes.fromhex(vector["blob"])
    ctx = encode_context(vector["context"])
    assert ctx.hex() == vector["context_encoding"] == ref_context(vector["context"]).hex()
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(kms_blob.MaterialKey(key), blob, ctx)
    assert ref_open_blob(key, blob, ctx) is None


def test_blob_vectors_cover_what_the_brief_asks_for() -> None:
    ids = {v["id"] for v in load(BLOBS)["vectors"]}
    lengths = {len(blob_plaintext(v)) for v in load(BLOBS)["vectors"] if v["valid"]}
    assert {1, 4096} <= lengths
    assert {"tampered-key-id", "wrong-version", "truncated-one-byte", "wrong-context-a-bc"} <= ids
    assert {"tampered-derivation-nonce", "derivation-nonce-changed-tag-under-original-blob-key"} <= ids
    assert any(v["valid"] and not v["context"] for v in load(BLOBS)["vectors"])
    assert any(v["valid"] and len(v["context"]) > 1 for v in load(BLOBS)["vectors"])


def text_blocks_hex(doc: str) -> list[str]:
    """For each ```text block of a spec page: its hex tokens joined (annotations in quotes are skipped)."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in text.split("```text\n")[1:]]
    hex_digits = set("0123456789abcdef")
    return ["".join(t for t in block.split() if set(t) <= hex_digits) for block in blocks]


@pytest.mark.parametrize(
    ("doc", "file", "group", "vector_id", "fields"),
    [
        ("kms-ciphertext.md", BLOBS, "vectors", "empty-context-1-byte", ("blob_key", "aad", "blob")),
        (
            "encryption-context.md",
            "encryption_context.json",
            "context_vectors",
            "multi-pair-unicode",
            ("encoding",),
        ),
        ("root-key-wrapping.md", "root_key_wrap_v1.json", "vectors", "kms-key-material", ("aad", "wrapped")),
    ],
)
def test_worked_example_in_the_spec_is_the_vector(
    doc: str, file: str, group: str, vector_id: str, fields: tuple[str, ...]
) -> None:
    vector = next(v for v in load(file)[group] if v["id"] == vector_id)
    blocks = text_blocks_hex(doc)
    for field in fields:
        assert vector[field] in blocks, f"{doc}: the worked example's {field} is not vector {vector_id}'s"


# --- encryption context -------------------------------------------------------------------------------------

CONTEXTS = "encryption_context.json"


@pytest.mark.parametrize("vector", cases(CONTEXTS, "context_vectors"))
def test_context_vector(vector: dict[str, Any]) -> None:
    context: dict[str, str] = vector["context"]
    expected = bytes.fromhex(vector["encoding"])
    assert encode_context(context) == expected
    assert ref_context(context) == expected
    assert encode_context(dict(reversed(list(context.items())))) == expected


@pytest.mark.parametrize("vector", cases(CONTEXTS, "fields_vectors"))
def test_fields_vector(vector: dict[str, Any]) -> None:
    fields = [bytes.fromhex(f) for f in vector["fields"]]
    expected = bytes.fromhex(vector["encoding"])
    assert encode_fields(*fields) == expected
    assert ref_fields(fields) == expected


def test_distinct_context_vectors_have_distinct_encodings() -> None:
    vectors = load(CONTEXTS)["context_vectors"]
    by_encoding = {v["encoding"]: v["context"] for v in vectors}
    assert len(by_encoding) == len(vectors)
    fields = load(CONTEXTS)["fields_vectors"]
    assert len({v["encoding"] for v in fields}) == len(fields)


# --- root key wrapping v1 -----------------------------------------------------------------------------------

WRAPS = "root_key_wrap_v1.json"


def wrap_inputs(vector: Mapping[str, Any]) -> tuple[bytes, bytes, list[bytes]]:
    purpose = bytes.fromhex(vector["purpose"])
    bindings = [bytes.fromhex(b) for b in vector["bindings"]]
    assert purpose.decode("utf-8") == vector["purpose_text"]
    assert [b.decode("utf-8") for b in bindings] == vector["bindings_text"]
    return bytes.fromhex(vector["root_key"]), purpose, bindings


@pytest.mark.parametrize("vector", positive(WRAPS))
def test_wrap_vector_through_keyhold(vector: dict[str, Any]) -> None:
    root, purpose, bindings = wrap_inputs(vector)
    secret, expected = bytes.fromhex(vector["secret"]), bytes.fromhex(vector["wrapped"])
    source = Recorded(bytes.fromhex(vector["random"]))
    assert RootKey(root, random=source).wrap(secret, purpose, *bindings) == expected
    assert source.exhausted()
    assert RootKey(root).unwrap(expected, purpose, *bindings) == secret
    assert encode_fields(b"keyhold-wrap-v1", purpose, *bindings).hex() == vector["aad"]


@pytest.mark.parametrize("vector", positive(WRAPS))
def test_wrap_vector_from_the_spec(vector: dict[str, Any]) -> None:
    root, purpose, bindings = wrap_inputs(vector)
    secret, expected = bytes.fromhex(vector["secret"]), bytes.fromhex(vector["wrapped"])
    assert ref_fields([b"keyhold-wrap-v1", purpose, *bindings]).hex() == vector["aad"]
    assert ref_wrap(root, bytes.fromhex(vector["random"]), secret, purpose, bindings) == expected
    assert ref_unwrap(root, expected, purpose, bindings) == secret


@pytest.mark.parametrize("vector", negative(WRAPS))
def test_wrap_negative_vector(vector: dict[str, Any]) -> None:
    root, purpose, bindings = wrap_inputs(vector)
    wrapped = bytes.fromhex(vector["wrapped"])
    with pytest.raises(InvalidCiphertext):
        RootKey(root).unwrap(wrapped, purpose, *bindings)
    assert ref_unwrap(root, wrapped, purpose, bindings) is None


def test_root_key_check_value_vector() -> None:
    vectors = {v["id"]: v for v in load(WRAPS)["vectors"]}
    check, foreign = vectors["root-key-check"], vectors["check-value-other-root-key"]
    source = Recorded(bytes.fromhex(check["random"]))
    assert RootKey(bytes.fromhex(check["root_key"]), random=source).check_value().hex() == check["wrapped"]
    assert RootKey(bytes.fromhex(check["root_key"])).matches(bytes.fromhex(check["wrapped"]))
    assert not RootKey(bytes.fromhex(foreign["root_key"])).matches(bytes.fromhex(foreign["wrapped"]))


def test_wrapped_material_is_the_blob_vectors_key() -> None:
    """The wrap vector for KMS key material unwraps to the key the blob vectors use: the whole chain holds."""
    wrap = next(v for v in load(WRAPS)["vectors"] if v["id"] == "kms-key-material")
    blob = next(v for v in load(BLOBS)["vectors"] if v["id"] == "empty-context-1-byte")
    root, purpose, bindings = wrap_inputs(wrap)
    material = RootKey(root).unwrap(bytes.fromhex(wrap["wrapped"]), purpose, *bindings)
    assert material.hex() == blob["key"]
    assert bindings[1] == blob["material_id"].encode("ascii")
    assert bindings[0].decode().endswith(str(uuid.UUID(blob["key_id"])))


# --- the files are what generate.py produces ----------------------------------------------------------------


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("keyhold_vector_generator", VECTORS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", [BLOBS, CONTEXTS, WRAPS, "object_stream_v1.json", "object_envelope_v1.json"])
def test_vector_file_is_reproducible(name: str) -> None:
    generator = _generator()
    assert generator.render(generator.BUILDERS[name]()) == (VECTORS / name).read_text(encoding="utf-8")
