"""Every way a blob or a wrapped secret can be wrong ends in the one opaque InvalidCiphertext."""

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto import kms_blob
from keyhold.crypto.aead import Aes256Gcm
from keyhold.crypto.encoding import encode_context
from keyhold.crypto.errors import CryptoError, InvalidCiphertext
from keyhold.crypto.keywrap import RootKey

KEY_ID = bytes.fromhex("1234abcd12ab34cd56ef1234567890ab")
MATERIAL_A = bytes(range(32))
MATERIAL_B = bytes(range(1, 33))
KEY_A = bytes(range(100, 132))
KEY_B = bytes(range(200, 232))
CONTEXT = encode_context({"purpose": "tamper"})
ARN = b"arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MATERIAL_HEX = MATERIAL_A.hex().encode()
MaterialKey = kms_blob.MaterialKey


def blob_key(material: bytes, derivation_nonce: bytes) -> bytes:
    """The per-blob key, straight from docs/formats/kms-ciphertext.md."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=derivation_nonce, info=b"keyhold kms-blob v1")
    return hkdf.derive(material)


def reseal(header: bytes, plaintext: bytes, key: bytes) -> bytes:
    """A blob with the given header, its tag computed under ``key`` over that header (plain AESGCM)."""
    return header + AESGCM(key).encrypt(header[83:95], plaintext, header + CONTEXT)


def small_blob() -> bytes:
    return kms_blob.seal(MaterialKey(KEY_A), KEY_ID, MATERIAL_A, b"hello", CONTEXT)


def wrapped_material() -> bytes:
    return RootKey(KEY_A).wrap(KEY_B, b"kms-key-material", ARN, MATERIAL_HEX)


# --- truncation and extension -----------------------------------------------------------------------------


def test_blob_truncated_at_every_length() -> None:
    blob = small_blob()
    assert len(blob) == 5 + kms_blob.OVERHEAD
    for length in range(len(blob)):
        with pytest.raises(InvalidCiphertext):
            kms_blob.open_blob(MaterialKey(KEY_A), blob[:length], CONTEXT)
        if length < kms_blob.OVERHEAD:
            with pytest.raises(InvalidCiphertext):
                kms_blob.read_header(blob[:length])
    assert kms_blob.open_blob(MaterialKey(KEY_A), blob, CONTEXT) == b"hello"


def test_blob_prefix_cut_at_every_length() -> None:
    blob = small_blob()
    for start in range(1, len(blob) + 1):
        with pytest.raises(InvalidCiphertext):
            kms_blob.open_blob(MaterialKey(KEY_A), blob[start:], CONTEXT)


def test_blob_extended() -> None:
    blob = small_blob()
    for extra in (b"\x00", b"\x00" * 16, blob[-16:]):
        with pytest.raises(InvalidCiphertext):
            kms_blob.open_blob(MaterialKey(KEY_A), blob + extra, CONTEXT)


def test_wrapped_truncated_at_every_length() -> None:
    wrapped = wrapped_material()
    root = RootKey(KEY_A)
    for length in range(len(wrapped)):
        with pytest.raises(InvalidCiphertext):
            root.unwrap(wrapped[:length], b"kms-key-material", ARN, MATERIAL_HEX)
    assert root.unwrap(wrapped, b"kms-key-material", ARN, MATERIAL_HEX) == KEY_B
    check = root.check_value()
    for length in range(len(check)):
        assert not root.matches(check[:length])
    assert root.matches(check)


def test_aead_open_truncated_at_every_length() -> None:
    aead = Aes256Gcm(KEY_A)
    sealed = aead.seal(b"abc", b"aad")
    for length in range(len(sealed)):
        with pytest.raises(InvalidCiphertext):
            aead.open(sealed[:length], b"aad")
    assert aead.open(sealed, b"aad") == b"abc"


# --- wrong material, wrong key, wrong header ----------------------------------------------------------------


def test_blob_wrong_material() -> None:
    blob = small_blob()
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_B), blob, CONTEXT)


def test_blob_header_pointed_at_other_material() -> None:
    """Rewriting the material id so Decrypt picks another material fails, under either material's key."""
    blob = small_blob()
    moved = blob[:19] + MATERIAL_B + blob[51:]
    assert kms_blob.read_header(moved).material_id == MATERIAL_B
    for key in (KEY_A, KEY_B):
        with pytest.raises(InvalidCiphertext):
            kms_blob.open_blob(MaterialKey(key), moved, CONTEXT)


def test_blob_wrong_context() -> None:
    blob = small_blob()
    for context in ({}, {"purpose": "Tamper"}, {"purpose": "tamper", "x": "y"}, {"purposetampe": "r"}):
        with pytest.raises(InvalidCiphertext):
            kms_blob.open_blob(MaterialKey(KEY_A), blob, encode_context(context))


