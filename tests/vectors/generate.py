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
import base64
import hashlib
import hmac
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

from keyhold.crypto import kms_blob, object_keys, object_stream
from keyhold.crypto.encoding import encode_context, encode_fields
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.objects.model import SSE_C, SSE_KMS, SSE_KMS_DSSE, SSE_S3, Envelope

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


# --- object stream v1 ---------------------------------------------------------------------------------------

STREAM_CHUNK = 65536
STREAM_INFO = b"keyhold object-stream v1"
STREAM_DATA_KEY = expand(b"keyhold-kat object data key 1", 32)
STREAM_OUTER_KEY = expand(b"keyhold-kat object data key 2", 32)
STREAM_OTHER_KEY = expand(b"keyhold-kat object data key 3", 32)
STREAM_INLINE_LIMIT = 1024  # streams longer than this are recorded by SHA-256 (positive) or as pieces (negative)
MOD251_TEXT = (
    "mod-251(length): byte i is i mod 251 for i = 0 .. length-1; Python: bytes(i % 251 for i in range(length))"
)


def mod251(length: int) -> bytes:
    """The plaintext generator of the object stream vectors; see MOD251_TEXT."""
    return (bytes(range(251)) * (length // 251 + 1))[:length]


def spec_stream_key(data_key: bytes, salt: bytes, layer: int) -> bytes:
    """K_j = HKDF-SHA256(ikm = data key j, salt = header salt, info = "keyhold object-stream v1" || u8(j), 32)."""
    info = STREAM_INFO + bytes([layer])
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(data_key)


def spec_stream_nonce(header: bytes, index: int, final: int) -> bytes:
    return header[38:45] + _U32.pack(index) + bytes([final])


def spec_stream_aad(header: bytes, part_number: int, index: int, final: int, layer: int) -> bytes:
    return header + _U32.pack(part_number) + _U32.pack(index) + bytes([final, layer])


def spec_stream_chunk(
    data_keys: Sequence[bytes], header: bytes, part_number: int, index: int, final: int, plaintext: bytes
) -> bytes:
    """One stored chunk: AES-256-GCM under K_0, then (dual-layer) under K_1 over that, keys from header's salt."""
    nonce = spec_stream_nonce(header, index, final)
    out = plaintext
    for layer, data_key in enumerate(data_keys):
        aad = spec_stream_aad(header, part_number, index, final, layer)
        out = AESGCM(spec_stream_key(data_key, header[6:38], layer)).encrypt(nonce, out, aad)
    return out


def spec_stream(data_keys: Sequence[bytes], part_number: int, header: bytes, plaintext: bytes) -> bytes:
    count = max(1, -(-len(plaintext) // STREAM_CHUNK))
    chunks = (
        spec_stream_chunk(
            data_keys,
            header,
            part_number,
            i,
            1 if i == count - 1 else 0,
            plaintext[i * STREAM_CHUNK : (i + 1) * STREAM_CHUNK],
        )
        for i in range(count)
    )
    return header + b"".join(chunks)


def _stream_vector(
    vector_id: str,
    description: str,
    plaintext: bytes,
    data_keys: Sequence[bytes],
    part_number: int,
    update_sizes: Sequence[int] = (),
) -> tuple[dict[str, Any], bytes]:
    """A valid stream, sealed through keyhold.crypto (update() calls of the given sizes, then the rest) and
    through the specification; the two must agree."""
    source = CounterRandom(vector_id)
    encryptor = object_stream.StreamEncryptor(data_keys, part_number, random=source)
    pieces: list[bytes] = [encryptor.header]
    position = 0
    for size in update_sizes:
        pieces.append(bytes(encryptor.update(plaintext[position : position + size])))
        position += size
    pieces.append(bytes(encryptor.update(plaintext[position:])))
    pieces.append(bytes(encryptor.finalize()))
    stored = b"".join(pieces)
    drawn = bytes(source.drawn)
    salt, prefix = drawn[:32], drawn[32:]
    header = b"KHOS" + bytes([1, len(data_keys)]) + salt + prefix
    if len(prefix) != 7 or stored != spec_stream(data_keys, part_number, header, plaintext):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    layers = len(data_keys)
    count = max(1, -(-len(plaintext) // STREAM_CHUNK))
    chunks = []
    for i in range(count):
        final = 1 if i == count - 1 else 0
        length = min(STREAM_CHUNK, len(plaintext) - i * STREAM_CHUNK)
        chunks.append(
            {
                "index": i,
                "final": bool(final),
                "plaintext_offset": i * STREAM_CHUNK,
                "plaintext_length": length,
                "stored_offset": 45 + i * (STREAM_CHUNK + 16 * layers),
                "stored_length": length + 16 * layers,
                "nonce": spec_stream_nonce(header, i, final).hex(),
                "aads": [spec_stream_aad(header, part_number, i, final, j).hex() for j in range(layers)],
            }
        )
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "valid": True,
        "data_keys": [k.hex() for k in data_keys],
        "part_number": part_number,
        "plaintext_size": len(plaintext),
    }
    if len(plaintext) <= 64:
        vector["plaintext"] = plaintext.hex()
    else:
        vector["plaintext_generator"] = {"name": "mod-251", "length": len(plaintext)}
        vector["plaintext_sha256"] = hashlib.sha256(plaintext).hexdigest()
    vector["update_sizes"] = list(update_sizes)
    vector["random"] = drawn.hex()
    vector["salt"] = salt.hex()
    vector["nonce_prefix"] = prefix.hex()
    vector["stream_keys"] = [spec_stream_key(k, salt, j).hex() for j, k in enumerate(data_keys)]
    vector["header"] = header.hex()
    vector["chunks"] = chunks
    vector["stored_length"] = len(stored)
    if len(stored) <= STREAM_INLINE_LIMIT:
        vector["stored"] = stored.hex()
    else:
        vector["stored_sha256"] = hashlib.sha256(stored).hexdigest()
    return vector, stored


StreamPiece = tuple[str, int, int] | bytes  # (vector id, start, end) of a valid vector's stream, or literal bytes


def _stream_negative(
    vector_id: str,
    description: str,
    base: Mapping[str, Any],
    streams: Mapping[str, bytes],
    pieces: Sequence[StreamPiece],
    *,
    data_keys: Sequence[bytes] | None = None,
    part_number: int | None = None,
    plaintext_size: int | None = None,
) -> dict[str, Any]:
    stored = b"".join(p if isinstance(p, bytes) else streams[p[0]][p[1] : p[2]] for p in pieces)
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "valid": False,
        "derived_from": base["id"],
        "data_keys": base["data_keys"] if data_keys is None else [k.hex() for k in data_keys],
        "part_number": base["part_number"] if part_number is None else part_number,
        "plaintext_size": base["plaintext_size"] if plaintext_size is None else plaintext_size,
        "stored_length": len(stored),
    }
    if len(stored) <= STREAM_INLINE_LIMIT:
        vector["stored"] = stored.hex()
    else:
        vector["stored_pieces"] = [
            {"hex": p.hex()} if isinstance(p, bytes) else {"vector": p[0], "start": p[1], "end": p[2]} for p in pieces
        ]
    return vector


def _stream_range(plaintext_size: int, layers: int, start: int, end: int) -> dict[str, Any]:
    span = object_stream.span_for_range(plaintext_size, layers, start, end)
    full = STREAM_CHUNK + 16 * layers
    first, last = start // STREAM_CHUNK, end // STREAM_CHUNK
    spec = {
        "offset": 45 + first * full,
        "length": (last - first) * full + min(STREAM_CHUNK, plaintext_size - last * STREAM_CHUNK) + 16 * layers,
        "first_chunk": first,
        "skip": start - first * STREAM_CHUNK,
        "take": end - start + 1,
    }
    if spec != {k: getattr(span, k) for k in spec}:
        raise SystemExit(f"range {start}-{end}: keyhold.crypto and the specification disagree")
    return {"plaintext_size": plaintext_size, "layers": layers, "start": start, "end": end, **spec}


def build_object_stream() -> dict[str, Any]:
    key, outer, other = STREAM_DATA_KEY, STREAM_OUTER_KEY, STREAM_OTHER_KEY
    three_and_tail = 3 * STREAM_CHUNK + 100
    made = [
        _stream_vector(
            "empty",
            "Zero bytes: exactly one empty final chunk (its tag alone), 61 bytes in all.",
            b"",
            [key],
            0,
        ),
        _stream_vector(
            "one-byte", "One byte, one layer, part 0 (a single PUT). The worked example.", b"\x42", [key], 0
        ),
        _stream_vector(
            "one-full-chunk",
            "Exactly 65536 bytes: one full chunk, which is the final one (no empty chunk follows).",
            mod251(STREAM_CHUNK),
            [key],
            0,
            (1000, 30000),
        ),
        _stream_vector(
            "full-chunk-plus-one",
            "65537 bytes: a full non-final chunk, then a 1-byte final chunk.",
            mod251(STREAM_CHUNK + 1),
            [key],
            0,
            (STREAM_CHUNK,),
        ),
        _stream_vector(
            "three-chunks-and-tail",
            "3 * 65536 + 100 bytes: three full chunks and a 100-byte final chunk, written in 1 MiB-style "
            "uneven update() calls.",
            mod251(three_and_tail),
            [key],
            0,
            (1, 70000, 65535, 0),
        ),
        _stream_vector(
            "dual-layer-small",
            "Two layers (aws:kms:dsse): 20 bytes, inner layer under data key 1, outer under data key 2.",
            b"dual-layer plaintext",
            [key, outer],
            0,
        ),
        _stream_vector(
            "dual-layer-two-chunks",
            "Two layers, 65537 bytes: a full chunk stored as 65568 bytes, then a 1-byte final chunk.",
            mod251(STREAM_CHUNK + 1),
            [key, outer],
            0,
            (40000,),
        ),
        _stream_vector(
            "part-7",
            "Part number 7 of a multipart upload, 33 bytes: the part number is in every chunk's AAD.",
            b"part seven of a multipart upload.",
            [key],
            7,
        ),
    ]
    positives = [vector for vector, _ in made]
    streams = {vector["id"]: stored for vector, stored in made}
    by_id = {v["id"]: v for v in positives}
    one, empty = by_id["one-byte"], by_id["empty"]
    full, plus_one, three = by_id["one-full-chunk"], by_id["full-chunk-plus-one"], by_id["three-chunks-and-tail"]
    dual, part7 = by_id["dual-layer-small"], by_id["part-7"]
    one_s, three_s, plus_s, full_s, dual_s = (
        streams["one-byte"],
        streams["three-chunks-and-tail"],
        streams["full-chunk-plus-one"],
        streams["one-full-chunk"],
        streams["dual-layer-small"],
    )
    one_plain = b"\x42"
    c1 = STREAM_CHUNK + 16  # a full single-layer chunk as stored

    one_header = one_s[:45]
    version_2 = one_header[:4] + b"\x02" + one_header[5:]
    magic_khot = b"KHOT" + one_header[4:]
    dual_as_one = dual_s[:5] + b"\x01" + dual_s[6:]
    final_missing = spec_stream_chunk([key], plus_s[:45], 0, 1, 0, mod251(STREAM_CHUNK + 1)[STREAM_CHUNK:])
    extra_chunk = spec_stream_chunk([key], full_s[:45], 0, 1, 1, b"\x00")
    empty_after_final = spec_stream_chunk([key], one_header, 0, 1, 1, b"")
    t, p, d = "three-chunks-and-tail", "full-chunk-plus-one", "one-full-chunk"

    negatives = [
        _stream_negative("tampered-magic", "Byte 0 ('K') changed to 'J'.", one, streams, [flip(one_s, 0)]),
        _stream_negative("wrong-version", "Version byte 0x01 changed to 0x02.", one, streams, [flip(one_s, 4, 0x03)]),
        _stream_negative(
            "wrong-version-valid-tags",
            "Version 0x02 and every chunk sealed again over the changed header: only the version check rejects it.",
            one,
            streams,
            [spec_stream([key], 0, version_2, one_plain)],
        ),
        _stream_negative(
            "wrong-magic-valid-tags",
            "Magic 'KHOT' and every chunk sealed again over the changed header: only the magic check rejects it.",
            one,
            streams,
            [spec_stream([key], 0, magic_khot, one_plain)],
        ),
        _stream_negative(
            "layers-byte-changed",
            "Layer count changed from 1 to 2, opened with one data key: the layer count disagrees with the keys.",
            one,
            streams,
            [flip(one_s, 5, 0x03)],
        ),
        _stream_negative(
            "dual-layer-relabelled-single",
            "A dual-layer stream whose layer byte is changed to 1, opened with the inner data key alone: the "
            "header is accepted, the tags are not.",
            dual,
            streams,
            [dual_as_one],
            data_keys=[key],
        ),
        _stream_negative(
            "tampered-salt", "Lowest bit of byte 6 (first salt byte) flipped.", one, streams, [flip(one_s, 6)]
        ),
        _stream_negative(
            "tampered-salt-last",
            "Highest bit of byte 37 (last salt byte) flipped.",
            one,
            streams,
            [flip(one_s, 37, 0x80)],
        ),
        _stream_negative(
            "tampered-nonce-prefix",
            "Lowest bit of byte 38 (first nonce prefix byte) flipped.",
            one,
            streams,
            [flip(one_s, 38)],
        ),
        _stream_negative(
            "tampered-nonce-prefix-last",
            "Lowest bit of byte 44 (last nonce prefix byte) flipped.",
            one,
            streams,
            [flip(one_s, 44)],
        ),
        _stream_negative(
            "tampered-ciphertext",
            "Lowest bit of byte 45 (the ciphertext byte) flipped.",
            one,
            streams,
            [flip(one_s, 45)],
        ),
        _stream_negative(
            "tampered-tag", "Highest bit of the last byte flipped.", one, streams, [flip(one_s, -1, 0x80)]
        ),
        _stream_negative(
            "tampered-middle-chunk",
            "One bit flipped in the first ciphertext byte of chunk 1 of 4.",
            three,
            streams,
            [(t, 0, 45 + c1), flip(three_s[45 + c1 : 46 + c1], 0), (t, 46 + c1, len(three_s))],
        ),
        _stream_negative(
            "chunks-swapped",
            "Chunks 0 and 1 swapped (both full, so every offset still fits).",
            three,
            streams,
            [(t, 0, 45), (t, 45 + c1, 45 + 2 * c1), (t, 45, 45 + c1), (t, 45 + 2 * c1, len(three_s))],
        ),
        _stream_negative(
            "truncated-at-chunk-boundary",
            "The final chunk dropped and the plaintext size made to match (3 * 65536): chunk 2, now expected to be "
            "final, does not carry the final flag.",
            three,
            streams,
            [(t, 0, 45 + 3 * c1)],
            plaintext_size=3 * STREAM_CHUNK,
        ),
        _stream_negative(
            "truncated-at-chunk-boundary-size-unchanged",
            "The final chunk dropped, the plaintext size left at 3 * 65536 + 100: the final chunk is missing.",
            three,
            streams,
            [(t, 0, 45 + 3 * c1)],
        ),
        _stream_negative("truncated-one-byte", "The last byte removed.", one, streams, [one_s[:-1]]),
        _stream_negative(
            "header-only",
            "An empty stream without its empty final chunk: a plaintext of 0 bytes still needs that chunk's tag.",
            empty,
            streams,
            [streams["empty"][:45]],
        ),
        _stream_negative(
            "final-flag-missing",
            "The 1-byte final chunk sealed again with final flag 0x00 (nonce and AAD), plain AESGCM.",
            plus_one,
            streams,
            [(p, 0, 45 + c1), final_missing],
        ),
        _stream_negative(
            "extended-past-final-chunk",
            "A valid final chunk (1 byte, index 1) appended after the final chunk and the plaintext size made to "
            "match (65537): chunk 0 carries the final flag where a non-final chunk is expected.",
            full,
            streams,
            [(d, 0, len(full_s)), extra_chunk],
            plaintext_size=STREAM_CHUNK + 1,
        ),
        _stream_negative(
            "empty-final-chunk-appended",
            "An empty chunk sealed as final at index 1 appended; plaintext size still 1: bytes follow the final chunk.",
            one,
            streams,
            [one_s, empty_after_final],
        ),
        _stream_negative("trailing-byte", "A zero byte appended.", one, streams, [one_s, b"\x00"]),
        _stream_negative(
            "trailing-bytes-multi-chunk",
            "16 zero bytes appended after the final chunk of a 4-chunk stream.",
            three,
            streams,
            [(t, 0, len(three_s)), bytes(16)],
        ),
        _stream_negative(
            "chunk-from-other-stream",
            "Chunk 0 replaced by chunk 0 of another stream under the same data key and part number (another salt).",
            plus_one,
            streams,
            [(p, 0, 45), (t, 45, 45 + c1), (p, 45 + c1, len(plus_s))],
        ),
        _stream_negative(
            "wrong-part-number", "Part 7's stream opened as part 8.", part7, streams, [streams["part-7"]], part_number=8
        ),
        _stream_negative(
            "part-opened-as-single-put",
            "Part 7's stream opened as part 0 (a single-PUT object).",
            part7,
            streams,
            [streams["part-7"]],
            part_number=0,
        ),
        _stream_negative(
            "dual-layer-opened-with-one-key",
            "A dual-layer stream opened with the inner data key alone: layers (2) and keys (1) disagree.",
            dual,
            streams,
            [dual_s],
            data_keys=[key],
        ),
        _stream_negative(
            "single-layer-opened-with-two-keys",
            "A single-layer stream opened with two data keys.",
            one,
            streams,
            [one_s],
            data_keys=[key, outer],
        ),
        _stream_negative(
            "dual-layer-keys-swapped",
            "A dual-layer stream opened with the outer data key as layer 0 and the inner one as layer 1.",
            dual,
            streams,
            [dual_s],
            data_keys=[outer, key],
        ),
        _stream_negative("wrong-data-key", "Opened with another data key.", one, streams, [one_s], data_keys=[other]),
        _stream_negative(
            "plaintext-size-too-large",
            "Opened with plaintext size 2 instead of 1: the final chunk is expected one byte longer.",
            one,
            streams,
            [one_s],
            plaintext_size=2,
        ),
        _stream_negative(
            "plaintext-size-zero",
            "Opened with plaintext size 0 instead of 1: the final chunk is expected to be empty.",
            one,
            streams,
            [one_s],
            plaintext_size=0,
        ),
    ]
    ranges = [
        _stream_range(three_and_tail, 1, 0, 0),
        _stream_range(three_and_tail, 1, 65535, 65536),
        _stream_range(three_and_tail, 1, 65536, 131071),
        _stream_range(three_and_tail, 1, 100000, 196700),
        _stream_range(three_and_tail, 1, three_and_tail - 1, three_and_tail - 1),
        _stream_range(three_and_tail, 1, 0, three_and_tail - 1),
        _stream_range(STREAM_CHUNK + 1, 2, 65530, 65536),
        _stream_range(STREAM_CHUNK, 1, 0, STREAM_CHUNK - 1),
    ]
    return {
        "format": "Keyhold object-encryption stream",
        "version": 1,
        "specification": "docs/formats/object-encryption.md",
        "provenance": "tests/vectors/PROVENANCE.md",
        "generated_by": "tests/vectors/generate.py",
        "random_source": RANDOM_SOURCE_TEXT,
        "plaintext_generators": {"mod-251": MOD251_TEXT},
        "fields": {
            "data_keys": "the data keys, 32 bytes each, one per layer: [inner] or [inner, outer]",
            "part_number": "0 for a single PUT, 1..10000 for a multipart part",
            "plaintext_size": "the plaintext size the reader knows from metadata",
            "plaintext": "the plaintext (or plaintext_generator and plaintext_sha256 for long ones)",
            "update_sizes": "the sizes of the update() calls through which keyhold.crypto was fed, before one "
            "update() with the rest and finalize(); they do not change the output",
            "random": "the 39 bytes drawn, in order: the 32-byte salt, then the 7-byte nonce prefix",
            "salt": "random[0:32], header[6:38]",
            "nonce_prefix": "random[32:39], header[38:45]",
            "stream_keys": 'K_j = HKDF-SHA256(ikm = data_keys[j], salt = salt, info = "keyhold object-stream v1" '
            "|| u8(j), L = 32), one per layer",
            "header": '"KHOS" || 01 || u8(layers) || salt || nonce_prefix (45 bytes)',
            "chunks": "per chunk: its index, final flag, plaintext and stored offsets and lengths, the nonce, and "
            "the AAD of each layer",
            "stored": "the whole stored stream (header || chunks); when longer than 1024 bytes, a valid vector gives "
            "stored_sha256 instead, and an invalid one stored_pieces",
            "stored_pieces": "the invalid stream as a concatenation of pieces: {vector, start, end} is bytes "
            "start..end-1 of that valid vector's stored stream, {hex} is literal bytes",
            "range_vectors": "span_for_range(plaintext_size, layers, start, end) for the inclusive plaintext range "
            "[start, end]: read length bytes at offset (chunk first_chunk on), decrypt, drop skip bytes, keep take",
        },
        "vectors": positives + negatives,
        "range_vectors": ranges,
    }


# --- object envelope v1 -------------------------------------------------------------------------------------

OBJECT_KEY_DOMAIN = b"keyhold-object-key-v1"
SSE_C_KEK_INFO = b"keyhold sse-c kek v1"
SSE_C_CHECK_LABEL = b"keyhold sse-c key check v1"
BUCKET_KEY_INFO = b"keyhold bucket-key object key v1"
GENERATION_PURPOSE = b"sse-s3-key"
ENV_BUCKET = "example-bucket"
ENV_KEY = "photos/cat.jpg"
ENV_OTHER_BUCKET = "other-bucket"
ENV_OTHER_KEY = "photos/dog.jpg"
ENV_UNICODE_KEY = "fotos/caf\u00e9 \U0001f511.jpg"  # NFC: U+00E9 precomposed
ENV_UNICODE_KEY_NFD = "fotos/cafe\u0301 \U0001f511.jpg"
GENERATION_ID = "0f8e3c52-1d4b-4a6e-9b7c-2e5f8a1d3c70"
GENERATION_KEY = expand(b"keyhold-kat sse-s3 generation key 1", 32)
OTHER_GENERATION_KEY = expand(b"keyhold-kat sse-s3 generation key 2", 32)
CUSTOMER_KEY = expand(b"keyhold-kat sse-c customer key 1", 32)
OTHER_CUSTOMER_KEY = expand(b"keyhold-kat sse-c customer key 2", 32)
BUCKET_KEY = expand(b"keyhold-kat bucket key 1", 32)
ENVELOPE_DATA_KEY = expand(b"keyhold-kat envelope data key 1", 32)
ENVELOPE_OUTER_KEY = expand(b"keyhold-kat envelope data key 2", 32)


def spec_hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def spec_data_key_aad(purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    return spec_fields([OBJECT_KEY_DOMAIN, purpose, *bindings])


def spec_seal_data_key(kek: bytes, nonce: bytes, data_key: bytes, purpose: bytes, bindings: Sequence[bytes]) -> bytes:
    """01 || nonce || AES-256-GCM(kek, nonce, data key, encode_fields("keyhold-object-key-v1", purpose, *bindings))."""
    return bytes([1]) + nonce + AESGCM(kek).encrypt(nonce, data_key, spec_data_key_aad(purpose, bindings))


def spec_customer_check(customer_key: bytes, salt: bytes) -> bytes:
    return hmac.new(customer_key, SSE_C_CHECK_LABEL + salt, hashlib.sha256).digest()


def _where(bucket: str, key: str) -> list[bytes]:
    return [bucket.encode("utf-8"), key.encode("utf-8")]


def _generation_key_vector(vector_id: str, description: str, key_id: str, material: bytes) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    wrapped = RootKey(ROOT_KEY, random=source).wrap(material, GENERATION_PURPOSE, key_id.encode())
    nonce = bytes(source.drawn)
    if wrapped != spec_wrap(ROOT_KEY, nonce, material, GENERATION_PURPOSE, [key_id.encode()]):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "root_key": ROOT_KEY.hex(),
        "key_id": key_id,
        "purpose_text": GENERATION_PURPOSE.decode(),
        "bindings_text": [key_id],
        "generation_key": material.hex(),
        "random": nonce.hex(),
        "aad": spec_fields([b"keyhold-wrap-v1", GENERATION_PURPOSE, key_id.encode()]).hex(),
        "wrapped": wrapped.hex(),
    }


def _customer_key_vector(vector_id: str, description: str, customer_key: bytes) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    salt = object_keys.new_salt(source)
    check = object_keys.customer_key_check(customer_key, salt)
    kek = spec_hkdf(customer_key, salt, SSE_C_KEK_INFO)
    # customer_kek() hands out a sealer, not the key: it must open what the key from the specification seals.
    probe = spec_seal_data_key(kek, bytes(12), bytes(32), b"sse-c", [])
    if (
        salt != bytes(source.drawn)
        or check != spec_customer_check(customer_key, salt)
        or object_keys.customer_kek(customer_key, salt).open(probe, b"sse-c") != bytes(32)
        or not object_keys.customer_key_matches(customer_key, salt, check)
    ):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "customer_key": customer_key.hex(),
        "customer_key_base64": base64.b64encode(customer_key).decode("ascii"),
        "customer_key_md5_base64": base64.b64encode(hashlib.md5(customer_key, usedforsecurity=False).digest()).decode(
            "ascii"
        ),
        "random": salt.hex(),
        "salt": salt.hex(),
        "kek_prk": hmac.new(salt, customer_key, hashlib.sha256).hexdigest(),
        "kek": kek.hex(),
        "check_message": (SSE_C_CHECK_LABEL + salt).hex(),
        "check": check.hex(),
    }


def _bucket_key_vector(vector_id: str, description: str, bucket_key: bytes) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    salt = object_keys.new_salt(source)
    kek = object_keys.derive_object_key(bucket_key, salt)
    if salt != bytes(source.drawn) or kek != spec_hkdf(bucket_key, salt, BUCKET_KEY_INFO):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "bucket_key": bucket_key.hex(),
        "random": salt.hex(),
        "salt": salt.hex(),
        "kek_prk": hmac.new(salt, bucket_key, hashlib.sha256).hexdigest(),
        "kek": kek.hex(),
    }


def _sealed_vector(
    vector_id: str,
    description: str,
    kek: bytes,
    kek_from: str,
    purpose: bytes,
    bindings: Sequence[bytes],
    data_key: bytes,
) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    sealed = object_keys.DataKeySealer(kek, random=source).seal(data_key, purpose, *bindings)
    nonce = bytes(source.drawn)
    if sealed != spec_seal_data_key(kek, nonce, data_key, purpose, bindings) or len(sealed) != 61:
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "valid": True,
        "kek": kek.hex(),
        "kek_from": kek_from,
        "purpose": purpose.hex(),
        "purpose_text": purpose.decode("utf-8"),
        "bindings": [b.hex() for b in bindings],
        "bindings_text": [b.decode("utf-8") for b in bindings],
        "data_key": data_key.hex(),
        "random": nonce.hex(),
        "aad": spec_data_key_aad(purpose, bindings).hex(),
        "sealed": sealed.hex(),
    }


def _sealed_negative(
    vector_id: str,
    description: str,
    base: Mapping[str, Any],
    sealed: bytes,
    *,
    kek: bytes | None = None,
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
        "kek": base["kek"] if kek is None else kek.hex(),
        "purpose": purpose_hex,
        "purpose_text": bytes.fromhex(purpose_hex).decode("utf-8"),
        "bindings": binding_hex,
        "bindings_text": [bytes.fromhex(b).decode("utf-8") for b in binding_hex],
        "sealed": sealed.hex(),
    }


def _check_vector(
    vector_id: str, description: str, customer_key: bytes, salt: bytes, check: bytes, matches: bool
) -> dict[str, Any]:
    if object_keys.customer_key_matches(customer_key, salt, check) is not matches or (
        hmac.compare_digest(spec_customer_check(customer_key, salt), check) is not matches
    ):
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "id": vector_id,
        "description": description,
        "customer_key": customer_key.hex(),
        "salt": salt.hex(),
        "check": check.hex(),
        "matches": matches,
    }


