"""Properties of the KMS blob, root-key wrapping and the canonical encodings, checked with hypothesis."""

import struct

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from keyhold.crypto import kms_blob
from keyhold.crypto.encoding import encode_context, encode_fields
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey

# Valid Unicode text only: lone surrogates cannot be UTF-8 encoded (see test_tamper for what happens then).
texts = st.text(st.characters(codec="utf-8"), max_size=12)
contexts = st.dictionaries(texts, texts, max_size=6)
# A two-letter alphabet makes near-collisions such as {"ab": "c"} / {"a": "bc"} common.
small_texts = st.text(alphabet="ab", max_size=3)
small_contexts = st.dictionaries(small_texts, small_texts, max_size=3)
keys = st.binary(min_size=32, max_size=32)
key_ids = st.binary(min_size=16, max_size=16)
material_ids = st.binary(min_size=32, max_size=32)
plaintexts = st.binary(max_size=512)
fields_lists = st.lists(st.binary(max_size=4), max_size=4)


def decode_context(data: bytes) -> dict[str, str]:
    """A left inverse of encode_context: its existence proves the encoding injective."""
    (count,), pos = struct.unpack_from(">I", data), 4
    out: dict[str, str] = {}
    for _ in range(count):
        pair = []
        for _ in range(2):
            (length,) = struct.unpack_from(">I", data, pos)
            pair.append(data[pos + 4 : pos + 4 + length].decode("utf-8"))
            pos += 4 + length
        out[pair[0]] = pair[1]
    assert pos == len(data)
    return out


def decode_fields(data: bytes) -> list[bytes]:
    (count,), pos = struct.unpack_from(">I", data), 4
    out = []
    for _ in range(count):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert pos == len(data)
    return out


# --- round trips ------------------------------------------------------------------------------------------


@given(key=keys, key_id=key_ids, material_id=material_ids, plaintext=plaintexts, context=contexts)
def test_blob_round_trip(
    key: bytes, key_id: bytes, material_id: bytes, plaintext: bytes, context: dict[str, str]
) -> None:
    material = kms_blob.MaterialKey(key)
    blob = kms_blob.seal(material, key_id, material_id, plaintext, encode_context(context))
    assert len(blob) == len(plaintext) + kms_blob.OVERHEAD
    header = kms_blob.read_header(blob)
    assert (header.key_id, header.material_id) == (key_id, material_id)
    reordered = dict(reversed(list(context.items())))
    assert kms_blob.open_blob(material, blob, encode_context(reordered)) == plaintext


@given(key=keys, plaintext=st.binary(max_size=64), context=contexts)
def test_blob_key_is_derived_per_blob(key: bytes, plaintext: bytes, context: dict[str, str]) -> None:
    """Each blob is sealed under HKDF(material, its own derivation nonce), never under the material itself."""
    material = kms_blob.MaterialKey(key)
    ctx = encode_context(context)
    blobs = [kms_blob.seal(material, b"\x11" * 16, b"\x22" * 32, plaintext, ctx) for _ in range(2)]
    assert blobs[0][51:83] != blobs[1][51:83]
    assert blobs[0][83:95] != blobs[1][83:95]
    for blob in blobs:
        header, body = blob[: kms_blob.HEADER_SIZE], blob[kms_blob.HEADER_SIZE :]
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=blob[51:83], info=b"keyhold kms-blob v1")
        assert AESGCM(derived.derive(key)).decrypt(blob[83:95], body, header + ctx) == plaintext
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(blob[83:95], body, header + ctx)


@given(key=keys, secret=st.binary(max_size=64), purpose=st.binary(max_size=24), bindings=fields_lists)
def test_wrap_round_trip(key: bytes, secret: bytes, purpose: bytes, bindings: list[bytes]) -> None:
    root = RootKey(key)
    wrapped = root.wrap(secret, purpose, *bindings)
    assert len(wrapped) == 1 + 12 + len(secret) + 16
    assert root.unwrap(wrapped, purpose, *bindings) == secret


@given(key=keys)
def test_check_value_round_trip(key: bytes) -> None:
    assert RootKey(key).matches(RootKey(key).check_value())


