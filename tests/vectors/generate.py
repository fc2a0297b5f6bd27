"""Regenerate Keyhold's own known-answer vectors (tests/vectors/*.json) deterministically.

    PYTHONPATH=src python tests/vectors/generate.py          # rewrite the JSON files
    PYTHONPATH=src python tests/vectors/generate.py --check  # exit 1 if a file is stale

Nothing here is random: keys, ids and plaintexts come from ``expand`` (SHA-256 in counter mode over a
fixed seed) and every "random" byte Keyhold draws comes from ``CounterRandom``, injected through the
``random=`` parameter of ``kms_blob.MaterialKey`` and ``RootKey``. Each vector records the bytes it drew, so
a reader can redo it with any HKDF-SHA256 and AES-GCM implementation.

Every positive vector is produced twice, through keyhold.crypto and through plain ``HKDF`` + ``AESGCM`` +
``struct`` from the specification in docs/formats/, and the two must agree before anything is written.
Negative vectors are positive ones with one thing changed; the blob vectors whose tag is recomputed over a
changed header (wrong version, wrong magic, a changed derivation nonce) or under a key other than the derived
one are built with plain ``HKDF`` + ``AESGCM`` because Keyhold cannot produce them.
"""

import argparse
import hashlib
import json
import struct
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyhold.crypto import kms_blob
from keyhold.crypto.encoding import encode_context, encode_fields
from keyhold.crypto.keywrap import RootKey

HERE = Path(__file__).resolve().parent
_U32 = struct.Struct(">I")
RANDOM_PREFIX = b"keyhold-kat-random/"
RANDOM_SOURCE_TEXT = (
    "CounterRandom(label): call k (k = 0, 1, ...) returns the first n bytes (n <= 32) of "
    'SHA-256("keyhold-kat-random/" || label || u32be(k)), where label is the vector id in UTF-8. '
    "The bytes a vector drew are recorded in its 'random' field."
)
EXPAND_TEXT = (
    "sha256-counter(seed, length): SHA-256(seed || u32be(0)) || SHA-256(seed || u32be(1)) || ..., "
    "truncated to length bytes."
)
KAT_ACCOUNT = "000000000000"
KAT_REGION = "us-east-1"
KAT_KEY_UUID = uuid.UUID("1234abcd-12ab-34cd-56ef-1234567890ab")
KAT_KEY_ARN = f"arn:aws:kms:{KAT_REGION}:{KAT_ACCOUNT}:key/{KAT_KEY_UUID}"
OTHER_KEY_UUID = uuid.UUID("0987dcba-09fe-87dc-65ba-ab0987654321")
OTHER_KEY_ARN = f"arn:aws:kms:{KAT_REGION}:{KAT_ACCOUNT}:key/{OTHER_KEY_UUID}"


class CounterRandom:
    """A deterministic stand-in for os.urandom; see RANDOM_SOURCE_TEXT."""

    def __init__(self, label: str) -> None:
        self._label = label.encode("utf-8")
        self._count = 0
        self.drawn = bytearray()

    def __call__(self, n: int) -> bytes:
        if not 0 <= n <= 32:
            raise ValueError("CounterRandom hands out at most 32 bytes per call")
        out = hashlib.sha256(RANDOM_PREFIX + self._label + _U32.pack(self._count)).digest()[:n]
        self._count += 1
        self.drawn += out
        return out


