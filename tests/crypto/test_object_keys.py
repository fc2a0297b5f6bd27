"""The object envelope v1: sealed data keys (keyhold.crypto.object_keys), the SSE-C key check, the KEKs of each
mode, and the stored JSON (keyhold.domain.objects.model.Envelope).

Known-answer vectors from tests/vectors/object_envelope_v1.json are checked through Keyhold's code and through an
independent reimplementation of docs/formats/object-envelope.md below, built from hashlib, hmac, struct and
AESGCM alone (HKDF is written out with HMAC, as the page does). Property tests (hypothesis) cover sealing, tampering,
the key check and the JSON. Finally, every claim of the page's mode table and of its table of changes to a stored
envelope is checked against ``Envelopes`` (the domain code), with a KMS stand-in that makes real v1 blobs.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keyhold.crypto import kms_blob
from keyhold.crypto import object_keys as ok
from keyhold.crypto import object_stream as stream
from keyhold.crypto.encoding import encode_context
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.objects import envelopes as envelopes_module
from keyhold.domain.objects.bucket_keys import BucketKeys
from keyhold.domain.objects.envelopes import Envelopes, SseSpec
from keyhold.domain.objects.errors import InvalidRequest, KmsFailure, ObjectAccessDenied
from keyhold.domain.objects.model import MODES, NONE, SSE_C, SSE_KMS, SSE_KMS_DSSE, SSE_S3, Envelope, SseS3Key
from keyhold.domain.objects.sse_s3 import ROTATION_SECONDS, SseS3Keyring
from keyhold.errors import InvalidInput, NotFound

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
DOCS = ROOT / "docs" / "formats"
FILE = "object_envelope_v1.json"
PAGE = "object-envelope.md"

# --- the specification, reimplemented independently ---------------------------------------------------------

_U32 = struct.Struct(">I")
_DOMAIN = b"keyhold-object-key-v1"
_SSE_C_INFO = b"keyhold sse-c kek v1"
_CHECK_LABEL = b"keyhold sse-c key check v1"
_BUCKET_INFO = b"keyhold bucket-key object key v1"
_BLOB_INFO = b"keyhold kms-blob v1"
_BLOB_HEADER = struct.Struct(">2sB16s32s32s12s")


def ref_fields(items: Sequence[bytes]) -> bytes:
    """encode_fields: u32be count, then u32be length || bytes for each field."""
    return _U32.pack(len(items)) + b"".join(_U32.pack(len(f)) + f for f in items)


def ref_context(context: Mapping[str, str]) -> bytes:
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    return _U32.pack(len(pairs)) + b"".join(_U32.pack(len(k)) + k + _U32.pack(len(v)) + v for k, v in pairs)


def ref_prk(ikm: bytes, salt: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def ref_hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 with a 32-byte output: one block, HMAC(PRK, info || 01)."""
    return hmac.new(ref_prk(ikm, salt), info + b"\x01", hashlib.sha256).digest()


def ref_aad(purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    return ref_fields([_DOMAIN, purpose, *bindings])


def ref_seal(kek: bytes, nonce: bytes, data_key: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    return b"\x01" + nonce + AESGCM(kek).encrypt(nonce, data_key, ref_aad(purpose, bindings))


def ref_open(kek: bytes, sealed: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes | None:
    """The page's Opening; None for every rejection."""
    if len(sealed) != 61 or sealed[0] != 1:
        return None
    try:
        return AESGCM(kek).decrypt(sealed[1:13], sealed[13:], ref_aad(purpose, bindings))
    except InvalidTag:
        return None


def ref_check(customer_key: bytes, salt: bytes) -> bytes:
    return hmac.new(customer_key, _CHECK_LABEL + salt, hashlib.sha256).digest()


def ref_matches(customer_key: bytes, salt: bytes, check: bytes) -> bool:
    return hmac.compare_digest(ref_check(customer_key, salt), check)


def ref_unwrap(root: bytes, wrapped: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes | None:
    """docs/formats/root-key-wrapping.md."""
    if len(wrapped) < 29 or wrapped[0] != 1:
        return None
    try:
        return AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], ref_fields([b"keyhold-wrap-v1", purpose, *bindings]))
    except InvalidTag:
        return None


def ref_seal_blob(
    material: bytes, key_id: bytes, material_id: bytes, drawn: bytes, plaintext: bytes, ctx: bytes
) -> bytes:
    """docs/formats/kms-ciphertext.md, with the 44 random bytes drawn (derivation nonce, then GCM nonce)."""
    derivation_nonce, nonce = drawn[:32], drawn[32:]
    header = _BLOB_HEADER.pack(b"KH", 1, key_id, material_id, derivation_nonce, nonce)
    return header + AESGCM(ref_hkdf(material, derivation_nonce, _BLOB_INFO)).encrypt(nonce, plaintext, header + ctx)


def ref_open_blob(material: bytes, blob: bytes, ctx: bytes) -> bytes:
    magic, version, _key_id, _material_id, derivation_nonce, nonce = _BLOB_HEADER.unpack_from(blob)
    assert (magic, version) == (b"KH", 1)
    key = ref_hkdf(material, derivation_nonce, _BLOB_INFO)
    return AESGCM(key).decrypt(nonce, blob[_BLOB_HEADER.size :], blob[: _BLOB_HEADER.size] + ctx)


# --- the vectors --------------------------------------------------------------------------------------------


@cache
def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / FILE).read_text(encoding="utf-8"))
    return document


def group(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = load()[name]
    return items


def one(name: str, vector_id: str) -> dict[str, Any]:
    return next(v for v in group(name) if v["id"] == vector_id)


def cases(name: str, valid: bool | None = None) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in group(name) if valid is None or v["valid"] is valid]


def b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def bindings_of(vector: Mapping[str, Any]) -> list[bytes]:
    return [b(x) for x in vector["bindings"]]


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


@pytest.mark.parametrize("vector", cases("generation_key_vectors"))
def test_generation_key_vector(vector: dict[str, Any]) -> None:
    root, key_id, secret = b(vector["root_key"]), vector["key_id"], b(vector["generation_key"])
    assert vector["purpose_text"] == "sse-s3-key"
    assert vector["bindings_text"] == [key_id] == [str(uuid.UUID(key_id))]
    source = Recorded(b(vector["random"]))
    wrapped = RootKey(root, random=source).wrap(secret, b"sse-s3-key", key_id.encode())
    assert source.exhausted()
    assert wrapped.hex() == vector["wrapped"]
    assert RootKey(root).unwrap(wrapped, b"sse-s3-key", key_id.encode()) == secret
    # from the spec
    assert ref_fields([b"keyhold-wrap-v1", b"sse-s3-key", key_id.encode()]).hex() == vector["aad"]
    assert ref_unwrap(root, wrapped, b"sse-s3-key", [key_id.encode()]) == secret
    assert ref_unwrap(root, wrapped, b"kms-key-material", [key_id.encode()]) is None


