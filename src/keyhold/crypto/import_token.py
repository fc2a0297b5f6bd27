"""The ImportToken of GetParametersForImport (format version 1): stateless and authenticated.

Layout (big-endian; docs/formats/import-token.md has the specification and a known-answer vector)::

    offset  size  field
    0       4     magic "KHIT"
    4       1     format version, 0x01
    5       16    key id: the KMS key's UUID, binary
    21      1     wrapping algorithm: 1 RSAES_OAEP_SHA_1, 2 RSAES_OAEP_SHA_256, 3 RSA_AES_KEY_WRAP_SHA_1,
                  4 RSA_AES_KEY_WRAP_SHA_256
    22      1     wrapping key spec: 1 RSA_2048, 2 RSA_3072, 3 RSA_4096
    23      8     valid to: milliseconds since the Unix epoch (ParametersValidTo)
    31      n     the wrapping private key (PKCS#8 DER) wrapped under the root key (root-key wrapping v1) with
                  purpose "kms-import-token" and bindings (1) the KMS key's ARN, (2) bytes 0..30 of the token

Nothing is stored server-side: the token carries its own RSA private key, sealed under the root key, and every
header byte is bound into that seal, so a token that was altered anywhere, or is presented for another key (whose
ARN is another binding), fails to open with the one opaque InvalidCiphertext. Whether it has expired is the key
service's decision (``valid_to_ms``), made only after the token authenticated.
"""

import struct
from dataclasses import dataclass, field
from typing import Final

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey

MAGIC: Final = b"KHIT"
VERSION: Final = 1
PURPOSE: Final = b"kms-import-token"
ALGORITHM_CODES: Final[dict[str, int]] = {
    "RSAES_OAEP_SHA_1": 1,
    "RSAES_OAEP_SHA_256": 2,
    "RSA_AES_KEY_WRAP_SHA_1": 3,
    "RSA_AES_KEY_WRAP_SHA_256": 4,
}
KEY_SPEC_CODES: Final[dict[str, int]] = {"RSA_2048": 1, "RSA_3072": 2, "RSA_4096": 3}
_HEADER: Final = struct.Struct(">4sB16sBBQ")
HEADER_SIZE: Final = _HEADER.size  # 31
_MIN_WRAPPED: Final = 1 + 12 + 16  # root-key wrapping v1 of an empty secret
_ALGORITHMS: Final = {code: name for name, code in ALGORITHM_CODES.items()}
_KEY_SPECS: Final = {code: name for name, code in KEY_SPEC_CODES.items()}


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """What an authentic token says: for which key, how the material is wrapped, until when, and the wrapping
    private key (PKCS#8 DER) that unwraps it."""

    key_id: bytes
    wrapping_algorithm: str
    wrapping_key_spec: str
    valid_to_ms: int
    private_key: bytes = field(repr=False)


def seal(
    root_key: RootKey,
    key_arn: str,
    key_id: bytes,
    wrapping_algorithm: str,
    wrapping_key_spec: str,
    valid_to_ms: int,
    private_key: bytes,
) -> bytes:
    """A v1 token. ValueError for a key id other than 16 bytes or an unknown algorithm or key spec."""
    if len(key_id) != 16:
        raise ValueError("key id must be 16 bytes")
    if wrapping_algorithm not in ALGORITHM_CODES or wrapping_key_spec not in KEY_SPEC_CODES:
        raise ValueError("unknown wrapping algorithm or wrapping key spec")
    header = _HEADER.pack(
        MAGIC, VERSION, key_id, ALGORITHM_CODES[wrapping_algorithm], KEY_SPEC_CODES[wrapping_key_spec], valid_to_ms
    )
    return header + root_key.wrap(private_key, PURPOSE, key_arn.encode("utf-8"), header)


def open_token(root_key: RootKey, token: bytes, key_arn: str) -> ImportParameters:
    """The parameters of a token issued for ``key_arn``; InvalidCiphertext for anything else."""
    if len(token) < HEADER_SIZE + _MIN_WRAPPED:
        raise InvalidCiphertext
    magic, version, key_id, algorithm, key_spec, valid_to_ms = _HEADER.unpack_from(token)
    if magic != MAGIC or version != VERSION or algorithm not in _ALGORITHMS or key_spec not in _KEY_SPECS:
        raise InvalidCiphertext
    header = token[:HEADER_SIZE]
    private_key = root_key.unwrap(token[HEADER_SIZE:], PURPOSE, key_arn.encode("utf-8"), header)
    return ImportParameters(key_id, _ALGORITHMS[algorithm], _KEY_SPECS[key_spec], valid_to_ms, private_key)
