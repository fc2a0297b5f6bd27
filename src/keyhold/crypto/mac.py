"""HMAC keys for KMS GenerateMac/VerifyMac: RFC 2104 HMAC with SHA-224/256/384/512.

An HMAC_n key spec means an n-bit key (AWS: "the length of the key determines the MAC algorithm") used with
HMAC_SHA_n. The key is stored as its raw bytes, wrapped under the root key like any key material. Verification
compares in constant time and answers a bool; callers turn False into their own error.
See docs/formats/asymmetric-material.md.
"""

import hmac as _stdlib_hmac
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

from keyhold.crypto.rand import RandomSource, system_random

HMAC_KEY_SPECS: Final[dict[str, int]] = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
"""Each HMAC key spec and the length in bytes of the key Keyhold generates for it (the spec's bits / 8)."""

_MAC_ALGORITHMS: Final[dict[str, str]] = {
    "HMAC_224": "HMAC_SHA_224",
    "HMAC_256": "HMAC_SHA_256",
    "HMAC_384": "HMAC_SHA_384",
    "HMAC_512": "HMAC_SHA_512",
}
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
}


def generate_hmac_key(key_spec: str, *, random: RandomSource = system_random) -> bytes:
    """Fresh key material for an HMAC key spec: HMAC_KEY_SPECS[key_spec] bytes from the CSPRNG."""
    if key_spec not in HMAC_KEY_SPECS:
        raise ValueError(f"unknown HMAC key spec {key_spec!r}")
    size = HMAC_KEY_SPECS[key_spec]
    key = random(size)
    if len(key) != size:
        raise ValueError("random source returned too few bytes")
    return key


def mac_algorithms(key_spec: str) -> tuple[str, ...]:
    """AWS's MacAlgorithms for a key spec: one algorithm per HMAC spec, () for any other spec."""
    algorithm = _MAC_ALGORITHMS.get(key_spec)
    return (algorithm,) if algorithm else ()


def mac_length(algorithm: str) -> int:
    """The length in bytes of the MACs ``algorithm`` makes (28, 32, 48 or 64)."""
    return _hash(algorithm).digest_size


def generate_mac(key: bytes, algorithm: str, message: bytes) -> bytes:
    """HMAC(key, message) with the algorithm's hash, full length (no truncation)."""
    if not key:
        raise ValueError("an HMAC key must not be empty")
    h = _hmac.HMAC(key, _hash(algorithm))
    h.update(message)
    return h.finalize()


def verify_mac(key: bytes, algorithm: str, message: bytes, mac: bytes) -> bool:
    """True if ``mac`` is exactly generate_mac(key, algorithm, message); compared in constant time.

    A truncated or extended MAC is False. ValueError only for an unknown algorithm or an empty key.
    """
    return _stdlib_hmac.compare_digest(generate_mac(key, algorithm, message), mac)


def _hash(algorithm: str) -> hashes.HashAlgorithm:
    if algorithm not in _HASHES:
        raise ValueError(f"unknown MAC algorithm {algorithm!r}")
    return _HASHES[algorithm]()