def test_generation_key_uses_the_root_key_of_the_wrap_vectors() -> None:
    wraps = json.loads((VECTORS / "root_key_wrap_v1.json").read_text(encoding="utf-8"))
    assert one("generation_key_vectors", "generation-key")["root_key"] == wraps["vectors"][0]["root_key"]


@pytest.mark.parametrize("vector", cases("customer_key_vectors"))
def test_customer_key_vector(vector: dict[str, Any]) -> None:
    customer_key, salt, kek, check = b(vector["customer_key"]), b(vector["salt"]), b(vector["kek"]), b(vector["check"])
    # through keyhold: the salt is drawn through object_keys, the check computed and recognised there, and
    # customer_kek() (a sealer, which does not hand out its key) opens what the vector's KEK seals
    source = Recorded(b(vector["random"]))
    assert ok.new_salt(source) == salt
    assert source.exhausted()
    assert ok.customer_key_check(customer_key, salt) == check
    assert ok.customer_key_matches(customer_key, salt, check)
    probe = ok.DataKeySealer(kek).seal(bytes(range(32)), b"sse-c", b"bucket", b"key")
    assert ok.customer_kek(customer_key, salt).open(probe, b"sse-c", b"bucket", b"key") == bytes(range(32))
    # from the spec
    assert ref_prk(customer_key, salt).hex() == vector["kek_prk"]
    assert ref_hkdf(customer_key, salt, _SSE_C_INFO) == kek
    assert (_CHECK_LABEL + salt).hex() == vector["check_message"]
    assert ref_check(customer_key, salt) == check
    # what a client sends: the key and its MD5, in base64 (neither is stored)
    assert base64.b64decode(vector["customer_key_base64"]) == customer_key
    md5 = hashlib.md5(customer_key, usedforsecurity=False).digest()
    assert base64.b64decode(vector["customer_key_md5_base64"]) == md5


def test_the_two_objects_of_a_customer_key_have_their_own_kek_and_check() -> None:
    first, second = group("customer_key_vectors")
    assert first["customer_key"] == second["customer_key"]
    assert len({first["salt"], second["salt"]}) == len({first["kek"], second["kek"]}) == 2
    assert first["check"] != second["check"]


@pytest.mark.parametrize("vector", cases("bucket_key_vectors"))
def test_bucket_key_vector(vector: dict[str, Any]) -> None:
    bucket_key, salt, kek = b(vector["bucket_key"]), b(vector["salt"]), b(vector["kek"])
    source = Recorded(b(vector["random"]))
    assert ok.new_salt(source) == salt
    assert source.exhausted()
    assert ok.derive_object_key(bucket_key, salt) == kek
    assert ref_prk(bucket_key, salt).hex() == vector["kek_prk"]
    assert ref_hkdf(bucket_key, salt, _BUCKET_INFO) == kek


def _kek_source(vector: Mapping[str, Any]) -> bytes:
    """The KEK a sealed vector names, recomputed from the vector it comes from."""
    where, _, field = vector["kek_from"].partition(": ")
    group_name, _, vector_id = where.partition("/")
    source = one(group_name, vector_id)
    if group_name == "generation_key_vectors":
        key = ref_unwrap(b(source["root_key"]), b(source["wrapped"]), b"sse-s3-key", [source["key_id"].encode()])
        assert key is not None
        return key
    if group_name == "customer_key_vectors":
        return ref_hkdf(b(source["customer_key"]), b(source["salt"]), _SSE_C_INFO)
    assert group_name == "bucket_key_vectors"
    assert field == "kek"
    return ref_hkdf(b(source["bucket_key"]), b(source["salt"]), _BUCKET_INFO)


@pytest.mark.parametrize("vector", cases("vectors", True))
def test_sealed_vector_through_keyhold(vector: dict[str, Any]) -> None:
    kek, purpose, bindings, data_key = (
        b(vector["kek"]),
        b(vector["purpose"]),
        bindings_of(vector),
        b(vector["data_key"]),
    )
    source = Recorded(b(vector["random"]))
    sealed = ok.DataKeySealer(kek, random=source).seal(data_key, purpose, *bindings)
    assert source.exhausted()
    assert sealed.hex() == vector["sealed"]
    assert len(sealed) == 61
    assert ok.DataKeySealer(kek).open(sealed, purpose, *bindings) == data_key
    if vector["purpose_text"] == "sse-c":  # the sealer customer_kek() derives is the vector's KEK
        customer = one("customer_key_vectors", "customer-key")
        sealer = ok.customer_kek(b(customer["customer_key"]), b(customer["salt"]))
        assert sealer.open(sealed, purpose, *bindings) == data_key
    if vector["purpose_text"] == "bucket-key":
        bucket = one("bucket_key_vectors", "bucket-key-object")
        assert ok.derive_object_key(b(bucket["bucket_key"]), b(bucket["salt"])) == kek


@pytest.mark.parametrize("vector", cases("vectors", True))
def test_sealed_vector_from_the_spec(vector: dict[str, Any]) -> None:
    kek, purpose, bindings, data_key = (
        b(vector["kek"]),
        b(vector["purpose"]),
        bindings_of(vector),
        b(vector["data_key"]),
    )
    assert _kek_source(vector) == kek
    assert [x.decode("utf-8") for x in bindings] == vector["bindings_text"]
    assert purpose.decode() == vector["purpose_text"]
    assert ref_aad(purpose, bindings).hex() == vector["aad"]
    assert ref_seal(kek, b(vector["random"]), data_key, purpose, bindings).hex() == vector["sealed"]
    assert ref_open(kek, b(vector["sealed"]), purpose, bindings) == data_key


@pytest.mark.parametrize("vector", cases("vectors", False))
def test_sealed_negative_vector(vector: dict[str, Any]) -> None:
    kek, purpose, bindings, sealed = b(vector["kek"]), b(vector["purpose"]), bindings_of(vector), b(vector["sealed"])
    with pytest.raises(InvalidCiphertext) as caught:
        ok.DataKeySealer(kek).open(sealed, purpose, *bindings)
    assert str(caught.value) == "decryption failed"
    assert ref_open(kek, sealed, purpose, bindings) is None


