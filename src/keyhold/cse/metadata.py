"""S3EC object metadata, V2 and V3: build it for a put, parse and check it on a get.

The keys are S3 user metadata without the ``x-amz-meta-`` prefix (S3 adds it on the wire). Values are written
exactly as AWS's Python S3EC 4.0 writes them (JSON via ``json.dumps`` defaults, standard base64). Parsing
applies the exclusivity rules (one of ``x-amz-key``, ``x-amz-key-v2``, ``x-amz-3``; no V3 content keys beside V2
keys) and decodes RFC 2047 encoded-words, which S3 uses for non-ASCII metadata values.

Instruction files (``<key>.instruction``, body = JSON object of metadata keys to string values) hold the data key
when the object's metadata does not: V1/V2 put every key there, V3 keeps ``x-amz-c``, ``x-amz-d`` and ``x-amz-i``
on the object and puts the rest in the file. ``split_for_instruction_file`` and ``merge_instruction_file``
handle both directions.
"""

import base64
import binascii
import email.errors
import email.header
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from keyhold.crypto import s3ec
from keyhold.cse.errors import NotEncrypted, TamperedObject, UnsupportedFormat

# V1/V2 keys
KEY_V1 = "x-amz-key"
KEY_V2 = "x-amz-key-v2"
IV = "x-amz-iv"
CEK_ALG = "x-amz-cek-alg"
TAG_LEN = "x-amz-tag-len"
WRAP_ALG = "x-amz-wrap-alg"
MATDESC = "x-amz-matdesc"
UNENCRYPTED_LENGTH = "x-amz-unencrypted-content-length"
# V3 keys (compressed names)
V3_CEK_ALG = "x-amz-c"
KEY_V3 = "x-amz-3"
V3_WRAP_ALG = "x-amz-w"
V3_MATDESC = "x-amz-m"
V3_CONTEXT = "x-amz-t"
V3_COMMITMENT = "x-amz-d"
V3_MESSAGE_ID = "x-amz-i"
INSTRUCTION_FILE_MARKER = "x-amz-crypto-instr-file"
"""User metadata (value ``""``) of an instruction file object, as AWS's Java client v3+ writes it."""
INSTRUCTION_SUFFIX = ".instruction"

RESERVED_KEYS = frozenset(
    {
        KEY_V1, KEY_V2, IV, CEK_ALG, TAG_LEN, WRAP_ALG, MATDESC, UNENCRYPTED_LENGTH,
        V3_CEK_ALG, KEY_V3, V3_WRAP_ALG, V3_MATDESC, V3_CONTEXT, V3_COMMITMENT, V3_MESSAGE_ID,
        INSTRUCTION_FILE_MARKER,
    }
)  # fmt: skip
"""Metadata keys the S3EC formats own; a caller may not set them on put."""

KMS_CONTEXT = "kms+context"
AES_GCM = "AES/GCM"
RSA_OAEP_SHA1 = "RSA-OAEP-SHA1"
WRAP_ALGS = (KMS_CONTEXT, AES_GCM, RSA_OAEP_SHA1)
LEGACY_WRAP_ALGS = ("kms", "AESWrap", "AES", "RSA", "RSA/ECB/OAEPWithSHA-256AndMGF1Padding")
V3_WRAP_CODES = {AES_GCM: "02", KMS_CONTEXT: "12", RSA_OAEP_SHA1: "22"}
V3_WRAP_NAMES = {code: name for name, code in V3_WRAP_CODES.items()}
CBC_CEK_ALG = "AES/CBC/PKCS5Padding"
V1_V2_CONTENT_KEYS = (IV, CEK_ALG, TAG_LEN, WRAP_ALG, MATDESC)
"""V1/V2 keys besides the data key: all in the object metadata or all in the instruction file.
(``x-amz-unencrypted-content-length`` may be in either: Keyhold keeps it on the object, because AWS's Python
client refuses instruction files holding keys it does not know.)"""
V3_OBJECT_KEYS = (V3_CEK_ALG, V3_COMMITMENT, V3_MESSAGE_ID)
"""V3 keys that stay in the object metadata when an instruction file is used (never in the file)."""
V3_INSTRUCTION_KEYS = (KEY_V3, V3_WRAP_ALG, V3_MATDESC, V3_CONTEXT)
"""V3 keys that move to the instruction file."""
GCM_TAG_BITS = str(s3ec.TAG_SIZE * 8)


