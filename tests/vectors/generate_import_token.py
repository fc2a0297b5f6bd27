"""Regenerate tests/vectors/import_token_v1.json (ImportToken v1 and imported-material ids) deterministically.

    PYTHONPATH=src python tests/vectors/generate_import_token.py          # rewrite the file
    PYTHONPATH=src python tests/vectors/generate_import_token.py --check  # exit 1 if it is stale

It reuses generate.py's deterministic sources (``expand``, ``CounterRandom``, the KAT root keys and key id). The
RSA wrapping key inside the tokens is derived deterministically too (``deterministic_rsa_key``: primes found by
Miller-Rabin over sha256-counter candidates), so the whole file is a function of this code. Every positive token is
produced twice, through keyhold.crypto.import_token and through ``struct`` + ``AESGCM`` from
docs/formats/import-token.md, and they must agree before anything is written.
"""

import argparse
import hashlib
import json
import struct
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import (  # noqa: E402
    KAT_KEY_ARN,
    KAT_KEY_UUID,
    OTHER_KEY_ARN,
    OTHER_ROOT_KEY,
    RANDOM_SOURCE_TEXT,
    ROOT_KEY,
    CounterRandom,
    expand,
    flip,
    spec_wrap,
)

from keyhold.crypto import import_token, key_import  # noqa: E402
from keyhold.crypto.keywrap import RootKey  # noqa: E402

FILE = "import_token_v1.json"
_HEADER = struct.Struct(">4sB16sBBQ")
_U32 = struct.Struct(">I")
VALID_TO_MS = 1_700_086_400_000  # 2023-11-15T22:13:20Z, one day after the KAT "now" of 1_700_000_000
RSA_SEED = b"keyhold-kat import wrapping key 1"
_SMALL_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