@pytest.mark.parametrize("vector", cases("customer_key_check_vectors"))
def test_customer_key_check_vector(vector: dict[str, Any]) -> None:
    customer_key, salt, check = b(vector["customer_key"]), b(vector["salt"]), b(vector["check"])
    assert ok.customer_key_matches(customer_key, salt, check) is vector["matches"]
    assert ref_matches(customer_key, salt, check) is vector["matches"]


def test_vectors_cover_what_the_brief_asks_for() -> None:
    valid = [v for v in group("vectors") if v["valid"]]
    assert {v["purpose_text"] for v in valid} == {"sse-s3", "dsse-outer", "sse-c", "bucket-key"}
    ids = {v["id"] for v in group("vectors") if not v["valid"]}
    assert {
        "wrong-purpose-dsse-outer",
        "other-bucket",
        "other-key",
        "tampered-ciphertext",
        "tampered-tag",
        "version-0x02",
        "truncated-one-byte",
        "sse-c-wrong-customer-key",
    } <= ids
    envelopes = group("envelope_vectors")
    assert {v["mode"] for v in envelopes} == set(MODES)
    assert any('"bucket_key":true' in v["json"] for v in envelopes)
    assert {c["matches"] for c in group("customer_key_check_vectors")} == {True, False}


# --- the envelope vectors -----------------------------------------------------------------------------------

B64_FIELDS = {"kms_wrapped", "salt", "s3_wrapped", "customer_key_check", "sealed_key"}


def ref_open_envelope(vector: Mapping[str, Any]) -> list[bytes]:
    """The page's mode table, read from the stored JSON alone (json + base64), with the keys the vectors give."""
    document = json.loads(vector["json"])
    assert document.pop("v") == 1
    raw = {k: base64.b64decode(v, validate=True) if k in B64_FIELDS else v for k, v in document.items()}
    where = [vector["bucket"].encode(), vector["key"].encode()]
    mode = raw["mode"]
    keys: list[bytes] = []
    if mode in (SSE_KMS, SSE_KMS_DSSE):
        kms = vector["kms"]
        ctx = ref_context(raw["context"])
        assert ctx.hex() == kms["context_encoding"]
        blob = ref_seal_blob(
            b(kms["material_key"]), b(kms["key_id"]), b(kms["material_id"]), b(kms["random"]), b(kms["plaintext"]), ctx
        )
        assert blob == raw["kms_wrapped"]
        plaintext = ref_open_blob(b(kms["material_key"]), blob, ctx)
        if raw.get("bucket_key"):
            assert raw["context"] == {"aws:s3:arn": f"arn:aws:s3:::{vector['bucket']}"}
            kek = ref_hkdf(plaintext, raw["salt"], _BUCKET_INFO)
            opened = ref_open(kek, raw["sealed_key"], b"bucket-key", where)
            assert opened is not None
            keys.append(opened)
        else:
            assert raw["context"]["aws:s3:arn"] == f"arn:aws:s3:::{vector['bucket']}/{vector['key']}"
            keys.append(plaintext)
    if mode in (SSE_S3, SSE_KMS_DSSE):
        generation = one("generation_key_vectors", vector["opened_with"]["generation_key_vector"])
        assert raw["s3_key_id"] == generation["key_id"]
        key = ref_unwrap(
            b(generation["root_key"]), b(generation["wrapped"]), b"sse-s3-key", [raw["s3_key_id"].encode()]
        )
        assert key is not None
        opened = ref_open(key, raw["s3_wrapped"], b"sse-s3" if mode == SSE_S3 else b"dsse-outer", where)
        assert opened is not None
        keys.append(opened)
    if mode == SSE_C:
        customer = one("customer_key_vectors", vector["opened_with"]["customer_key_vector"])
        customer_key = b(customer["customer_key"])
        assert ref_matches(customer_key, raw["salt"], raw["customer_key_check"])
        opened = ref_open(ref_hkdf(customer_key, raw["salt"], _SSE_C_INFO), raw["sealed_key"], b"sse-c", where)
        assert opened is not None
        keys.append(opened)
    return keys


@pytest.mark.parametrize("vector", cases("envelope_vectors"))
def test_envelope_vector_json(vector: dict[str, Any]) -> None:
    envelope = Envelope.from_json(vector["json"])
    assert envelope.mode == vector["mode"]
    assert envelope.to_json() == vector["json"]
    document = json.loads(vector["json"])
    assert document["v"] == 1
    assert vector["json"] == json.dumps(document, sort_keys=True, separators=(",", ":"))
    for item in fields(Envelope):
        value = getattr(envelope, item.name)
        if item.name == "mode":
            continue
        if value is None or value is False:
            assert item.name not in document
        elif item.name in B64_FIELDS:
            assert base64.b64decode(document[item.name], validate=True) == value
        else:
            assert document[item.name] == value


@pytest.mark.parametrize("vector", cases("envelope_vectors"))
def test_envelope_vector_from_the_spec(vector: dict[str, Any]) -> None:
    assert [k.hex() for k in ref_open_envelope(vector)] == vector["data_keys"]
    assert vector["layers"] == len(vector["data_keys"])


@pytest.mark.parametrize("vector", cases("envelope_vectors"))
def test_envelope_vector_through_keyhold(vector: dict[str, Any]) -> None:
    world = World.from_vectors()
    customer_key = b(one("customer_key_vectors", "customer-key")["customer_key"]) if vector["mode"] == SSE_C else None
    envelope = Envelope.from_json(vector["json"])
    opened = world.envelopes.open(CTX, vector["bucket"], vector["key"], envelope, customer_key)
    assert [k.hex() for k in opened] == vector["data_keys"]


@pytest.mark.parametrize("vector", cases("envelope_json_refused"))
def test_envelope_json_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown envelope version"):
        Envelope.from_json(vector["json"])


# --- the worked example -------------------------------------------------------------------------------------


def blocks(doc: str, kind: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split(f"```{kind}\n")[1:]]


def text_blocks_hex(doc: str) -> list[str]:
    """For each ```text block of a spec page: its hex tokens joined."""
    hex_digits = set("0123456789abcdef")
    return ["".join(t for t in block.split() if set(t) <= hex_digits) for block in blocks(doc, "text")]


