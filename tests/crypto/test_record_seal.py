"""The row seal of keyhold.crypto.keywrap.RootKey: a known answer computed from the specification with nothing but
hmac, hashlib and HKDF (docs/formats/root-key-wrapping.md, "Row seals"), and its properties."""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from keyhold.crypto.keywrap import MAC_SIZE, RootKey

ROOT = bytes(range(32))
FIELDS = (b'{"bucket":"photos","key":"cat.jpg"}',)
# HMAC-SHA256(HKDF-SHA256(root, salt=None, info="keyhold root mac key v1"), encode_fields("keyhold-mac-v1",
# "s3-object-row", FIELDS[0])), computed once by independent_seal() and pinned here (also in the format's page).
EXPECTED = "c883fa9215230aa78e5896287108fafd076b20a9b24f893d8ca1bf6dfdcb29dd"


def encode_fields(*fields: bytes) -> bytes:
    return struct.pack(">I", len(fields)) + b"".join(struct.pack(">I", len(f)) + f for f in fields)


def independent_seal(root: bytes, purpose: bytes, *fields: bytes) -> bytes:
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"keyhold root mac key v1").derive(root)
    return hmac.new(mac_key, encode_fields(b"keyhold-mac-v1", purpose, *fields), hashlib.sha256).digest()


def test_seal_matches_the_specification() -> None:
    seal = RootKey(ROOT).seal_record(b"s3-object-row", *FIELDS)
    assert len(seal) == MAC_SIZE
    assert seal == independent_seal(ROOT, b"s3-object-row", *FIELDS)
    assert seal.hex() == EXPECTED


@given(st.lists(st.binary(max_size=64), max_size=4), st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_change_breaks_the_seal(fields: list[bytes], index: int, bit: int) -> None:
    root = RootKey(ROOT)
    seal = root.seal_record(b"s3-object-row", *fields)
    assert root.record_sealed(seal, b"s3-object-row", *fields)
    assert not root.record_sealed(seal, b"another-purpose", *fields)
    assert not root.record_sealed(seal, b"s3-object-row", *fields, b"")
    assert not RootKey(bytes(32)).record_sealed(seal, b"s3-object-row", *fields)
    flipped = bytearray(seal)
    flipped[index % len(flipped)] ^= 1 << bit
    assert not root.record_sealed(bytes(flipped), b"s3-object-row", *fields)
    if fields and fields[0]:
        changed = [bytes([fields[0][0] ^ (1 << bit)]) + fields[0][1:], *fields[1:]]
        assert not root.record_sealed(seal, b"s3-object-row", *changed)