def _probably_prime(n: int) -> bool:
    """Miller-Rabin with the first 24 odd primes as bases (ample for candidates of a test vector)."""
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for base in _SMALL_PRIMES:
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(seed: bytes, bits: int) -> int:
    counter = 0
    while True:
        raw = int.from_bytes(expand(seed + _U32.pack(counter), bits // 8), "big")
        candidate = raw | (3 << (bits - 2)) | 1  # top two bits set (so p*q has all its bits), odd
        if (candidate - 1) % 65537 and _probably_prime(candidate):
            return candidate
        counter += 1


def deterministic_rsa_key(seed: bytes, bits: int = 2048) -> bytes:
    """An RSA private key (e = 65537) as PKCS#8 DER, a function of ``seed`` alone."""
    p, q = _prime(seed + b"/p", bits // 2), _prime(seed + b"/q", bits // 2)
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def spec_token(
    root: bytes,
    nonce: bytes,
    key_arn: str,
    key_id: bytes,
    algorithm: int,
    key_spec: int,
    valid_to_ms: int,
    private: bytes,
) -> bytes:
    """docs/formats/import-token.md with struct and the root-key-wrapping spec (generate.spec_wrap)."""
    header = _HEADER.pack(b"KHIT", 1, key_id, algorithm, key_spec, valid_to_ms)
    return header + spec_wrap(root, nonce, private, b"kms-import-token", [key_arn.encode(), header])


def _token_vector(vector_id: str, description: str, algorithm: str, key_spec: str, private: bytes) -> dict[str, Any]:
    source = CounterRandom(vector_id)
    token = import_token.seal(
        RootKey(ROOT_KEY, random=source), KAT_KEY_ARN, KAT_KEY_UUID.bytes, algorithm, key_spec, VALID_TO_MS, private
    )
    nonce = bytes(source.drawn)
    algorithm_code, spec_code = import_token.ALGORITHM_CODES[algorithm], import_token.KEY_SPEC_CODES[key_spec]
    expected = spec_token(
        ROOT_KEY, nonce, KAT_KEY_ARN, KAT_KEY_UUID.bytes, algorithm_code, spec_code, VALID_TO_MS, private
    )
    if token != expected:
        raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    header = token[: import_token.HEADER_SIZE]
    return {
        "id": vector_id,
        "description": description,
        "valid": True,
        "root_key": ROOT_KEY.hex(),
        "key_arn": KAT_KEY_ARN,
        "key_id": KAT_KEY_UUID.bytes.hex(),
        "wrapping_algorithm": algorithm,
        "wrapping_key_spec": key_spec,
        "valid_to_ms": VALID_TO_MS,
        "private_key": private.hex(),
        "random": nonce.hex(),
        "header": header.hex(),
        "aad": (
            _U32.pack(4)
            + b"".join(
                _U32.pack(len(f)) + f for f in (b"keyhold-wrap-v1", b"kms-import-token", KAT_KEY_ARN.encode(), header)
            )
        ).hex(),
        "token": token.hex(),
        "token_sha256": hashlib.sha256(token).hexdigest(),
    }


def _negative(
    vector_id: str, description: str, base: Mapping[str, Any], token: bytes, **overrides: Any
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "id": vector_id,
        "description": description,
        "valid": False,
        "derived_from": base["id"],
        "root_key": base["root_key"],
        "key_arn": base["key_arn"],
        "token": token.hex(),
    }
    vector.update(overrides)
    return vector


def _header_edit(token: bytes, offset: int, value: bytes) -> bytes:
    return token[:offset] + value + token[offset + len(value) :]


def build() -> dict[str, Any]:
    private = deterministic_rsa_key(RSA_SEED)
    oaep = _token_vector(
        "rsa-2048-oaep-sha-256", "An RSA_2048 token for RSAES_OAEP_SHA_256.", "RSAES_OAEP_SHA_256", "RSA_2048", private
    )
    aes = _token_vector(
        "rsa-2048-aes-key-wrap-sha-1",
        "The same wrapping key, for RSA_AES_KEY_WRAP_SHA_1.",
        "RSA_AES_KEY_WRAP_SHA_1",
        "RSA_2048",
        private,
    )
    token = bytes.fromhex(oaep["token"])
    size = import_token.HEADER_SIZE
    negatives = [
        _negative(
            "other-key-arn", "Presented for another key (the ARN binding differs).", oaep, token, key_arn=OTHER_KEY_ARN
        ),
        _negative("other-root-key", "Opened with another root key.", oaep, token, root_key=OTHER_ROOT_KEY.hex()),
        _negative("magic-changed", "Magic KHIX instead of KHIT.", oaep, _header_edit(token, 3, b"X")),
        _negative("version-0x02", "Version byte 02.", oaep, _header_edit(token, 4, b"\x02")),
        _negative("key-id-changed", "One bit of the key id flipped.", oaep, flip(token, 5)),
        _negative(
            "algorithm-changed",
            "Algorithm code 2 (RSAES_OAEP_SHA_256) relabelled 1 (RSAES_OAEP_SHA_1): a valid code, but bound.",
            oaep,
            _header_edit(token, 21, b"\x01"),
        ),
        _negative("algorithm-unknown", "Algorithm code 9.", oaep, _header_edit(token, 21, b"\x09")),
        _negative(
            "key-spec-changed", "Key spec code 1 relabelled 3 (RSA_4096).", oaep, _header_edit(token, 22, b"\x03")
        ),
        _negative(
            "valid-to-extended",
            "Valid-to moved one year later: the expiry is authenticated.",
            oaep,
            _header_edit(token, 23, struct.pack(">Q", VALID_TO_MS + 365 * 86_400_000)),
        ),
        _negative(
            "wrapped-version-changed",
            "The root-key wrapping's version byte 02.",
            oaep,
            _header_edit(token, size, b"\x02"),
        ),
        _negative("nonce-bit-flipped", "One bit of the wrapping nonce flipped.", oaep, flip(token, size + 1)),
        _negative(
            "ciphertext-bit-flipped", "One bit of the wrapped private key flipped.", oaep, flip(token, size + 40)
        ),
        _negative("tag-bit-flipped", "One bit of the tag flipped.", oaep, flip(token, len(token) - 1)),
        _negative("truncated-by-one", "The last byte cut.", oaep, token[:-1]),
        _negative("header-only", "Only the 31-byte header.", oaep, token[:size]),
        _negative("empty", "No bytes at all.", oaep, b""),
    ]
    material_vectors = []
    for vector_id, key_id, material in (
        ("symmetric-32-bytes", str(KAT_KEY_UUID), expand(b"keyhold-kat imported material 1", 32)),
        (
            "same-material-other-key",
            "0987dcba-09fe-87dc-65ba-ab0987654321",
            expand(b"keyhold-kat imported material 1", 32),
        ),
        ("hmac-256-64-bytes", str(KAT_KEY_UUID), expand(b"keyhold-kat imported material 2", 64)),
    ):
        material_vectors.append(
            {
                "id": vector_id,
                "key_id": key_id,
                "material": material.hex(),
                "material_id": key_import.material_id(key_id, material),
            }
        )
        fields = (b"keyhold-imported-material-id-v1", key_id.encode(), material)
        expected = hashlib.sha256(_U32.pack(3) + b"".join(_U32.pack(len(f)) + f for f in fields)).hexdigest()
        if material_vectors[-1]["material_id"] != expected:
            raise SystemExit(f"{vector_id}: keyhold.crypto and the specification disagree")
    return {
        "description": "ImportToken v1 (docs/formats/import-token.md) and imported-material ids",
        "random_source": RANDOM_SOURCE_TEXT,
        "wrapping_key": (
            "deterministic_rsa_key(seed) in generate_import_token.py: RSA-2048, e = 65537, primes from Miller-Rabin "
            "over sha256-counter candidates; the PKCS#8 DER is in each positive vector's private_key"
        ),
        "vectors": [oaep, aes, *negatives],
        "material_id_vectors": material_vectors,
    }


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the file on disk; write nothing")
    args = parser.parse_args(argv)
    text = render(build())
    path = HERE / FILE
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{FILE} differs from what generate_import_token.py produces", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