def expand(seed: bytes, length: int) -> bytes:
    """sha256-counter; see EXPAND_TEXT."""
    blocks = (hashlib.sha256(seed + _U32.pack(j)).digest() for j in range((length + 31) // 32))
    return b"".join(blocks)[:length]


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


# --- the specification, written out with nothing but struct, HKDF and AESGCM ------------------------------


def spec_context(context: Mapping[str, str]) -> bytes:
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = _U32.pack(len(pairs))
    for k, v in pairs:
        out += _U32.pack(len(k)) + k + _U32.pack(len(v)) + v
    return out


def spec_fields(fields: Sequence[bytes]) -> bytes:
    return _U32.pack(len(fields)) + b"".join(_U32.pack(len(f)) + f for f in fields)


def spec_blob_key(material: bytes, derivation_nonce: bytes) -> bytes:
    """K_b = HKDF-SHA256(ikm = material, salt = derivation nonce, info = "keyhold kms-blob v1", length 32)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=derivation_nonce, info=b"keyhold kms-blob v1").derive(
        material
    )


def spec_blob(
    key: bytes,
    key_id: bytes,
    material_id: bytes,
    derivation_nonce: bytes,
    nonce: bytes,
    plaintext: bytes,
    ctx: bytes,
) -> bytes:
    header = b"KH" + bytes([1]) + key_id + material_id + derivation_nonce + nonce
    return header + AESGCM(spec_blob_key(key, derivation_nonce)).encrypt(nonce, plaintext, header + ctx)


def spec_wrap(root: bytes, nonce: bytes, secret: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    aad = spec_fields([b"keyhold-wrap-v1", purpose, *bindings])
    return bytes([1]) + nonce + AESGCM(root).encrypt(nonce, secret, aad)


# --- KMS ciphertext blob v1 ---------------------------------------------------------------------------------

MATERIAL_KEY = expand(b"keyhold-kat material key 1", 32)
OTHER_MATERIAL_KEY = expand(b"keyhold-kat material key 2", 32)
MATERIAL_ID = expand(b"keyhold-kat material id 1", 32)
OTHER_MATERIAL_ID = expand(b"keyhold-kat material id 2", 32)
BIG_SEED = b"keyhold-kat plaintext 4096"


def _blob_vector(
    vector_id: str,
    description: str,
    plaintext: bytes,
    context: Mapping[str, str],
    *,
    generator: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    key = kms_blob.MaterialKey(MATERIAL_KEY, random=source)
    ctx = encode_context(context)
    blob = kms_blob.seal(key, KAT_KEY_UUID.bytes, MATERIAL_ID, plaintext, ctx)
    drawn = bytes(source.drawn)
    derivation_nonce, nonce = drawn[:32], drawn[32:]
    if (
        len(nonce) != 12
        or ctx != spec_context(context)
        or blob != spec_blob(MATERIAL_KEY, KAT_KEY_UUID.bytes, MATERIAL_ID, derivation_nonce, nonce, plaintext, ctx)
    ):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "valid": True,
        "key": MATERIAL_KEY.hex(),
        "key_id": KAT_KEY_UUID.bytes.hex(),
        "material_id": MATERIAL_ID.hex(),
        "context": dict(context),
        "context_encoding": ctx.hex(),
    }
    if generator is None:
        vector["plaintext"] = plaintext.hex()
    else:
        vector["plaintext_generator"] = dict(generator)
        vector["plaintext_sha256"] = hashlib.sha256(plaintext).hexdigest()
    vector["random"] = drawn.hex()
    vector["derivation_nonce"] = derivation_nonce.hex()
    vector["nonce"] = nonce.hex()
    vector["blob_key"] = spec_blob_key(MATERIAL_KEY, derivation_nonce).hex()
    vector["aad"] = (blob[: kms_blob.HEADER_SIZE] + ctx).hex()
    vector["blob"] = blob.hex()
    return vector


def _negative(
    vector_id: str, description: str, base: Mapping[str, Any], blob: bytes, **overrides: Any
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "valid": False,
        "derived_from": base["id"],
        "key": base["key"],
        "context": base["context"],
        "context_encoding": base["context_encoding"],
        "blob": blob.hex(),
    }
    vector.update(overrides)
    return vector


def _reseal_header(
    base: Mapping[str, Any], header_edit: Callable[[bytearray], None], *, blob_key: bytes | None = None
) -> bytes:
    """The base blob with its header edited and the tag recomputed over the edited header (plain HKDF + AESGCM).

    The blob key is derived from the edited header's derivation nonce, unless ``blob_key`` is given.
    """
    blob = bytes.fromhex(base["blob"])
    ctx = bytes.fromhex(base["context_encoding"])
    plaintext = AESGCM(spec_blob_key(MATERIAL_KEY, blob[51:83])).decrypt(blob[83:95], blob[95:], blob[:95] + ctx)
    header = bytearray(blob[:95])
    header_edit(header)
    key = spec_blob_key(MATERIAL_KEY, bytes(header[51:83])) if blob_key is None else blob_key
    return bytes(header) + AESGCM(key).encrypt(bytes(header[83:95]), plaintext, bytes(header) + ctx)


def build_kms_ciphertext() -> dict[str, Any]:
    big = expand(BIG_SEED, 4096)
    positives = [
        _blob_vector(
            "empty-context-1-byte",
            "One byte of plaintext, empty encryption context (AAD = header || 00000000). The worked example.",
            b"\x42",
            {},
        ),
        _blob_vector(
            "single-pair-data-key",
            "A 32-byte data key, as GenerateDataKey returns, with the context SSE-KMS uses.",
            expand(b"keyhold-kat data key", 32),
            {"aws:s3:arn": "arn:aws:s3:::example-bucket/photos/cat.jpg"},
        ),
        _blob_vector(
            "multi-pair-unicode-context",
            "UTF-8 plaintext; several pairs with non-ASCII keys and values, listed out of order.",
            "Keyhold \U0001f511 gr\u00fc\u00dfe".encode(),
            {
                "\u90e8\u7f72": "\u751f\u4ea7",
                "aws:s3:arn": "arn:aws:s3:::b\u00fccket/\u043a\u043b\u044e\u0447",
                "Department": "Finance",
                "emoji \U0001f511": "\u00e9",
            },
        ),
        _blob_vector(
            "context-ab-c",
            'Context {"ab": "c"}; see the negative vector that decrypts it with {"a": "bc"}.',
            b"injective",
            {"ab": "c"},
        ),
        _blob_vector(
            "plaintext-4096",
            "4096 bytes of plaintext (the Encrypt maximum), generated rather than stored.",
            big,
            {"purpose": "kat"},
            generator={"name": "sha256-counter", "seed": BIG_SEED.hex(), "length": len(big)},
        ),
        _blob_vector(
            "empty-plaintext",
            "Zero bytes of plaintext: the shortest valid blob, exactly 111 bytes. KMS never sends one, "
            "but the format allows it.",
            b"",
            {},
        ),
    ]
    by_id = {v["id"]: v for v in positives}
    one = by_id["empty-context-1-byte"]
    uni = by_id["multi-pair-unicode-context"]
    abc = by_id["context-ab-c"]
    one_blob = bytes.fromhex(one["blob"])
    uni_blob = bytes.fromhex(uni["blob"])
    abc_blob = bytes.fromhex(abc["blob"])

    def version_2(header: bytearray) -> None:
        header[2] = 2

    def magic_kk(header: bytearray) -> None:
        header[1] = ord("K")

    def derivation_nonce_flipped(header: bytearray) -> None:
        header[51] ^= 0x01

    def no_edit(header: bytearray) -> None:
        pass

    negatives = [
        _negative("tampered-magic", "Byte 0 changed from 'K' to 'J'.", one, flip(one_blob, 0, 0x01)),
        _negative("tampered-key-id", "Lowest bit of byte 3 (first key id byte) flipped.", one, flip(one_blob, 3)),
        _negative(
            "tampered-material-id",
            "Lowest bit of byte 50 (last material id byte) flipped.",
            one,
            flip(one_blob, 50),
        ),
        _negative(
            "tampered-derivation-nonce",
            "Lowest bit of byte 51 (first derivation nonce byte) flipped.",
            one,
            flip(one_blob, 51),
        ),
        _negative(
            "tampered-derivation-nonce-last",
            "Highest bit of byte 82 (last derivation nonce byte) flipped.",
            uni,
            flip(uni_blob, 82, 0x80),
        ),
        _negative(
            "derivation-nonce-from-other-blob",
            "The derivation nonce replaced by another valid blob's (multi-pair-unicode-context), GCM nonce kept.",
            one,
            one_blob[:51] + uni_blob[51:83] + one_blob[83:],
        ),
        _negative(
            "derivation-nonce-zero",
            "The derivation nonce replaced by 32 zero bytes.",
            one,
            one_blob[:51] + bytes(32) + one_blob[83:],
        ),
        _negative(
            "derivation-nonce-changed-tag-under-original-blob-key",
            "Lowest bit of byte 51 flipped and the tag recomputed over the changed header under the ORIGINAL "
            "blob key: the AAD matches, so only the key derived from the changed nonce rejects it.",
            one,
            _reseal_header(one, derivation_nonce_flipped, blob_key=bytes.fromhex(one["blob_key"])),
        ),
        _negative(
            "sealed-under-material-not-blob-key",
            "The same header, sealed directly under the material key instead of the derived blob key "
            "(what a v1 without key derivation would write).",
            one,
            _reseal_header(one, no_edit, blob_key=MATERIAL_KEY),
        ),
        _negative("tampered-nonce", "Lowest bit of byte 83 (first GCM nonce byte) flipped.", uni, flip(uni_blob, 83)),
        _negative("tampered-ciphertext", "Lowest bit of byte 95 flipped.", uni, flip(uni_blob, 95)),
        _negative("tampered-tag", "Highest bit of the last byte flipped.", uni, flip(uni_blob, -1, 0x80)),
        _negative(
            "wrong-version",
            "Version byte changed from 0x01 to 0x02; tag left alone.",
            one,
            flip(one_blob, 2, 0x03),
        ),
        _negative(
            "wrong-version-valid-tag",
            "Version byte 0x02 and the tag recomputed over the changed header: only the version check rejects it.",
            one,
            _reseal_header(one, version_2),
        ),
        _negative(
            "wrong-magic-valid-tag",
            "Magic 'KK' and the tag recomputed over the changed header: only the magic check rejects it.",
            one,
            _reseal_header(one, magic_kk),
        ),
        _negative("truncated-one-byte", "The last byte removed.", uni, uni_blob[:-1]),
        _negative(
            "truncated-below-overhead",
            "The first 110 bytes: one short of the shortest valid blob.",
            one,
            one_blob[:110],
        ),
        _negative("truncated-header-only", "The 95-byte header alone.", one, one_blob[:95]),
        _negative("empty-blob", "No bytes at all.", one, b""),
        _negative("extended-one-byte", "A zero byte appended.", one, one_blob + b"\x00"),
        _negative(
            "wrong-context-a-bc",
            'The blob sealed under {"ab": "c"}, decrypted with {"a": "bc"}.',
            abc,
            abc_blob,
            context={"a": "bc"},
            context_encoding=spec_context({"a": "bc"}).hex(),
        ),
        _negative(
            "wrong-context-empty",
            "A blob sealed under a four-pair context, decrypted with the empty context.",
            uni,
            uni_blob,
            context={},
            context_encoding=spec_context({}).hex(),
        ),
        _negative(
            "wrong-context-missing-pair",
            "A blob sealed under a four-pair context, decrypted with one pair left out.",
            uni,
            uni_blob,
            context={k: v for k, v in uni["context"].items() if k != "Department"},
            context_encoding=spec_context({k: v for k, v in uni["context"].items() if k != "Department"}).hex(),
        ),
        _negative(
            "wrong-material-key",
            "A valid blob opened with another material's key.",
            one,
            one_blob,
            key=OTHER_MATERIAL_KEY.hex(),
        ),
        _negative(
            "header-names-other-material",
            "The material id in the header replaced by another material's id (same key).",
            one,
            one_blob[:19] + OTHER_MATERIAL_ID + one_blob[51:],
        ),
        _negative(
            "header-names-other-key",
            "The key id in the header replaced by another key's UUID (same material key).",
            one,
            one_blob[:3] + OTHER_KEY_UUID.bytes + one_blob[19:],
        ),
    ]
    return {
        "format": "Keyhold KMS ciphertext blob",
        "version": 1,
        "specification": "docs/formats/kms-ciphertext.md",
        "provenance": "tests/vectors/PROVENANCE.md",
        "generated_by": "tests/vectors/generate.py",
        "random_source": RANDOM_SOURCE_TEXT,
        "plaintext_generators": {"sha256-counter": EXPAND_TEXT},
        "fields": {
            "key": "the key material: 32 bytes, the HKDF input keying material",
            "key_id": "the KMS key's UUID, 16 bytes",
            "material_id": "the material id, 32 bytes",
            "context": "the encryption context, a string-to-string map",
            "context_encoding": "encode_context(context), docs/formats/encryption-context.md",
            "random": "the 44 bytes drawn, in order: the 32-byte derivation nonce, then the 12-byte GCM nonce",
            "derivation_nonce": "the derivation nonce: random[0:32], blob[51:83]",
            "nonce": "the GCM nonce: random[32:44], blob[83:95]",
            "blob_key": 'K_b = HKDF-SHA256(ikm = key, salt = derivation_nonce, info = "keyhold kms-blob v1", L = 32)',
            "aad": "the associated data: blob[0:95] || context_encoding",
            "blob": "the expected blob; if valid is false, bytes that key and context must not decrypt",
        },
        "vectors": positives + negatives,
    }


# --- encryption context -------------------------------------------------------------------------------------


def _context_vector(vector_id: str, description: str, context: Mapping[str, str]) -> dict[str, Any]:
    encoded = encode_context(context)
    if encoded != spec_context(context):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {"id": vector_id, "description": description, "context": dict(context), "encoding": encoded.hex()}


def _fields_vector(vector_id: str, description: str, fields: Sequence[bytes]) -> dict[str, Any]:
    encoded = encode_fields(*fields)
    if encoded != spec_fields(fields):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "fields": [f.hex() for f in fields],
        "encoding": encoded.hex(),
    }


def build_encryption_context() -> dict[str, Any]:
    contexts = [
        _context_vector("empty", "The empty context: a zero pair count and nothing else.", {}),
        _context_vector("single-pair", "One ASCII pair.", {"purpose": "test"}),
        _context_vector("ab-c", 'Must differ from "a-bc": naive concatenation gives "abc" for both.', {"ab": "c"}),
        _context_vector("a-bc", 'Must differ from "ab-c".', {"a": "bc"}),
        _context_vector(
            "order-given-reversed",
            "Pairs listed in reverse; the encoding sorts them by key bytes.",
            {"c": "3", "b": "2", "a": "1"},
        ),
        _context_vector(
            "prefix-sorts-first",
            'A key sorts before every longer key it prefixes: "a" < "aa" < "b".',
            {"b": "3", "aa": "2", "a": "1"},
        ),
        _context_vector(
            "byte-order-not-case-order",
            "Sorting is by byte: 'B' (0x42) < '_' (0x5F) < 'a' (0x61).",
            {"a": "lower", "_": "underscore", "B": "upper"},
        ),
        _context_vector(
            "utf8-not-utf16-order",
            "U+FF61 (EF BD A1) sorts before U+1F511 (F0 9F 94 91) in UTF-8 byte order; "
            "UTF-16 code-unit order (as in Java or JavaScript) would put U+1F511 (D83D ...) first.",
            {"\U0001f511": "key", "\uff61": "halfwidth"},
        ),
        _context_vector(
            "multi-pair-unicode",
            "Several pairs with non-ASCII keys and values.",
            {
                "\u90e8\u7f72": "\u751f\u4ea7",
                "aws:s3:arn": "arn:aws:s3:::b\u00fccket/\u043a\u043b\u044e\u0447",
                "Department": "Finance",
                "emoji \U0001f511": "\u00e9",
            },
        ),
        _context_vector("nfc", "U+00E9 precomposed; no Unicode normalization is applied.", {"\u00e9": "x"}),
        _context_vector("nfd", "'e' + U+0301 combining acute; differs from the NFC vector.", {"e\u0301": "x"}),
        _context_vector("empty-value", "An empty value is encoded as a zero length.", {"k": ""}),
    ]
    fields = [
        _fields_vector("no-fields", "No fields: a zero count.", []),
        _fields_vector("one-empty-field", "One empty field; differs from no fields.", [b""]),
        _fields_vector("two-empty-fields", "Two empty fields.", [b"", b""]),
        _fields_vector("ab-c", 'Fields "ab", "c"; differs from "a", "bc".', [b"ab", b"c"]),
        _fields_vector("a-bc", 'Fields "a", "bc".', [b"a", b"bc"]),
        _fields_vector(
            "wrap-aad-kms-key-material",
            "The root-key wrapping AAD for KMS key material.",
            [b"keyhold-wrap-v1", b"kms-key-material", KAT_KEY_ARN.encode(), MATERIAL_ID.hex().encode()],
        ),
    ]
    return {
        "format": "Keyhold canonical encodings: encode_context and encode_fields",
        "version": 1,
        "specification": "docs/formats/encryption-context.md",
        "provenance": "tests/vectors/PROVENANCE.md",
        "generated_by": "tests/vectors/generate.py",
        "fields": {
            "context": "a string-to-string map, its pairs listed in an order that must not matter",
            "encoding": "encode_context(context) or encode_fields(*fields)",
            "fields": "the fields of encode_fields, each in hex",
        },
        "context_vectors": contexts,
        "fields_vectors": fields,
    }


# --- root key wrapping v1 -----------------------------------------------------------------------------------

ROOT_KEY = expand(b"keyhold-kat root key 1", 32)
OTHER_ROOT_KEY = expand(b"keyhold-kat root key 2", 32)
KAT_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
KAT_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
CHECK_PLAINTEXT = b"keyhold root key check value v1"


def _wrap_vector(
    vector_id: str, description: str, secret: bytes, purpose: bytes, bindings: Sequence[bytes]
) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    root = RootKey(ROOT_KEY, random=source)
    wrapped = root.check_value() if purpose == b"root-key-check" else root.wrap(secret, purpose, *bindings)
    nonce = bytes(source.drawn)
    if wrapped != spec_wrap(ROOT_KEY, nonce, secret, purpose, bindings):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "valid": True,
        "root_key": ROOT_KEY.hex(),
        "purpose": purpose.hex(),
        "purpose_text": purpose.decode("utf-8"),
        "bindings": [b.hex() for b in bindings],
        "bindings_text": [b.decode("utf-8") for b in bindings],
        "secret": secret.hex(),
        "random": nonce.hex(),
        "aad": spec_fields([b"keyhold-wrap-v1", purpose, *bindings]).hex(),
        "wrapped": wrapped.hex(),
    }


def _wrap_negative(
    vector_id: str,
    description: str,
    base: Mapping[str, Any],
    wrapped: bytes,
    *,
    root_key: bytes | None = None,
    purpose: bytes | None = None,
    bindings: Sequence[bytes] | None = None,
) -> dict[str, Any]:
    purpose_hex = base["purpose"] if purpose is None else purpose.hex()
    binding_hex = base["bindings"] if bindings is None else [b.hex() for b in bindings]
    return {
        "id": vector_id,
        "description": description,
        "valid": False,
        "derived_from": base["id"],
        "root_key": base["root_key"] if root_key is None else root_key.hex(),
        "purpose": purpose_hex,
        "purpose_text": bytes.fromhex(purpose_hex).decode("utf-8"),
        "bindings": binding_hex,
        "bindings_text": [bytes.fromhex(b).decode("utf-8") for b in binding_hex],
        "wrapped": wrapped.hex(),
    }


def _rewrap_version(base: Mapping[str, Any], version: int) -> bytes:
    """The base wrapped value with another version byte.

    The version byte is outside the AAD (the domain label "keyhold-wrap-v1" inside the AAD binds the version),
    so the tag still verifies: only the version check rejects these.
    """
    wrapped = bytes.fromhex(base["wrapped"])
    return bytes([version]) + wrapped[1:]


def build_root_key_wrap() -> dict[str, Any]:
    material_hex = MATERIAL_ID.hex().encode()
    arn = KAT_KEY_ARN.encode()
    positives = [
        _wrap_vector(
            "kms-key-material",
            "32 bytes of KMS key material bound to its key ARN and material id (64 lower-case hex).",
            MATERIAL_KEY,
            b"kms-key-material",
            [arn, material_hex],
        ),
        _wrap_vector(
            "iam-secret-access-key",
            "An IAM secret access key (AWS's documentation example) bound to its access key id.",
            KAT_SECRET_ACCESS_KEY.encode(),
            b"iam-secret-access-key",
            [KAT_ACCESS_KEY_ID.encode()],
        ),
        _wrap_vector(
            "root-key-check",
            "RootKey.check_value(): the constant 'keyhold root key check value v1', purpose root-key-check, "
            "no bindings.",
            CHECK_PLAINTEXT,
            b"root-key-check",
            [],
        ),
    ]
    mat = positives[0]
    check = positives[2]
    mat_wrapped = bytes.fromhex(mat["wrapped"])
    negatives = [
        _wrap_negative(
            "wrong-purpose",
            "Key material unwrapped as an IAM secret access key.",
            mat,
            mat_wrapped,
            purpose=b"iam-secret-access-key",
        ),
        _wrap_negative(
            "wrong-key-arn",
            "Key material moved to another key's row.",
            mat,
            mat_wrapped,
            bindings=[OTHER_KEY_ARN.encode(), material_hex],
        ),
        _wrap_negative(
            "wrong-material-id",
            "Key material moved to another material's row.",
            mat,
            mat_wrapped,
            bindings=[arn, OTHER_MATERIAL_ID.hex().encode()],
        ),
        _wrap_negative(
            "material-id-upper-case",
            "The material id binding in upper-case hex: the binding is the lower-case text, byte for byte.",
            mat,
            mat_wrapped,
            bindings=[arn, MATERIAL_ID.hex().upper().encode()],
        ),
        _wrap_negative(
            "bindings-swapped",
            "The two bindings in the other order.",
            mat,
            mat_wrapped,
            bindings=[material_hex, arn],
        ),
        _wrap_negative("binding-missing", "The material id binding left out.", mat, mat_wrapped, bindings=[arn]),
        _wrap_negative(
            "binding-extra",
            "An empty third binding added.",
            mat,
            mat_wrapped,
            bindings=[arn, material_hex, b""],
        ),
        _wrap_negative("wrong-root-key", "Unwrapped with another root key.", mat, mat_wrapped, root_key=OTHER_ROOT_KEY),
        _wrap_negative("version-0x02", "Version byte changed to 0x02.", mat, _rewrap_version(mat, 2)),
        _wrap_negative("version-0x00", "Version byte changed to 0x00.", mat, _rewrap_version(mat, 0)),
        _wrap_negative("tampered-nonce", "Lowest bit of byte 1 (first nonce byte) flipped.", mat, flip(mat_wrapped, 1)),
        _wrap_negative("tampered-ciphertext", "Lowest bit of byte 13 flipped.", mat, flip(mat_wrapped, 13)),
        _wrap_negative("tampered-tag", "Highest bit of the last byte flipped.", mat, flip(mat_wrapped, -1, 0x80)),
        _wrap_negative("truncated-one-byte", "The last byte removed.", mat, mat_wrapped[:-1]),
        _wrap_negative(
            "truncated-below-minimum",
            "28 bytes: one short of the shortest possible wrapped value (version, nonce, tag).",
            mat,
            mat_wrapped[:28],
        ),
        _wrap_negative("empty", "No bytes at all.", mat, b""),
        _wrap_negative(
            "check-value-other-root-key",
            "A check value made by one root key, tested by another: RootKey.matches() is False.",
            check,
            bytes.fromhex(check["wrapped"]),
            root_key=OTHER_ROOT_KEY,
        ),
    ]
    return {
        "format": "Keyhold root key wrapping",
        "version": 1,
        "specification": "docs/formats/root-key-wrapping.md",
        "provenance": "tests/vectors/PROVENANCE.md",
        "generated_by": "tests/vectors/generate.py",
        "random_source": RANDOM_SOURCE_TEXT,
        "fields": {
            "root_key": "the 32-byte root key",
            "purpose": "the purpose label (purpose_text is the same bytes as UTF-8 text)",
            "bindings": "the bindings, in order (bindings_text: the same bytes as UTF-8 text)",
            "secret": "the wrapped secret",
            "random": "the 12 bytes the AEAD drew: the nonce",
            "aad": 'encode_fields("keyhold-wrap-v1", purpose, *bindings)',
            "wrapped": "the expected value; if valid is false, unwrap(purpose, *bindings) must reject it",
        },
        "vectors": positives + negatives,
    }


# --- output -------------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "kms_ciphertext_v1.json": build_kms_ciphertext,
    "encryption_context.json": build_encryption_context,
    "root_key_wrap_v1.json": build_root_key_wrap,
}


def render(document: Mapping[str, Any]) -> str:
    """The exact text of a vector file (ASCII only: non-ASCII context strings appear as \\u escapes)."""
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, build in BUILDERS.items():
        text = render(build())
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    for name in stale:
        print(f"{name} differs from what generate.py produces", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