@dataclass(frozen=True, slots=True)
class ContentMetadata:
    """An object's parsed encryption metadata, one shape for both versions."""

    version: Literal[2, 3]
    wrap_alg: str
    """Canonical wrap name: ``kms+context``, ``AES/GCM`` or ``RSA-OAEP-SHA1``."""
    encrypted_data_key: bytes
    cek_alg: str
    """``AES/GCM/NoPadding`` (V2) or ``115`` (V3)."""
    stored_context: dict[str, str] = field(default_factory=dict)
    """The KMS encryption context (kms+context) or the material description (raw keyrings)."""
    iv: bytes = b""
    message_id: bytes = b""
    commitment: bytes = b""
    plaintext_length: int | None = None


def _json(mapping: Mapping[str, str]) -> str:
    return json.dumps(dict(mapping))  # the official Python client's exact bytes (", " and ": " separators)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_v2(
    *, wrap_alg: str, encrypted_data_key: bytes, iv: bytes, stored_context: Mapping[str, str], plaintext_length: int
) -> dict[str, str]:
    """V2 metadata: the official client's keys in its order, plus ``x-amz-unencrypted-content-length``."""
    if wrap_alg not in WRAP_ALGS:
        raise ValueError(f"unknown wrap algorithm {wrap_alg!r}")
    return {
        KEY_V2: _b64(encrypted_data_key),
        WRAP_ALG: wrap_alg,
        MATDESC: _json(stored_context),
        IV: _b64(iv),
        CEK_ALG: s3ec.V2_CEK_ALG,
        TAG_LEN: GCM_TAG_BITS,
        UNENCRYPTED_LENGTH: str(plaintext_length),
    }


def build_v3(
    *, wrap_alg: str, encrypted_data_key: bytes, header: s3ec.V3Header, stored_context: Mapping[str, str]
) -> dict[str, str]:
    """V3 metadata: ``x-amz-c``, ``x-amz-3``, ``x-amz-t`` (KMS) or ``x-amz-m`` (raw), ``x-amz-w``, ``x-amz-d``,
    ``x-amz-i`` and nothing else."""
    context_key = V3_CONTEXT if wrap_alg == KMS_CONTEXT else V3_MATDESC
    return {
        V3_CEK_ALG: s3ec.V3_CEK_ALG,
        KEY_V3: _b64(encrypted_data_key),
        context_key: _json(stored_context),
        V3_WRAP_ALG: V3_WRAP_CODES[wrap_alg],
        V3_COMMITMENT: _b64(header.commitment),
        V3_MESSAGE_ID: _b64(header.message_id),
    }


# -- parsing -----------------------------------------------------------------------------------------------------


def decode_rfc2047(value: str) -> str:
    """A metadata value with RFC 2047 encoded-words (``=?UTF-8?B?...?=``) decoded; other values unchanged."""
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
        return "".join(part.decode(charset or "ascii") if isinstance(part, bytes) else part for part, charset in parts)
    except (email.errors.HeaderParseError, LookupError, UnicodeDecodeError) as exc:
        raise TamperedObject(f"undecodable RFC 2047 metadata value {value!r}") from exc