def test_worked_example_in_the_spec_is_the_vector() -> None:
    generation = one("generation_key_vectors", "generation-key")
    sealed = one("vectors", "sse-s3")
    customer = one("customer_key_vectors", "customer-key")
    hex_blocks = text_blocks_hex(PAGE)
    for value in (
        generation["aad"],
        generation["wrapped"],
        sealed["aad"],
        sealed["sealed"],
        customer["kek_prk"],
        customer["kek"],
        customer["check"],
    ):
        assert value in hex_blocks, f"{PAGE}: the worked example is not the vectors'"
    assert one("envelope_vectors", "envelope-sse-s3")["json"] in [x.strip() for x in blocks(PAGE, "json")]
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    for value in (
        generation["root_key"],
        generation["key_id"],
        generation["generation_key"],
        sealed["data_key"],
        sealed["random"],
        sealed["sealed"][26:90],
        sealed["sealed"][90:],
        customer["customer_key"],
        customer["customer_key_base64"],
        customer["customer_key_md5_base64"],
        customer["salt"],
    ):
        assert value in text, f"{PAGE}: {value} is not in the worked example"


# --- properties of sealing ----------------------------------------------------------------------------------

keys32 = st.binary(min_size=32, max_size=32)
names = st.lists(st.binary(max_size=40), max_size=4)


@settings(max_examples=100, deadline=None)
@given(kek=keys32, data_key=keys32, purpose=st.binary(max_size=20), bindings=names)
def test_seal_open_round_trip(kek: bytes, data_key: bytes, purpose: bytes, bindings: list[bytes]) -> None:
    sealed = ok.DataKeySealer(kek).seal(data_key, purpose, *bindings)
    assert len(sealed) == 61
    assert sealed[0] == 1
    assert ok.DataKeySealer(kek).open(sealed, purpose, *bindings) == data_key
    assert ref_open(kek, sealed, purpose, bindings) == data_key
    assert ref_seal(kek, sealed[1:13], data_key, purpose, bindings) == sealed


@settings(max_examples=200, deadline=None)
@given(kek=keys32, data_key=keys32, index=st.integers(min_value=0, max_value=60), mask=st.integers(1, 255))
def test_any_single_byte_change_fails(kek: bytes, data_key: bytes, index: int, mask: int) -> None:
    where = (b"example-bucket", b"photos/cat.jpg")
    sealed = bytearray(ok.DataKeySealer(kek).seal(data_key, b"sse-s3", *where))
    sealed[index] ^= mask
    with pytest.raises(InvalidCiphertext):
        ok.DataKeySealer(kek).open(bytes(sealed), b"sse-s3", *where)
    assert ref_open(kek, bytes(sealed), b"sse-s3", list(where)) is None


def test_every_byte_and_bit_is_checked() -> None:
    kek, data_key = os.urandom(32), os.urandom(32)
    sealed = ok.DataKeySealer(kek).seal(data_key, b"sse-c", b"b", b"k")
    for index in range(len(sealed)):
        for bit in range(8):
            changed = bytearray(sealed)
            changed[index] ^= 1 << bit
            with pytest.raises(InvalidCiphertext):
                ok.DataKeySealer(kek).open(bytes(changed), b"sse-c", b"b", b"k")
    for cut in range(len(sealed)):
        with pytest.raises(InvalidCiphertext):
            ok.DataKeySealer(kek).open(sealed[:cut], b"sse-c", b"b", b"k")


@settings(max_examples=100, deadline=None)
@given(kek=keys32, purpose=st.binary(max_size=12), other_purpose=st.binary(max_size=12), bindings=names, other=names)
def test_other_purpose_or_bindings_fail(
    kek: bytes, purpose: bytes, other_purpose: bytes, bindings: list[bytes], other: list[bytes]
) -> None:
    assume((purpose, bindings) != (other_purpose, other))
    sealed = ok.DataKeySealer(kek).seal(bytes(32), purpose, *bindings)
    with pytest.raises(InvalidCiphertext):
        ok.DataKeySealer(kek).open(sealed, other_purpose, *other)


@settings(max_examples=50, deadline=None)
@given(kek=keys32, other_kek=keys32, data_key=keys32)
def test_another_kek_fails(kek: bytes, other_kek: bytes, data_key: bytes) -> None:
    assume(kek != other_kek)
    sealed = ok.DataKeySealer(kek).seal(data_key, b"sse-s3", b"b", b"k")
    with pytest.raises(InvalidCiphertext):
        ok.DataKeySealer(other_kek).open(sealed, b"sse-s3", b"b", b"k")