# --- any single bit flipped fails -------------------------------------------------------------------------


@given(plaintext=st.binary(max_size=48), context=contexts, data=st.data())
def test_blob_single_bit_flip_fails(plaintext: bytes, context: dict[str, str], data: st.DataObject) -> None:
    material = kms_blob.MaterialKey(bytes(range(32)))
    ctx = encode_context(context)
    blob = kms_blob.seal(material, b"\x11" * 16, b"\x22" * 32, plaintext, ctx)
    bit = data.draw(st.integers(0, len(blob) * 8 - 1), label="bit")
    tampered = bytearray(blob)
    tampered[bit // 8] ^= 1 << (bit % 8)
    try:
        kms_blob.open_blob(material, bytes(tampered), ctx)
    except InvalidCiphertext:
        return
    raise AssertionError(f"a blob with bit {bit} flipped decrypted")


@given(secret=st.binary(max_size=48), bindings=fields_lists, data=st.data())
def test_wrapped_single_bit_flip_fails(secret: bytes, bindings: list[bytes], data: st.DataObject) -> None:
    root = RootKey(bytes(range(32)))
    wrapped = root.wrap(secret, b"kms-key-material", *bindings)
    bit = data.draw(st.integers(0, len(wrapped) * 8 - 1), label="bit")
    tampered = bytearray(wrapped)
    tampered[bit // 8] ^= 1 << (bit % 8)
    try:
        root.unwrap(bytes(tampered), b"kms-key-material", *bindings)
    except InvalidCiphertext:
        return
    raise AssertionError(f"a wrapped value with bit {bit} flipped unwrapped")


@given(plaintext=st.binary(max_size=48), context=contexts, data=st.data())
def test_blob_single_bit_flip_in_context_encoding_fails(
    plaintext: bytes, context: dict[str, str], data: st.DataObject
) -> None:
    material = kms_blob.MaterialKey(bytes(range(32)))
    ctx = encode_context(context)
    blob = kms_blob.seal(material, b"\x11" * 16, b"\x22" * 32, plaintext, ctx)
    bit = data.draw(st.integers(0, len(ctx) * 8 - 1), label="bit")
    tampered = bytearray(ctx)
    tampered[bit // 8] ^= 1 << (bit % 8)
    try:
        kms_blob.open_blob(material, blob, bytes(tampered))
    except InvalidCiphertext:
        return
    raise AssertionError(f"a blob decrypted under a context encoding with bit {bit} flipped")


# --- the encodings ----------------------------------------------------------------------------------------


@given(a=small_contexts, b=small_contexts)
def test_context_encoding_injective_small_alphabet(a: dict[str, str], b: dict[str, str]) -> None:
    assert (encode_context(a) == encode_context(b)) == (a == b)


@given(a=contexts, b=contexts)
def test_context_encoding_injective(a: dict[str, str], b: dict[str, str]) -> None:
    assert (encode_context(a) == encode_context(b)) == (a == b)


@given(context=contexts)
def test_context_encoding_decodes_back(context: dict[str, str]) -> None:
    assert decode_context(encode_context(context)) == context


@given(context=contexts, data=st.data())
def test_context_pair_order_irrelevant(context: dict[str, str], data: st.DataObject) -> None:
    items = data.draw(st.permutations(list(context.items())), label="order")
    assert encode_context(dict(items)) == encode_context(context)


@given(context=contexts)
def test_context_pairs_sorted_by_utf8_key_bytes(context: dict[str, str]) -> None:
    decoded_keys = list(decode_context(encode_context(context)))
    encoded_keys = [k.encode("utf-8") for k in decoded_keys]
    assert encoded_keys == sorted(encoded_keys)


@settings(max_examples=300)
@given(a=fields_lists, b=fields_lists)
def test_fields_encoding_injective(a: list[bytes], b: list[bytes]) -> None:
    assert (encode_fields(*a) == encode_fields(*b)) == (a == b)


@given(fields=st.lists(st.binary(max_size=16), max_size=6))
def test_fields_encoding_decodes_back(fields: list[bytes]) -> None:
    assert decode_fields(encode_fields(*fields)) == fields