def _decode_b64(metadata: Mapping[str, str], key: str, size: int | None = None) -> bytes:
    try:
        data = base64.b64decode(metadata[key], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TamperedObject(f"metadata {key} is not valid base64") from exc
    if size is not None and len(data) != size:
        raise TamperedObject(f"metadata {key} must hold {size} bytes, not {len(data)}")
    if not data:
        raise TamperedObject(f"metadata {key} is empty")
    return data


def _decode_context(metadata: Mapping[str, str], key: str) -> dict[str, str]:
    raw = metadata.get(key)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise TamperedObject(f"metadata {key} is not JSON") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TamperedObject(f"metadata {key} must be a JSON object of strings")
    return value


def _require(metadata: Mapping[str, str], *keys: str) -> None:
    missing = [key for key in keys if key not in metadata]
    if missing:
        raise TamperedObject(f"incomplete S3EC metadata: missing {', '.join(missing)}")


def normalize(raw: Mapping[str, str]) -> dict[str, str]:
    """Object user metadata with lower-case keys and RFC 2047 values decoded."""
    return {key.lower(): decode_rfc2047(value) for key, value in raw.items()}


InstructionFileUse = Literal["required", "optional"]


def instruction_file_use(raw: Mapping[str, str]) -> InstructionFileUse | None:
    """Whether an object with this user metadata keeps its data key in an instruction file: ``None`` (it has a
    data key of its own), ``"required"`` (it has V3's ``x-amz-c``/``-d``/``-i`` or a plaintext length, so a
    missing file means tampering) or ``"optional"`` (no encryption metadata at all: without a file the object is
    simply not encrypted). Raises ``TamperedObject`` for metadata that no writer leaves beside an instruction
    file (V1/V2 content keys, or V3 keys that belong in the file)."""
    return _instruction_file_use(normalize(raw))


def _instruction_file_use(metadata: Mapping[str, str]) -> InstructionFileUse | None:
    if any(key in metadata for key in (KEY_V1, KEY_V2, KEY_V3)):
        return None
    if any(key in metadata for key in V1_V2_CONTENT_KEYS):
        # V1/V2 instruction files hold every key, so content keys without a data key are never legitimate.
        raise TamperedObject("V1/V2 content metadata without a data key")
    misplaced = [key for key in V3_INSTRUCTION_KEYS if key in metadata]
    if misplaced:
        raise TamperedObject(f"V3 metadata without a data key holds {', '.join(misplaced)}")
    if any(key in metadata for key in (*V3_OBJECT_KEYS, UNENCRYPTED_LENGTH)):
        return "required"
    return "optional"


def split_for_instruction_file(encryption_metadata: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
    """Split metadata built by ``build_v2``/``build_v3`` into what stays on the object and the instruction file's
    body: V3 keeps ``x-amz-c``/``-d``/``-i``; V2 keeps only ``x-amz-unencrypted-content-length``."""
    if KEY_V3 in encryption_metadata:
        moved: tuple[str, ...] = V3_INSTRUCTION_KEYS
    else:
        moved = (KEY_V2, *V1_V2_CONTENT_KEYS)
    on_object = {key: value for key, value in encryption_metadata.items() if key not in moved}
    in_file = {key: value for key, value in encryption_metadata.items() if key in moved}
    return on_object, _json(in_file).encode("utf-8")


def _merge_instruction_file(metadata: Mapping[str, str], instruction_file: bytes) -> dict[str, str]:
    use = _instruction_file_use(metadata)
    if use is None:
        raise TamperedObject("the object's metadata holds a data key; an instruction file is not expected")
    try:
        content = json.loads(instruction_file)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TamperedObject("the instruction file is not JSON") from exc
    if not isinstance(content, dict) or not all(isinstance(v, str) for v in content.values()):
        raise TamperedObject("the instruction file must be a JSON object of strings")
    content.pop(INSTRUCTION_FILE_MARKER, None)
    unknown = sorted(key for key in content if key not in RESERVED_KEYS)
    if unknown:
        raise TamperedObject(f"the instruction file holds keys that are not S3EC metadata: {', '.join(unknown)}")
    forbidden = [key for key in V3_OBJECT_KEYS if key in content]
    if forbidden:  # V3 keeps them on the object; in a file they are always a tampering (AWS's clients agree)
        raise TamperedObject(f"the instruction file holds V3 object-only keys: {', '.join(forbidden)}")
    both = sorted(key for key in content if key in metadata)
    if both:
        raise TamperedObject(f"keys both in the object metadata and in the instruction file: {', '.join(both)}")
    if not content:
        raise TamperedObject("the instruction file is empty")
    return {**metadata, **content}


def parse(raw: Mapping[str, str], instruction_file: bytes | None = None) -> ContentMetadata:
    """Parse and check an object's user metadata (keys as boto3 returns them, without ``x-amz-meta-``), merged
    with the body of its instruction file when given."""
    metadata = normalize(raw)
    if instruction_file is not None:
        metadata = _merge_instruction_file(metadata, instruction_file)
    present = [key for key in (KEY_V1, KEY_V2, KEY_V3) if key in metadata]
    if len(present) > 1:
        raise TamperedObject(f"metadata holds keys of more than one format version: {', '.join(present)}")
    if not present:
        if _instruction_file_use(metadata) == "required":
            raise TamperedObject("the object's data key is in an instruction file, which is missing")
        raise NotEncrypted("the object has no S3 Encryption Client metadata and no instruction file")
    if present[0] == KEY_V1:
        raise UnsupportedFormat("V1 objects (x-amz-key, AES/CBC) are legacy and not read by this client")
    if present[0] == KEY_V2:
        return _parse_v2(metadata)
    return _parse_v3(metadata)


def _parse_v2(metadata: Mapping[str, str]) -> ContentMetadata:
    stray = [key for key in (V3_CEK_ALG, V3_COMMITMENT, V3_MESSAGE_ID, V3_WRAP_ALG) if key in metadata]
    if stray:
        raise TamperedObject(f"V2 metadata mixed with V3 keys: {', '.join(stray)}")
    _require(metadata, IV, CEK_ALG, WRAP_ALG)
    cek_alg = metadata[CEK_ALG]
    if cek_alg == CBC_CEK_ALG:
        raise UnsupportedFormat("AES/CBC content is legacy and unauthenticated; not read by this client")
    if cek_alg != s3ec.V2_CEK_ALG:
        raise UnsupportedFormat(f"unknown V2 content algorithm {cek_alg!r}")
    if metadata.get(TAG_LEN, GCM_TAG_BITS) != GCM_TAG_BITS:
        raise TamperedObject(f"{TAG_LEN} must be {GCM_TAG_BITS} for AES/GCM")
    wrap_alg = metadata[WRAP_ALG]
    _check_wrap(wrap_alg)
    length: int | None = None
    if UNENCRYPTED_LENGTH in metadata:
        text = metadata[UNENCRYPTED_LENGTH]
        if not text.isascii() or not text.isdigit():
            raise TamperedObject(f"{UNENCRYPTED_LENGTH} is not a length")
        length = int(text)
    return ContentMetadata(
        version=2,
        wrap_alg=wrap_alg,
        encrypted_data_key=_decode_b64(metadata, KEY_V2),
        cek_alg=cek_alg,
        stored_context=_decode_context(metadata, MATDESC),
        iv=_decode_b64(metadata, IV, s3ec.V2_IV_SIZE),
        plaintext_length=length,
    )


def _check_wrap(wrap_alg: str) -> None:
    if wrap_alg in LEGACY_WRAP_ALGS:
        raise UnsupportedFormat(f"legacy key wrap {wrap_alg!r} is not read by this client")
    if wrap_alg not in WRAP_ALGS:
        raise UnsupportedFormat(f"unknown key wrap algorithm {wrap_alg!r}")


def _parse_v3(metadata: Mapping[str, str]) -> ContentMetadata:
    _require(metadata, V3_CEK_ALG, V3_WRAP_ALG, V3_COMMITMENT, V3_MESSAGE_ID)
    if metadata[V3_CEK_ALG] != s3ec.V3_CEK_ALG:
        raise UnsupportedFormat(f"unknown V3 content algorithm {metadata[V3_CEK_ALG]!r}")
    code = metadata[V3_WRAP_ALG]
    if code not in V3_WRAP_NAMES:
        raise UnsupportedFormat(f"unknown V3 key wrap code {code!r}")
    wrap_alg = V3_WRAP_NAMES[code]
    return ContentMetadata(
        version=3,
        wrap_alg=wrap_alg,
        encrypted_data_key=_decode_b64(metadata, KEY_V3),
        cek_alg=s3ec.V3_CEK_ALG,
        stored_context=_decode_context(metadata, V3_CONTEXT if wrap_alg == KMS_CONTEXT else V3_MATDESC),
        message_id=_decode_b64(metadata, V3_MESSAGE_ID, s3ec.V3_MESSAGE_ID_SIZE),
        commitment=_decode_b64(metadata, V3_COMMITMENT, s3ec.V3_COMMITMENT_SIZE),
    )
