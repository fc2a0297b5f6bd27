"""Canonical, injective byte encodings used as associated data.

``encode_fields`` length-prefixes each field, so no two different field lists encode to the same bytes.
``encode_context`` encodes an encryption context (a string-to-string map): the pairs sorted by the UTF-8 bytes
of their keys, each key and value length-prefixed, the whole prefixed by the pair count. ``{"ab": "c"}`` and
``{"a": "bc"}`` therefore differ, and the order in which a caller lists the pairs does not matter.
See docs/formats/encryption-context.md.
"""

import struct
from collections.abc import Mapping

_U32 = struct.Struct(">I")


def encode_fields(*fields: bytes) -> bytes:
    """u32 count || (u32 length || bytes) for each field."""
    parts = [_U32.pack(len(fields))]
    for field in fields:
        parts.append(_U32.pack(len(field)))
        parts.append(field)
    return b"".join(parts)


def encode_context(context: Mapping[str, str]) -> bytes:
    """The canonical encoding of an encryption context; the empty context encodes as four zero bytes."""
    pairs = sorted((key.encode("utf-8"), value.encode("utf-8")) for key, value in context.items())
    parts = [_U32.pack(len(pairs))]
    for key, value in pairs:
        parts.append(_U32.pack(len(key)))
        parts.append(key)
        parts.append(_U32.pack(len(value)))
        parts.append(value)
    return b"".join(parts)