def test_fresh_nonce_per_seal() -> None:
    sealer = ok.DataKeySealer(bytes(32))
    nonces = {sealer.seal(bytes(32), b"sse-s3", b"b", b"k")[1:13] for _ in range(200)}
    assert len(nonces) == 200


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_only_32_byte_data_keys_are_sealed(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ok.DataKeySealer(bytes(32)).seal(bytes(size), b"sse-s3")


@pytest.mark.parametrize(("key", "salt"), [(bytes(31), bytes(32)), (bytes(32), bytes(16)), (b"", b"")])
def test_derivations_need_32_byte_keys_and_salts(key: bytes, salt: bytes) -> None:
    for derive in (ok.derive_object_key, ok.customer_kek, ok.customer_key_check):
        with pytest.raises(ValueError, match="32-byte"):
            derive(key, salt)


def test_random_source_is_checked() -> None:
    with pytest.raises(ValueError, match="too few"):
        ok.new_salt(lambda n: bytes(n - 1))
    with pytest.raises(ValueError, match="too few"):
        ok.new_data_key(lambda n: bytes(n - 1))
    with pytest.raises(ValueError, match="too few"):
        ok.DataKeySealer(bytes(32), random=lambda n: bytes(n - 1)).seal(bytes(32), b"sse-s3")


@settings(max_examples=100, deadline=None)
@given(customer_key=keys32, other_key=keys32, salt=keys32, other_salt=keys32)
def test_customer_key_matches(customer_key: bytes, other_key: bytes, salt: bytes, other_salt: bytes) -> None:
    check = ok.customer_key_check(customer_key, salt)
    assert check == ref_check(customer_key, salt)
    assert ok.customer_key_matches(customer_key, salt, check) is True
    assert ok.customer_key_matches(customer_key, salt, check[:-1]) is False
    assert ok.customer_key_matches(customer_key, salt, b"") is False
    if other_key != customer_key:
        assert ok.customer_key_matches(other_key, salt, check) is False
    if other_salt != salt:
        assert ok.customer_key_matches(customer_key, other_salt, check) is False


def test_the_check_is_not_the_kek_or_the_md5() -> None:
    customer = one("customer_key_vectors", "customer-key")
    customer_key, salt = b(customer["customer_key"]), b(customer["salt"])
    check = ok.customer_key_check(customer_key, salt)
    assert check not in (
        b(customer["kek"]),
        customer_key,
        hashlib.md5(customer_key, usedforsecurity=False).digest(),
        hashlib.sha256(customer_key).digest(),
    )


# --- the stored JSON ----------------------------------------------------------------------------------------

blobs = st.binary(min_size=1, max_size=120)
texts = st.text(max_size=40)
contexts = st.dictionaries(texts, texts, max_size=4)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    mode = draw(st.sampled_from([*MODES, "bucket-key"]))
    if mode == NONE:
        return Envelope()
    if mode == SSE_S3:
        return Envelope(mode=mode, s3_key_id=str(draw(st.uuids())), s3_wrapped=draw(blobs))
    if mode == SSE_C:
        return Envelope(mode=mode, salt=draw(blobs), customer_key_check=draw(blobs), sealed_key=draw(blobs))
    kms = {"kms_key_arn": draw(texts), "context": draw(contexts), "kms_wrapped": draw(blobs)}
    if mode == "bucket-key":
        return Envelope(mode=SSE_KMS, bucket_key=True, salt=draw(blobs), sealed_key=draw(blobs), **kms)
    if mode == SSE_KMS:
        return Envelope(mode=mode, **kms)
    return Envelope(mode=mode, s3_key_id=str(draw(st.uuids())), s3_wrapped=draw(blobs), **kms)


@settings(max_examples=200, deadline=None)
@given(envelope=envelopes())
def test_envelope_json_round_trip(envelope: Envelope) -> None:
    text = envelope.to_json()
    assert text.isascii()
    assert Envelope.from_json(text) == envelope
    assert Envelope.from_json(text).to_json() == text
    document = json.loads(text)
    assert document["v"] == 1
    assert document["mode"] == envelope.mode
    assert all(value is not None and value is not False for value in document.values())


versions = st.one_of(
    st.integers().filter(lambda v: v != 1),
    st.floats(allow_nan=False).filter(lambda v: v != 1),
    st.text(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=100, deadline=None)
@given(envelope=envelopes(), version=versions)
def test_envelope_other_versions_are_refused(envelope: Envelope, version: object) -> None:
    document = json.loads(envelope.to_json())
    document["v"] = version
    with pytest.raises(ValueError, match="unknown envelope version"):
        Envelope.from_json(json.dumps(document))
    del document["v"]
    with pytest.raises(ValueError, match="unknown envelope version"):
        Envelope.from_json(json.dumps(document))


def test_envelope_unset_fields_are_left_out() -> None:
    assert Envelope().to_json() == '{"mode":"none","v":1}'
    assert Envelope.from_json('{"mode":"none","v":1}') == Envelope()
    assert Envelope.from_json('{"v":1}') == Envelope()  # every field has a default
    assert Envelope.from_json('{"mode":"none","v":1,"added_later":true}') == Envelope()  # unknown fields: ignored


# --- the domain code against the page: Envelopes, SseS3Keyring, BucketKeys ----------------------------------

BUCKET, KEY = "example-bucket", "photos/cat.jpg"
OTHER_BUCKET, OTHER_KEY = "other-bucket", "photos/dog.jpg"
CTX = RequestContext(
    principal=Principal("000000000000", "arn:aws:iam::000000000000:root", "000000000000", None, "AKIAIOSFODNN7EXAMPLE"),
    region="us-east-1",
    request_id="test",
)


class FakeKms:
    """The ServiceKmsClient calls Envelopes and BucketKeys make, over real v1 KMS blobs under one material key.

    Like KMS: Decrypt fails if the context differs (it is in the blob's AAD) and if KeyId names another key."""

    def __init__(self, kms: Mapping[str, Any]) -> None:
        self._material = kms_blob.MaterialKey(b(kms["material_key"]))
        self._key_id, self._material_id = b(kms["key_id"]), b(kms["material_id"])
        self.arn = f"arn:aws:kms:us-east-1:000000000000:key/{uuid.UUID(bytes=self._key_id)}"
        self.decrypts = 0

    def on_behalf_of(self, ctx: RequestContext) -> RequestContext:
        return ctx

    def _resolve(self, key_ref: str) -> None:
        if key_ref not in (self.arn, "alias/aws/s3"):
            raise NotFound(f"Key '{key_ref}' does not exist")

    def generate_data_key(
        self, ctx: RequestContext, key_ref: str, context: Mapping[str, str], number_of_bytes: int = 32
    ) -> tuple[bytes, SimpleNamespace]:
        plaintext = os.urandom(number_of_bytes)
        return plaintext, self.encrypt(ctx, key_ref, plaintext, context)

    def encrypt(
        self, ctx: RequestContext, key_ref: str, plaintext: bytes, context: Mapping[str, str]
    ) -> SimpleNamespace:
        self._resolve(key_ref)
        blob = kms_blob.seal(self._material, self._key_id, self._material_id, plaintext, encode_context(context))
        return SimpleNamespace(ciphertext=blob, key=SimpleNamespace(arn=self.arn))

    def decrypt(
        self, ctx: RequestContext, blob: bytes, context: Mapping[str, str], key_ref: str | None = None
    ) -> SimpleNamespace:
        self.decrypts += 1
        if key_ref is not None:
            self._resolve(key_ref)
        try:
            plaintext = kms_blob.open_blob(self._material, blob, encode_context(context))
        except InvalidCiphertext:
            raise InvalidInput("InvalidCiphertextException") from None
        return SimpleNamespace(plaintext=plaintext, key=SimpleNamespace(arn=self.arn))


class FakeRepo:
    def __init__(self, keys: Sequence[SseS3Key] = ()) -> None:
        self.keys = list(keys)

    def sse_s3_keys(self) -> list[SseS3Key]:
        return list(self.keys)

    def add_sse_s3_key(self, key: SseS3Key) -> None:
        self.keys.append(key)


@dataclass
class World:
    kms: FakeKms
    repo: FakeRepo
    root: RootKey
    envelopes: Envelopes

    @classmethod
    def from_vectors(cls) -> "World":
        """The generation key of the vectors (created at time 0, the clock at 1000 s) and their KMS material."""
        generation = one("generation_key_vectors", "generation-key")
        repo = FakeRepo([SseS3Key(generation["key_id"], 0.0, b(generation["wrapped"]))])
        kms = FakeKms(one("envelope_vectors", "envelope-sse-kms")["kms"])
        return cls.over(kms, repo, RootKey(b(generation["root_key"])))

    @classmethod
    def over(cls, kms: FakeKms, repo: FakeRepo, root: RootKey) -> "World":
        keyring = SseS3Keyring(repo, root, clock=lambda: 1000.0)  # type: ignore[arg-type]
        return cls(kms, repo, root, Envelopes(kms, keyring, BucketKeys(kms)))  # type: ignore[arg-type]

    def reader(self) -> Envelopes:
        """Another Envelopes over the same stores, with nothing cached (a fresh process)."""
        return World.over(self.kms, self.repo, self.root).envelopes

    def generation_key(self, key_id: str) -> bytes:
        wrapped = next(k.wrapped for k in self.repo.keys if k.key_id == key_id)
        return self.root.unwrap(wrapped, b"sse-s3-key", key_id.encode())


CUSTOMER_KEY = bytes(range(100, 132))
OTHER_CUSTOMER_KEY = bytes(range(200, 232))
SPECS = {
    "none": SseSpec(),
    "sse-s3": SseSpec(mode=SSE_S3),
    "sse-kms": SseSpec(mode=SSE_KMS, context={"project": "kat"}),
    "sse-kms-bucket-key": SseSpec(mode=SSE_KMS, bucket_key=True, context={"project": "kat"}),
    "dsse": SseSpec(mode=SSE_KMS_DSSE, context={"aws:s3:arn": "arn:aws:s3:::elsewhere/x", "project": "kat"}),
    "sse-c": SseSpec(mode=SSE_C, customer_key=CUSTOMER_KEY),
}
# The page's table: the fields each mode sets (besides "v" and "mode"), and the number of data keys.
TABLE = {
    "none": (set(), 0),
    "sse-s3": ({"s3_key_id", "s3_wrapped"}, 1),
    "sse-kms": ({"kms_key_arn", "context", "kms_wrapped"}, 1),
    "sse-kms-bucket-key": ({"kms_key_arn", "context", "kms_wrapped", "bucket_key", "salt", "sealed_key"}, 1),
    "dsse": ({"kms_key_arn", "context", "kms_wrapped", "s3_key_id", "s3_wrapped"}, 2),
    "sse-c": ({"salt", "customer_key_check", "sealed_key"}, 1),
}


def customer_key_for(envelope: Envelope) -> bytes | None:
    return CUSTOMER_KEY if envelope.mode == SSE_C else None


@pytest.mark.parametrize("name", list(SPECS))
def test_envelopes_seal_as_the_page_says(name: str) -> None:
    world = World.from_vectors()
    opened = world.envelopes.seal(CTX, BUCKET, KEY, SPECS[name])
    envelope, data_keys = opened.envelope, opened.data_keys
    document = json.loads(envelope.to_json())
    assert document.pop("v") == 1
    assert document.pop("mode") == SPECS[name].mode
    expected_fields, layers = TABLE[name]
    assert set(document) == expected_fields
    assert len(data_keys) == layers
    assert all(len(k) == 32 for k in data_keys)
    where = [BUCKET.encode(), KEY.encode()]
    object_arn, bucket_arn = f"arn:aws:s3:::{BUCKET}/{KEY}", f"arn:aws:s3:::{BUCKET}"
    material = b(one("envelope_vectors", "envelope-sse-kms")["kms"]["material_key"])
    # Every sealed value opens, from the page alone, to the data keys the writer got back.
    if envelope.mode in (SSE_KMS, SSE_KMS_DSSE):
        assert envelope.kms_key_arn == world.kms.arn
        assert envelope.kms_wrapped is not None
        assert envelope.context is not None
        if envelope.bucket_key:
            assert envelope.context == {"project": "kat", "aws:s3:arn": bucket_arn}
            assert envelope.salt is not None
            assert envelope.sealed_key is not None
            bucket_key = ref_open_blob(material, envelope.kms_wrapped, ref_context(envelope.context))
            kek = ref_hkdf(bucket_key, envelope.salt, _BUCKET_INFO)
            assert ref_open(kek, envelope.sealed_key, b"bucket-key", where) == data_keys[0]
        else:
            assert envelope.context == {"project": "kat", "aws:s3:arn": object_arn}  # the caller's ARN pair loses
            assert ref_open_blob(material, envelope.kms_wrapped, ref_context(envelope.context)) == data_keys[0]
    if envelope.mode in (SSE_S3, SSE_KMS_DSSE):
        assert envelope.s3_key_id == one("generation_key_vectors", "generation-key")["key_id"]
        assert envelope.s3_wrapped is not None
        purpose = b"sse-s3" if envelope.mode == SSE_S3 else b"dsse-outer"
        assert ref_open(world.generation_key(envelope.s3_key_id), envelope.s3_wrapped, purpose, where) == data_keys[-1]
    if envelope.mode == SSE_C:
        assert envelope.salt is not None
        assert envelope.customer_key_check is not None
        assert envelope.sealed_key is not None
        assert envelope.customer_key_check == ref_check(CUSTOMER_KEY, envelope.salt)
        kek = ref_hkdf(CUSTOMER_KEY, envelope.salt, _SSE_C_INFO)
        assert ref_open(kek, envelope.sealed_key, b"sse-c", where) == data_keys[0]
    if len(data_keys) == 2:
        assert data_keys[0] != data_keys[1]
    # ... and the stored JSON reads back, and opens to the same data keys (also without any cache).
    stored = Envelope.from_json(envelope.to_json())
    assert stored == envelope
    assert world.envelopes.open(CTX, BUCKET, KEY, stored, customer_key_for(envelope)) == data_keys
    assert world.reader().open(CTX, BUCKET, KEY, stored, customer_key_for(envelope)) == data_keys


@pytest.mark.parametrize("name", [n for n in SPECS if n != "none"])
def test_each_write_has_its_own_data_keys_and_salts(name: str) -> None:
    world = World.from_vectors()
    first = world.envelopes.seal(CTX, BUCKET, KEY, SPECS[name])
    second = world.envelopes.seal(CTX, BUCKET, KEY, SPECS[name])
    assert set(first.data_keys).isdisjoint(second.data_keys)
    if first.envelope.salt is not None:
        assert first.envelope.salt != second.envelope.salt


def test_update_object_encryption_keeps_the_data_key() -> None:
    world = World.from_vectors()
    (data_key,) = world.envelopes.seal(CTX, BUCKET, KEY, SPECS["sse-s3"]).data_keys
    for spec in (SPECS["sse-kms"], SPECS["sse-kms-bucket-key"]):
        opened = world.envelopes.seal(CTX, BUCKET, KEY, spec, data_key=data_key)
        assert opened.data_keys == (data_key,)
        assert world.reader().open(CTX, BUCKET, KEY, opened.envelope, None) == (data_key,)


@pytest.mark.parametrize("name", ["sse-s3", "sse-kms-bucket-key", "dsse", "sse-c"])
@pytest.mark.parametrize(("bucket", "key"), [(OTHER_BUCKET, KEY), (BUCKET, OTHER_KEY), (KEY, BUCKET)])
def test_an_envelope_moved_to_another_object_fails(name: str, bucket: str, key: str) -> None:
    world = World.from_vectors()
    envelope = world.envelopes.seal(CTX, BUCKET, KEY, SPECS[name]).envelope
    with pytest.raises(InvalidCiphertext):
        world.reader().open(CTX, bucket, key, envelope, customer_key_for(envelope))


def test_an_sse_kms_envelope_moved_to_another_object_fails() -> None:
    """The reader compares the stored context's aws:s3:arn with the object's ARN before asking KMS."""
    world = World.from_vectors()
    envelope = world.envelopes.seal(CTX, BUCKET, KEY, SPECS["sse-kms"]).envelope
    with pytest.raises(InvalidCiphertext):
        world.reader().open(CTX, BUCKET, OTHER_KEY, envelope, None)


def test_a_changed_context_fails_even_with_the_bucket_key_cached() -> None:
    """The read cache is keyed on the context and key ARN too, so a changed context goes to KMS, which refuses."""
    world = World.from_vectors()
    envelope = world.envelopes.seal(CTX, BUCKET, KEY, SPECS["sse-kms-bucket-key"]).envelope
    assert envelope.context is not None
    changed = replace(envelope, context={**envelope.context, "project": "other"})
    with pytest.raises(KmsFailure):
        world.envelopes.open(CTX, BUCKET, KEY, changed, None)  # the writer's cache holds the bucket key


def test_a_wrong_customer_key_is_403_before_any_decryption(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.from_vectors()
    envelope = world.envelopes.seal(CTX, BUCKET, KEY, SPECS["sse-c"]).envelope

    def no_derivation(*args: object) -> None:
        raise AssertionError("a KEK was derived from a key that failed the check")

    monkeypatch.setattr(envelopes_module, "customer_kek", no_derivation)
    with pytest.raises(ObjectAccessDenied, match="correct secret key"):
        world.envelopes.open(CTX, BUCKET, KEY, envelope, OTHER_CUSTOMER_KEY)
    with pytest.raises(ObjectAccessDenied):
        world.envelopes.check_customer_key(envelope, OTHER_CUSTOMER_KEY)
    with pytest.raises(InvalidRequest):  # no key at all: 400
        world.envelopes.check_customer_key(envelope, None)
    world.envelopes.check_customer_key(envelope, CUSTOMER_KEY)


def test_a_customer_key_for_an_object_without_sse_c_is_refused() -> None:
    world = World.from_vectors()
    envelope = world.envelopes.seal(CTX, BUCKET, KEY, SPECS["sse-s3"]).envelope
    with pytest.raises(InvalidRequest):
        world.envelopes.open(CTX, BUCKET, KEY, envelope, CUSTOMER_KEY)


# The page's table of changes to a stored envelope. Outcome: an exception type; "stream" (the envelope opens, to
# keys with which the object's stream fails); "unnoticed" (it opens to the right keys); "plain" (no data keys).
Change = Callable[[Envelope, Mapping[str, Envelope]], Envelope]


def _flip(value: bytes | None) -> bytes:
    assert value is not None
    return bytes([value[0] ^ 1]) + value[1:]


def _context(envelope: Envelope) -> dict[str, str]:
    return {**(envelope.context or {}), "project": "other"}


CHANGES: list[tuple[str, str, Change, Any]] = [
    ("s3-key-id-unknown", "sse-s3", lambda e, _: replace(e, s3_key_id=str(uuid.uuid4())), InvalidCiphertext),
    ("s3-key-id-other-generation", "sse-s3", lambda e, o: replace(e, s3_key_id="second"), InvalidCiphertext),
    (
        "s3-wrapped-from-other-object",
        "sse-s3",
        lambda e, o: replace(e, s3_wrapped=o["sse-s3"].s3_wrapped),
        InvalidCiphertext,
    ),
    ("s3-wrapped-from-dsse", "sse-s3", lambda e, o: replace(e, s3_wrapped=o["dsse"].s3_wrapped), InvalidCiphertext),
    ("dsse-outer-from-sse-s3", "dsse", lambda e, o: replace(e, s3_wrapped=o["sse-s3"].s3_wrapped), InvalidCiphertext),
    (
        "sealed-key-sse-c-to-bucket-key",
        "sse-kms-bucket-key",
        lambda e, o: replace(e, sealed_key=o["sse-c"].sealed_key),
        InvalidCiphertext,
    ),
    ("sse-c-salt", "sse-c", lambda e, _: replace(e, salt=os.urandom(32)), ObjectAccessDenied),
    (
        "sse-c-check",
        "sse-c",
        lambda e, _: replace(e, customer_key_check=_flip(e.customer_key_check)),
        ObjectAccessDenied,
    ),
    ("sse-c-sealed-key", "sse-c", lambda e, _: replace(e, sealed_key=_flip(e.sealed_key)), InvalidCiphertext),
    ("bucket-key-salt", "sse-kms-bucket-key", lambda e, _: replace(e, salt=os.urandom(32)), InvalidCiphertext),
    ("bucket-key-context", "sse-kms-bucket-key", lambda e, _: replace(e, context=_context(e)), KmsFailure),
    (
        "bucket-key-arn",
        "sse-kms-bucket-key",
        lambda e, _: replace(e, kms_key_arn="arn:aws:kms:us-east-1:0:key/x"),
        KmsFailure,
    ),
    ("bucket-key-arn-removed", "sse-kms-bucket-key", lambda e, _: replace(e, kms_key_arn=None), InvalidCiphertext),
    ("bucket-key-flag-removed", "sse-kms-bucket-key", lambda e, _: replace(e, bucket_key=False), InvalidCiphertext),
    ("bucket-key-flag-added", "sse-kms", lambda e, _: replace(e, bucket_key=True), InvalidCiphertext),
    ("kms-context", "sse-kms", lambda e, _: replace(e, context=_context(e)), KmsFailure),
    ("kms-context-removed", "sse-kms", lambda e, _: replace(e, context=None), InvalidCiphertext),
    ("kms-arn", "sse-kms", lambda e, _: replace(e, kms_key_arn="arn:aws:kms:us-east-1:0:key/x"), KmsFailure),
    ("kms-arn-removed", "sse-kms", lambda e, _: replace(e, kms_key_arn=None), InvalidCiphertext),
    (
        "kms-wrapped-from-other-object",
        "sse-kms",
        lambda e, o: replace(e, kms_wrapped=o["sse-kms"].kms_wrapped),
        KmsFailure,
    ),
    ("dsse-context", "dsse", lambda e, _: replace(e, context=_context(e)), KmsFailure),
    ("mode-sse-s3-to-kms", "sse-s3", lambda e, _: replace(e, mode=SSE_KMS), InvalidCiphertext),
    ("mode-sse-s3-to-dsse", "sse-s3", lambda e, _: replace(e, mode=SSE_KMS_DSSE), InvalidCiphertext),
    ("mode-sse-s3-to-sse-c", "sse-s3", lambda e, _: replace(e, mode=SSE_C), InvalidCiphertext),
    ("mode-kms-to-sse-s3", "sse-kms", lambda e, _: replace(e, mode=SSE_S3), InvalidCiphertext),
    ("mode-kms-to-dsse", "sse-kms", lambda e, _: replace(e, mode=SSE_KMS_DSSE), InvalidCiphertext),
    ("mode-dsse-to-kms", "dsse", lambda e, _: replace(e, mode=SSE_KMS), "stream"),
    ("mode-dsse-to-sse-s3", "dsse", lambda e, _: replace(e, mode=SSE_S3), InvalidCiphertext),
    ("mode-sse-c-to-sse-s3", "sse-c", lambda e, _: replace(e, mode=SSE_S3), InvalidCiphertext),
    ("mode-sse-c-to-kms", "sse-c", lambda e, _: replace(e, mode=SSE_KMS), InvalidCiphertext),
    ("mode-sse-s3-to-none", "sse-s3", lambda e, _: replace(e, mode=NONE), "plain"),
]


@pytest.mark.parametrize(("name", "mode", "change", "outcome"), [pytest.param(*c, id=c[0]) for c in CHANGES])
def test_a_changed_envelope(name: str, mode: str, change: Change, outcome: Any) -> None:
    world = World.from_vectors()
    # an older second generation, which an envelope may name instead of its own
    world.repo.add_sse_s3_key(SseS3Key("second", -1.0, world.root.wrap(os.urandom(32), b"sse-s3-key", b"second")))
    sealed = world.envelopes.seal(CTX, BUCKET, KEY, SPECS[mode])
    others = {n: world.envelopes.seal(CTX, OTHER_BUCKET, OTHER_KEY, s).envelope for n, s in SPECS.items()}
    changed = change(sealed.envelope, others)
    customer_key = CUSTOMER_KEY if changed.mode == SSE_C else None  # what a client reading that mode sends
    plaintext = b"object data"
    stored = stream.encrypt(list(sealed.data_keys), 0, plaintext) if sealed.data_keys else plaintext
    reader = world.reader()  # nothing cached: KMS is asked
    if isinstance(outcome, type):
        with pytest.raises(outcome):
            reader.open(CTX, BUCKET, KEY, changed, customer_key)
        return
    data_keys = reader.open(CTX, BUCKET, KEY, changed, customer_key)
    if outcome == "unnoticed":
        assert data_keys == sealed.data_keys
    elif outcome == "plain":
        assert data_keys == ()
        assert stored[:4] == b"KHOS"  # what a reader would now serve as the object: ciphertext, not plaintext
    else:
        assert outcome == "stream"
        assert data_keys != sealed.data_keys
        with pytest.raises(InvalidCiphertext):
            stream.decrypt(list(data_keys), 0, stored, len(plaintext))


def test_the_page_lists_every_change_the_tests_make() -> None:
    text = (DOCS / PAGE).read_text(encoding="utf-8")
    for phrase in ("`s3_key_id`", "`salt` or `customer_key_check`", "`bucket_key` removed", "`mode` set to `none`"):
        assert phrase in text


# --- SSE-S3 generations ---------------------------------------------------------------------------------------


def test_generations_are_wrapped_under_the_root_key_and_rotate_every_90_days() -> None:
    root_bytes = os.urandom(32)
    now = [1_000_000.0]
    repo = FakeRepo()
    keyring = SseS3Keyring(repo, RootKey(root_bytes), clock=lambda: now[0])  # type: ignore[arg-type]
    first_id, first = keyring.current()
    (stored,) = repo.keys
    assert stored.key_id == first_id == str(uuid.UUID(first_id))
    assert stored.created_at == now[0]
    assert len(stored.wrapped) == 61
    material = ref_unwrap(root_bytes, stored.wrapped, b"sse-s3-key", [first_id.encode()])
    assert material is not None
    assert len(material) == 32
    sealed = first.seal(bytes(32), b"sse-s3", b"b", b"k")
    assert ref_open(material, sealed, b"sse-s3", [b"b", b"k"]) == bytes(32)

    now[0] += ROTATION_SECONDS - 1
    assert keyring.current()[0] == first_id
    now[0] += 1
    second_id, _ = keyring.current()
    assert second_id != first_id
    assert [k.key_id for k in repo.keys] == [first_id, second_id]
    assert ROTATION_SECONDS == 90 * 86400
    # the old generation stays, for the envelopes that name it, also in a keyring that starts afresh
    fresh = SseS3Keyring(repo, RootKey(root_bytes), clock=lambda: now[0])  # type: ignore[arg-type]
    assert fresh.get(first_id).open(sealed, b"sse-s3", b"b", b"k") == bytes(32)
    assert fresh.current()[0] == second_id
    with pytest.raises(KeyError):
        fresh.get(str(uuid.uuid4()))