def _kms_wrapped(label: str, plaintext: bytes, context: Mapping[str, str]) -> tuple[dict[str, Any], bytes]:
    """A KMS CiphertextBlob (docs/formats/kms-ciphertext.md) of a data key or bucket key, under the blob vectors'
    material key, as GenerateDataKey returns it."""
    source = CounterRandom(label)
    ctx = encode_context(context)
    blob = kms_blob.seal(
        kms_blob.MaterialKey(MATERIAL_KEY, random=source), KAT_KEY_UUID.bytes, MATERIAL_ID, plaintext, ctx
    )
    drawn = bytes(source.drawn)
    if blob != spec_blob(MATERIAL_KEY, KAT_KEY_UUID.bytes, MATERIAL_ID, drawn[:32], drawn[32:], plaintext, ctx):
        raise SystemExit(f"{label}: keyhold.crypto and the specification disagree")
    record = {
        "random_label": label,
        "material_key": MATERIAL_KEY.hex(),
        "key_id": KAT_KEY_UUID.bytes.hex(),
        "material_id": MATERIAL_ID.hex(),
        "context_encoding": ctx.hex(),
        "random": drawn.hex(),
        "plaintext": plaintext.hex(),
    }
    return record, blob


def _envelope_vector(
    vector_id: str,
    description: str,
    envelope: Envelope,
    data_keys: Sequence[bytes],
    *,
    kms: Mapping[str, Any] | None = None,
    opened_with: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    text = envelope.to_json()
    if Envelope.from_json(text) != envelope:
        raise SystemExit(f"{vector_id}: Envelope.to_json does not round-trip")
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "mode": envelope.mode,
        "bucket": ENV_BUCKET,
        "key": ENV_KEY,
        "json": text,
        "data_keys": [k.hex() for k in data_keys],
        "layers": len(data_keys),
    }
    if opened_with:
        vector["opened_with"] = dict(opened_with)
    if kms is not None:
        vector["kms"] = dict(kms)
    return vector