@pytest.mark.parametrize(("offset", "value"), [(0, ord("k")), (1, ord("h")), (2, 0), (2, 2), (2, 0xFF)])
def test_blob_foreign_magic_or_version_rejected_even_with_a_valid_tag(offset: int, value: int) -> None:
    """A header that is not "KH" v1 is refused before the tag, even when the tag was computed over it."""
    blob = small_blob()
    header = bytearray(blob[:95])
    header[offset] = value
    forged = reseal(bytes(header), b"hello", blob_key(KEY_A, bytes(header[51:83])))
    with pytest.raises(InvalidCiphertext):
        kms_blob.read_header(forged)
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_A), forged, CONTEXT)


def test_blob_layout_and_derived_key() -> None:
    """The blob is header (95) || AES-GCM under HKDF(material, derivation nonce), as the specification says."""
    blob = small_blob()
    assert (kms_blob.HEADER_SIZE, kms_blob.OVERHEAD) == (95, 111)
    assert blob[:3] == b"KH\x01"
    assert (blob[3:19], blob[19:51]) == (KEY_ID, MATERIAL_A)
    key = blob_key(KEY_A, blob[51:83])
    assert AESGCM(key).decrypt(blob[83:95], blob[95:], blob[:95] + CONTEXT) == b"hello"


def test_blob_draws_derivation_nonce_then_gcm_nonce() -> None:
    drawn: list[int] = []

    def source(n: int) -> bytes:
        drawn.append(n)
        return bytes([len(drawn)]) * n

    blob = kms_blob.seal(MaterialKey(KEY_A, random=source), KEY_ID, MATERIAL_A, b"hello", CONTEXT)
    assert drawn == [32, 12]
    assert (blob[51:83], blob[83:95]) == (b"\x01" * 32, b"\x02" * 12)


@pytest.mark.parametrize("position", [51, 66, 82])
def test_blob_changed_derivation_nonce_fails_even_with_the_tag_recomputed_under_the_old_blob_key(
    position: int,
) -> None:
    """The AAD covers the changed header, so only the key derived from the changed nonce stands in the way."""
    blob = small_blob()
    old_key = blob_key(KEY_A, blob[51:83])
    header = bytearray(blob[:95])
    header[position] ^= 0x01
    forged = reseal(bytes(header), b"hello", old_key)
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_A), forged, CONTEXT)
    flipped = bytearray(blob)
    flipped[position] ^= 0x01
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_A), bytes(flipped), CONTEXT)


def test_blob_sealed_under_the_material_itself_fails() -> None:
    """A blob whose tag was made under the material instead of the derived key is refused."""
    blob = small_blob()
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_A), reseal(blob[:95], b"hello", KEY_A), CONTEXT)


def test_blob_derivation_nonce_swapped_between_blobs_fails() -> None:
    first, second = small_blob(), small_blob()
    assert first[51:83] != second[51:83]
    with pytest.raises(InvalidCiphertext):
        kms_blob.open_blob(MaterialKey(KEY_A), first[:51] + second[51:83] + first[83:], CONTEXT)


def test_material_key_never_shows_its_bytes() -> None:
    key = MaterialKey(KEY_A)
    for text in (repr(key), str(key), f"{key!r} {key}"):
        assert KEY_A.hex() not in text
        assert repr(KEY_A) not in text
    assert not hasattr(key, "__dict__")


# --- wrong purpose or bindings in keywrap -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "bindings"),
    [
        pytest.param(b"iam-secret-access-key", (ARN, MATERIAL_HEX), id="other-purpose"),
        pytest.param(b"root-key-check", (), id="check-purpose"),
        pytest.param(b"", (b"kms-key-material", ARN, MATERIAL_HEX), id="purpose-moved-into-bindings"),
        pytest.param(b"kms-key-material", (ARN,), id="binding-missing"),
        pytest.param(b"kms-key-material", (), id="no-bindings"),
        pytest.param(b"kms-key-material", (ARN, MATERIAL_HEX, b""), id="extra-empty-binding"),
        pytest.param(b"kms-key-material", (MATERIAL_HEX, ARN), id="bindings-swapped"),
        pytest.param(b"kms-key-material", (ARN + MATERIAL_HEX,), id="bindings-concatenated"),
        pytest.param(b"kms-key-material", (ARN[:-1], ARN[-1:] + MATERIAL_HEX), id="boundary-moved"),
        pytest.param(b"kms-key-material", (ARN, MATERIAL_HEX.upper()), id="material-id-upper-case"),
        pytest.param(b"kms-key-material", (ARN, MATERIAL_B.hex().encode()), id="other-material"),
        pytest.param(b"kms-key-material", (ARN.replace(b"us-east-1", b"us-west-2"), MATERIAL_HEX), id="other-arn"),
        pytest.param(b"kms-key-material", (ARN, MATERIAL_A), id="material-id-raw-not-hex"),
    ],
)
def test_unwrap_wrong_purpose_or_bindings(purpose: bytes, bindings: tuple[bytes, ...]) -> None:
    with pytest.raises(InvalidCiphertext):
        RootKey(KEY_A).unwrap(wrapped_material(), purpose, *bindings)