def build_object_envelope() -> dict[str, Any]:
    where = _where(ENV_BUCKET, ENV_KEY)
    generation = _generation_key_vector(
        "generation-key",
        "An SSE-S3 generation key (s3_sse_keys.wrapped): 32 random bytes wrapped under the root key of "
        "root_key_wrap_v1.json, purpose sse-s3-key, bound to the generation id.",
        GENERATION_ID,
        GENERATION_KEY,
    )
    customer = [
        _customer_key_vector(
            "customer-key",
            "An SSE-C customer key and the salt drawn for one object: the KEK and the stored key check.",
            CUSTOMER_KEY,
        ),
        _customer_key_vector(
            "customer-key-second-object",
            "The same customer key for a second object: another salt, so another KEK and another check.",
            CUSTOMER_KEY,
        ),
    ]
    bucket_keys = [
        _bucket_key_vector(
            "bucket-key-object",
            "A bucket key's plaintext (from KMS) and the salt drawn for one object: that object's KEK.",
            BUCKET_KEY,
        ),
        _bucket_key_vector(
            "bucket-key-second-object",
            "The same bucket key for a second object: another salt, so another KEK.",
            BUCKET_KEY,
        ),
    ]
    cust, cust2 = customer
    bkey, bkey2 = bucket_keys
    customer_kek = bytes.fromhex(cust["kek"])
    bucket_kek = bytes.fromhex(bkey["kek"])
    positives = [
        _sealed_vector(
            "sse-s3",
            "SSE-S3 (AES256): the object's data key sealed under the generation key. The worked example.",
            GENERATION_KEY,
            "generation_key_vectors/generation-key: generation_key",
            b"sse-s3",
            where,
            ENVELOPE_DATA_KEY,
        ),
        _sealed_vector(
            "dsse-outer",
            "DSSE-KMS (aws:kms:dsse): the outer layer's data key sealed under the generation key.",
            GENERATION_KEY,
            "generation_key_vectors/generation-key: generation_key",
            b"dsse-outer",
            where,
            ENVELOPE_OUTER_KEY,
        ),
        _sealed_vector(
            "sse-c",
            "SSE-C: the object's data key sealed under the KEK derived from the customer key and the object's salt.",
            customer_kek,
            "customer_key_vectors/customer-key: kek",
            b"sse-c",
            where,
            ENVELOPE_DATA_KEY,
        ),
        _sealed_vector(
            "bucket-key",
            "SSE-KMS with an S3 Bucket Key: the object's data key sealed under the KEK derived from the bucket key "
            "and the object's salt.",
            bucket_kek,
            "bucket_key_vectors/bucket-key-object: kek",
            b"bucket-key",
            where,
            ENVELOPE_DATA_KEY,
        ),
        _sealed_vector(
            "sse-s3-unicode-key",
            "SSE-S3 for an object key with non-ASCII characters (NFC): the binding is its UTF-8 bytes.",
            GENERATION_KEY,
            "generation_key_vectors/generation-key: generation_key",
            b"sse-s3",
            _where(ENV_BUCKET, ENV_UNICODE_KEY),
            ENVELOPE_DATA_KEY,
        ),
    ]
    by_id = {v["id"]: v for v in positives}
    s3 = by_id["sse-s3"]
    outer = by_id["dsse-outer"]
    ssec = by_id["sse-c"]
    bk = by_id["bucket-key"]
    uni = by_id["sse-s3-unicode-key"]
    s3_sealed = bytes.fromhex(s3["sealed"])
    outer_sealed = bytes.fromhex(outer["sealed"])
    ssec_sealed = bytes.fromhex(ssec["sealed"])
    bk_sealed = bytes.fromhex(bk["sealed"])
    other_customer_kek = spec_hkdf(OTHER_CUSTOMER_KEY, bytes.fromhex(cust["salt"]), SSE_C_KEK_INFO)
    wrap_domain = spec_wrap(GENERATION_KEY, bytes.fromhex(s3["random"]), ENVELOPE_DATA_KEY, b"sse-s3", where)
    negatives = [
        _sealed_negative(
            "wrong-purpose-dsse-outer",
            "An SSE-S3 data key opened as a DSSE outer key.",
            s3,
            s3_sealed,
            purpose=b"dsse-outer",
        ),
        _sealed_negative(
            "wrong-purpose-sse-s3",
            "A DSSE outer key opened as an SSE-S3 data key.",
            outer,
            outer_sealed,
            purpose=b"sse-s3",
        ),
        _sealed_negative(
            "wrong-purpose-bucket-key-as-sse-c",
            "A bucket-key sealed data key opened as SSE-C under the same KEK.",
            bk,
            bk_sealed,
            purpose=b"sse-c",
        ),
        _sealed_negative(
            "other-bucket",
            "Moved to the same key in another bucket.",
            s3,
            s3_sealed,
            bindings=_where(ENV_OTHER_BUCKET, ENV_KEY),
        ),
        _sealed_negative(
            "other-key",
            "Moved to another key in the same bucket.",
            s3,
            s3_sealed,
            bindings=_where(ENV_BUCKET, ENV_OTHER_KEY),
        ),
        _sealed_negative(
            "sse-c-other-key",
            "An SSE-C sealed key moved to another object key.",
            ssec,
            ssec_sealed,
            bindings=_where(ENV_BUCKET, ENV_OTHER_KEY),
        ),
        _sealed_negative(
            "bucket-key-other-bucket",
            "A bucket-key sealed key moved to another bucket.",
            bk,
            bk_sealed,
            bindings=_where(ENV_OTHER_BUCKET, ENV_KEY),
        ),
        _sealed_negative(
            "bindings-swapped",
            "Bucket and key given in the other order.",
            s3,
            s3_sealed,
            bindings=[ENV_KEY.encode(), ENV_BUCKET.encode()],
        ),
        _sealed_negative(
            "binding-missing", "The object key binding left out.", s3, s3_sealed, bindings=[ENV_BUCKET.encode()]
        ),
        _sealed_negative(
            "bindings-joined",
            'One binding "example-bucket/photos/cat.jpg" instead of two: bindings are length-prefixed fields.',
            s3,
            s3_sealed,
            bindings=[f"{ENV_BUCKET}/{ENV_KEY}".encode()],
        ),
        _sealed_negative(
            "unicode-key-nfd",
            "The non-ASCII key given in NFD ('e' + U+0301): no Unicode normalization is applied.",
            uni,
            bytes.fromhex(uni["sealed"]),
            bindings=_where(ENV_BUCKET, ENV_UNICODE_KEY_NFD),
        ),
        _sealed_negative(
            "other-generation-key",
            "Opened with another SSE-S3 generation key.",
            s3,
            s3_sealed,
            kek=OTHER_GENERATION_KEY,
        ),
        _sealed_negative(
            "sse-c-wrong-customer-key",
            "Opened under the KEK derived from another customer key and the same salt.",
            ssec,
            ssec_sealed,
            kek=other_customer_kek,
        ),
        _sealed_negative(
            "sse-c-other-salt",
            "Opened under the KEK derived from the right customer key and another object's salt.",
            ssec,
            ssec_sealed,
            kek=bytes.fromhex(cust2["kek"]),
        ),
        _sealed_negative(
            "bucket-key-other-salt",
            "Opened under the KEK derived from the right bucket key and another object's salt.",
            bk,
            bk_sealed,
            kek=bytes.fromhex(bkey2["kek"]),
        ),
        _sealed_negative(
            "bucket-key-used-directly",
            "Opened under the bucket key itself instead of the KEK derived from it.",
            bk,
            bk_sealed,
            kek=BUCKET_KEY,
        ),
        _sealed_negative(
            "root-wrap-domain",
            'The same bytes sealed with the root-key wrapping AAD (domain "keyhold-wrap-v1"), same key, nonce, '
            "purpose and bindings: the domain label separates the two formats.",
            s3,
            wrap_domain,
        ),
        _sealed_negative(
            "version-0x00",
            "Version byte changed to 0x00 (the tag stays valid: only the version check rejects it).",
            s3,
            b"\x00" + s3_sealed[1:],
        ),
        _sealed_negative(
            "version-0x02",
            "Version byte changed to 0x02 (the tag stays valid: only the version check rejects it).",
            s3,
            b"\x02" + s3_sealed[1:],
        ),
        _sealed_negative("tampered-nonce", "Lowest bit of byte 1 (first nonce byte) flipped.", s3, flip(s3_sealed, 1)),
        _sealed_negative(
            "tampered-nonce-last", "Highest bit of byte 12 (last nonce byte) flipped.", s3, flip(s3_sealed, 12, 0x80)
        ),
        _sealed_negative(
            "tampered-ciphertext", "Lowest bit of byte 13 (first ciphertext byte) flipped.", s3, flip(s3_sealed, 13)
        ),
        _sealed_negative(
            "tampered-ciphertext-last",
            "Lowest bit of byte 44 (last ciphertext byte) flipped.",
            s3,
            flip(s3_sealed, 44),
        ),
        _sealed_negative("tampered-tag", "Highest bit of the last byte flipped.", s3, flip(s3_sealed, -1, 0x80)),
        _sealed_negative("truncated-one-byte", "The last byte removed: 60 bytes.", s3, s3_sealed[:-1]),
        _sealed_negative("truncated-to-version", "The version byte alone.", s3, s3_sealed[:1]),
        _sealed_negative("extended-one-byte", "A zero byte appended: 62 bytes.", s3, s3_sealed + b"\x00"),
        _sealed_negative("empty", "No bytes at all.", s3, b""),
    ]
    salt1, salt2 = bytes.fromhex(cust["salt"]), bytes.fromhex(cust2["salt"])
    check1 = bytes.fromhex(cust["check"])
    checks = [
        _check_vector("right-key", "The customer key the check was made with.", CUSTOMER_KEY, salt1, check1, True),
        _check_vector("other-key", "Another customer key.", OTHER_CUSTOMER_KEY, salt1, check1, False),
        _check_vector(
            "other-salt",
            "The right key with the salt of another object (its check unchanged).",
            CUSTOMER_KEY,
            salt2,
            check1,
            False,
        ),
        _check_vector(
            "check-bit-flipped", "One bit of the stored check flipped.", CUSTOMER_KEY, salt1, flip(check1, 0), False
        ),
        _check_vector("check-truncated", "The stored check cut to 31 bytes.", CUSTOMER_KEY, salt1, check1[:-1], False),
        _check_vector("check-empty", "An empty stored check.", CUSTOMER_KEY, salt1, b"", False),
        _check_vector(
            "check-is-key-md5",
            "The MD5 of the customer key (what the request carries) in place of the check: never accepted.",
            CUSTOMER_KEY,
            salt1,
            hashlib.md5(CUSTOMER_KEY, usedforsecurity=False).digest(),
            False,
        ),
    ]
    object_arn = f"arn:aws:s3:::{ENV_BUCKET}/{ENV_KEY}"
    bucket_arn = f"arn:aws:s3:::{ENV_BUCKET}"
    kms_context = {"aws:s3:arn": object_arn}
    kms_record, kms_blob_bytes = _kms_wrapped("envelope-sse-kms/kms", ENVELOPE_DATA_KEY, kms_context)
    bucket_context = {"aws:s3:arn": bucket_arn}
    bucket_record, bucket_blob = _kms_wrapped("envelope-sse-kms-bucket-key/kms", BUCKET_KEY, bucket_context)
    dsse_context = {"department": "finance", "aws:s3:arn": object_arn}
    dsse_record, dsse_blob = _kms_wrapped("envelope-dsse/kms", ENVELOPE_DATA_KEY, dsse_context)
    envelopes = [
        _envelope_vector("envelope-none", "No server-side encryption: no data keys.", Envelope(), []),
        _envelope_vector(
            "envelope-sse-s3",
            "SSE-S3: the generation id and the sealed data key of vector sse-s3.",
            Envelope(mode=SSE_S3, s3_key_id=GENERATION_ID, s3_wrapped=s3_sealed),
            [ENVELOPE_DATA_KEY],
            opened_with={"generation_key_vector": "generation-key"},
        ),
        _envelope_vector(
            "envelope-sse-kms",
            "SSE-KMS without a bucket key: the CiphertextBlob of GenerateDataKey under the object's ARN as context.",
            Envelope(mode=SSE_KMS, kms_key_arn=KAT_KEY_ARN, context=kms_context, kms_wrapped=kms_blob_bytes),
            [ENVELOPE_DATA_KEY],
            kms=kms_record,
        ),
        _envelope_vector(
            "envelope-sse-kms-bucket-key",
            "SSE-KMS with an S3 Bucket Key: the bucket key's CiphertextBlob (context: the bucket's ARN), the "
            "object's salt (vector bucket-key-object) and the sealed data key of vector bucket-key.",
            Envelope(
                mode=SSE_KMS,
                kms_key_arn=KAT_KEY_ARN,
                context=bucket_context,
                kms_wrapped=bucket_blob,
                bucket_key=True,
                salt=bytes.fromhex(bkey["salt"]),
                sealed_key=bk_sealed,
            ),
            [ENVELOPE_DATA_KEY],
            kms=bucket_record,
        ),
        _envelope_vector(
            "envelope-dsse",
            "DSSE-KMS with a caller's context: the inner data key's CiphertextBlob, and the outer data key of "
            "vector dsse-outer sealed under the generation key.",
            Envelope(
                mode=SSE_KMS_DSSE,
                kms_key_arn=KAT_KEY_ARN,
                context=dsse_context,
                kms_wrapped=dsse_blob,
                s3_key_id=GENERATION_ID,
                s3_wrapped=outer_sealed,
            ),
            [ENVELOPE_DATA_KEY, ENVELOPE_OUTER_KEY],
            kms=dsse_record,
            opened_with={"generation_key_vector": "generation-key"},
        ),
        _envelope_vector(
            "envelope-sse-c",
            "SSE-C: the salt and key check of vector customer-key and the sealed data key of vector sse-c.",
            Envelope(mode=SSE_C, salt=salt1, customer_key_check=check1, sealed_key=ssec_sealed),
            [ENVELOPE_DATA_KEY],
            opened_with={"customer_key_vector": "customer-key"},
        ),
    ]
    s3_json = json.loads(envelopes[1]["json"])
    refused = [
        {
            "id": f"version-{name}",
            "description": description,
            "json": json.dumps(doc, sort_keys=True, separators=(",", ":")),
        }
        for name, description, doc in [
            ("2", 'An SSE-S3 envelope with "v": 2.', {**s3_json, "v": 2}),
            ("0", 'An SSE-S3 envelope with "v": 0.', {**s3_json, "v": 0}),
            ("missing", 'An SSE-S3 envelope without "v".', {k: v for k, v in s3_json.items() if k != "v"}),
            ("string", 'An SSE-S3 envelope with "v": "1" (a string, not the number 1).', {**s3_json, "v": "1"}),
            ("null", 'An SSE-S3 envelope with "v": null.', {**s3_json, "v": None}),
        ]
    ]
    return {
        "format": "Keyhold object envelope (sealed data keys and the stored JSON envelope)",
        "version": 1,
        "specification": "docs/formats/object-envelope.md",
        "provenance": "tests/vectors/PROVENANCE.md",
        "generated_by": "tests/vectors/generate.py",
        "random_source": RANDOM_SOURCE_TEXT,
        "fields": {
            "generation_key_vectors": "SSE-S3 generation keys wrapped under the root key "
            "(docs/formats/root-key-wrapping.md): purpose sse-s3-key, one binding: the generation id as text",
            "customer_key_vectors": "SSE-C: salt = the 32 bytes drawn; kek = HKDF-SHA256(ikm = customer_key, salt, "
            'info = "keyhold sse-c kek v1", L = 32), kek_prk = its HKDF-Extract step; check = '
            'HMAC-SHA256(key = customer_key, msg = "keyhold sse-c key check v1" || salt) (check_message); '
            "customer_key_base64 and customer_key_md5_base64 are what a client sends, neither is stored",
            "bucket_key_vectors": "bucket keys: salt = the 32 bytes drawn; kek = HKDF-SHA256(ikm = bucket_key, salt, "
            'info = "keyhold bucket-key object key v1", L = 32), kek_prk = its HKDF-Extract step',
            "vectors": "sealed data keys: kek (kek_from says which vector it comes from), purpose and bindings "
            "(hex; *_text: the same bytes as UTF-8 text), data_key, random (the 12-byte nonce drawn), "
            'aad = encode_fields("keyhold-object-key-v1", purpose, *bindings), sealed = 01 || nonce || ciphertext '
            "|| tag (61 bytes); if valid is false, DataKeySealer(kek).open(sealed, purpose, *bindings) must fail",
            "customer_key_check_vectors": "customer_key_matches(customer_key, salt, check) must equal matches",
            "envelope_vectors": "Envelope.to_json() of one object per mode (json); bucket and key are the object's; "
            "data_keys are what opening it yields (inner first), layers their number; kms is the KMS blob "
            "(docs/formats/kms-ciphertext.md) with its material key, context_encoding and random bytes; "
            "opened_with names the vector holding the generation key or customer key",
            "envelope_json_refused": "stored envelopes that Envelope.from_json must refuse (ValueError)",
        },
        "generation_key_vectors": [generation],
        "customer_key_vectors": customer,
        "bucket_key_vectors": bucket_keys,
        "vectors": positives + negatives,
        "customer_key_check_vectors": checks,
        "envelope_vectors": envelopes,
        "envelope_json_refused": refused,
    }


# --- output -------------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "kms_ciphertext_v1.json": build_kms_ciphertext,
    "encryption_context.json": build_encryption_context,
    "root_key_wrap_v1.json": build_root_key_wrap,
    "object_stream_v1.json": build_object_stream,
    "object_envelope_v1.json": build_object_envelope,
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