def test_unwrap_wrong_root_key() -> None:
    with pytest.raises(InvalidCiphertext):
        RootKey(KEY_B).unwrap(wrapped_material(), b"kms-key-material", ARN, MATERIAL_HEX)
    assert not RootKey(KEY_B).matches(RootKey(KEY_A).check_value())


@pytest.mark.parametrize("version", [0, 2, 0xFF])
def test_unwrap_other_version_byte(version: int) -> None:
    """The version byte is outside the AAD, so only the version check stands between it and a valid tag."""
    wrapped = wrapped_material()
    with pytest.raises(InvalidCiphertext):
        RootKey(KEY_A).unwrap(bytes([version]) + wrapped[1:], b"kms-key-material", ARN, MATERIAL_HEX)


def test_check_value_is_not_a_wrapped_secret() -> None:
    """A check value cannot be unwrapped as key material, nor key material passed off as a check value."""
    root = RootKey(KEY_A)
    with pytest.raises(InvalidCiphertext):
        root.unwrap(root.check_value(), b"kms-key-material", ARN, MATERIAL_HEX)
    assert not root.matches(wrapped_material())
    assert not root.matches(root.wrap(b"keyhold root key check value v1", b"root-key-check", b""))


# --- the error says nothing -------------------------------------------------------------------------------


def test_every_failure_is_the_same_opaque_error() -> None:
    blob = small_blob()
    failures: list[Callable[[], object]] = [
        lambda: kms_blob.open_blob(MaterialKey(KEY_A), blob[:10], CONTEXT),
        lambda: kms_blob.open_blob(MaterialKey(KEY_A), b"XX" + blob[2:], CONTEXT),
        lambda: kms_blob.open_blob(MaterialKey(KEY_B), blob, CONTEXT),
        lambda: kms_blob.open_blob(MaterialKey(KEY_A), blob, encode_context({})),
        lambda: RootKey(KEY_A).unwrap(wrapped_material(), b"other"),
        lambda: RootKey(KEY_A).unwrap(b"", b"kms-key-material"),
    ]
    for failure in failures:
        with pytest.raises(InvalidCiphertext) as info:
            failure()
        assert type(info.value) is InvalidCiphertext
        assert isinstance(info.value, CryptoError)
        assert info.value.args == ("decryption failed",)
        assert KEY_A.hex() not in repr(info.value)


# --- misuse is a ValueError, not a silent success -----------------------------------------------------------


def test_bad_sizes_are_refused() -> None:
    for size in (0, 16, 31, 33):
        with pytest.raises(ValueError, match="32-byte"):
            Aes256Gcm(bytes(size))
        with pytest.raises(ValueError, match="32-byte"):
            MaterialKey(bytes(size))
        with pytest.raises(ValueError, match="32 bytes"):
            RootKey(bytes(size))
    material = MaterialKey(KEY_A)
    with pytest.raises(ValueError, match="16 bytes"):
        kms_blob.seal(material, KEY_ID[:15], MATERIAL_A, b"x", CONTEXT)
    with pytest.raises(ValueError, match="32 bytes"):
        kms_blob.seal(material, KEY_ID, MATERIAL_A + b"\x00", b"x", CONTEXT)


def test_short_random_source_is_refused() -> None:
    with pytest.raises(ValueError, match="random source"):
        Aes256Gcm(KEY_A, random=lambda n: bytes(n - 1)).seal(b"x", b"")
    for short in (lambda n: bytes(n - 1), lambda n: bytes(n if n == 32 else n - 1), lambda n: b""):
        with pytest.raises(ValueError, match="random source"):
            kms_blob.seal(MaterialKey(KEY_A, random=short), KEY_ID, MATERIAL_A, b"x", CONTEXT)
    with pytest.raises(ValueError, match="random source"):
        RootKey(KEY_A, random=lambda n: b"").wrap(b"x", b"p")


def test_unencodable_context_raises_value_error() -> None:
    """Lone surrogates are not Unicode scalar values: the protocol layer must reject them before this."""
    with pytest.raises(UnicodeEncodeError):
        encode_context({"\ud800": "x"})
    with pytest.raises(UnicodeEncodeError):
        encode_context({"x": "\udfff"})
    assert issubclass(UnicodeEncodeError, ValueError)
