"""ImportToken v1 and imported-material ids against tests/vectors/import_token_v1.json, checked through
keyhold.crypto and through an independent reimplementation of docs/formats/import-token.md (struct + AESGCM);
and keyhold.crypto.key_import against material wrapped the way AWS's instructions wrap it."""

import hashlib
import importlib.util
import json
import struct
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyhold.crypto import import_token, key_import
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.keywrap import RootKey
from support.key_import import WRAPPING_ALGORITHMS, pkcs8, wrap

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
FILE = "import_token_v1.json"
_U32 = struct.Struct(">I")
_HEADER = struct.Struct(">4sB16sBBQ")
_ALGORITHMS = {
    1: "RSAES_OAEP_SHA_1",
    2: "RSAES_OAEP_SHA_256",
    3: "RSA_AES_KEY_WRAP_SHA_1",
    4: "RSA_AES_KEY_WRAP_SHA_256",
}
_SPECS = {1: "RSA_2048", 2: "RSA_3072", 3: "RSA_4096"}


@cache
def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / FILE).read_text(encoding="utf-8"))
    return document


def vectors(valid: bool) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in load()["vectors"] if v["valid"] is valid]


class Recorded:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, n: int) -> bytes:
        assert n <= len(self._data), "the code drew more random bytes than the vector recorded"
        out, self._data = self._data[:n], self._data[n:]
        return out


# --- the specification, reimplemented -----------------------------------------------------------------------


def ref_fields(*fields: bytes) -> bytes:
    return _U32.pack(len(fields)) + b"".join(_U32.pack(len(f)) + f for f in fields)


def ref_open(root: bytes, token: bytes, key_arn: str) -> tuple[str, str, int, bytes] | None:
    """(algorithm, key spec, valid-to ms, private key) of a valid token, None otherwise."""
    if len(token) < 31 + 29:
        return None
    magic, version, _key_id, algorithm, spec, valid_to = _HEADER.unpack_from(token)
    if magic != b"KHIT" or version != 1 or algorithm not in _ALGORITHMS or spec not in _SPECS:
        return None
    header, wrapped = token[:31], token[31:]
    if wrapped[0] != 1:
        return None
    aad = ref_fields(b"keyhold-wrap-v1", b"kms-import-token", key_arn.encode(), header)
    try:
        private = AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], aad)
    except InvalidTag:
        return None
    return _ALGORITHMS[algorithm], _SPECS[spec], valid_to, private


# --- vectors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", vectors(valid=True))
def test_token_vector_through_keyhold(vector: dict[str, Any]) -> None:
    root = bytes.fromhex(vector["root_key"])
    private = bytes.fromhex(vector["private_key"])
    token = import_token.seal(
        RootKey(root, random=Recorded(bytes.fromhex(vector["random"]))),
        vector["key_arn"],
        bytes.fromhex(vector["key_id"]),
        vector["wrapping_algorithm"],
        vector["wrapping_key_spec"],
        vector["valid_to_ms"],
        private,
    )
    assert token.hex() == vector["token"]
    assert hashlib.sha256(token).hexdigest() == vector["token_sha256"]
    opened = import_token.open_token(RootKey(root), token, vector["key_arn"])
    assert (opened.key_id.hex(), opened.wrapping_algorithm, opened.wrapping_key_spec, opened.valid_to_ms) == (
        vector["key_id"],
        vector["wrapping_algorithm"],
        vector["wrapping_key_spec"],
        vector["valid_to_ms"],
    )
    assert opened.private_key == private
    assert "private_key" not in repr(opened)


@pytest.mark.parametrize("vector", vectors(valid=True))
def test_token_vector_from_the_spec(vector: dict[str, Any]) -> None:
    token = bytes.fromhex(vector["token"])
    assert token[:31].hex() == vector["header"]
    aad = ref_fields(b"keyhold-wrap-v1", b"kms-import-token", vector["key_arn"].encode(), token[:31])
    assert aad.hex() == vector["aad"]
    opened = ref_open(bytes.fromhex(vector["root_key"]), token, vector["key_arn"])
    assert opened == (
        vector["wrapping_algorithm"],
        vector["wrapping_key_spec"],
        vector["valid_to_ms"],
        bytes.fromhex(vector["private_key"]),
    )
    private = serialization.load_der_private_key(bytes.fromhex(vector["private_key"]), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048


@pytest.mark.parametrize("vector", vectors(valid=False))
def test_token_negative_vector(vector: dict[str, Any]) -> None:
    root, token = bytes.fromhex(vector["root_key"]), bytes.fromhex(vector["token"])
    with pytest.raises(InvalidCiphertext):
        import_token.open_token(RootKey(root), token, vector["key_arn"])
    assert ref_open(root, token, vector["key_arn"]) is None


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["id"]) for v in load()["material_id_vectors"]])
def test_material_id_vector(vector: Mapping[str, Any]) -> None:
    material = bytes.fromhex(vector["material"])
    assert key_import.material_id(vector["key_id"], material) == vector["material_id"]
    fields = ref_fields(b"keyhold-imported-material-id-v1", vector["key_id"].encode(), material)
    assert hashlib.sha256(fields).hexdigest() == vector["material_id"]


def test_the_same_material_has_another_id_under_another_key() -> None:
    ids = {v["id"]: v["material_id"] for v in load()["material_id_vectors"]}
    assert ids["symmetric-32-bytes"] != ids["same-material-other-key"]


def test_worked_example_in_the_spec_is_the_vector() -> None:
    vector = next(v for v in load()["vectors"] if v["id"] == "rsa-2048-oaep-sha-256")
    text = (ROOT / "docs" / "formats" / "import-token.md").read_text(encoding="utf-8")
    blocks = ["".join(block.split("```", 1)[0].split()) for block in text.split("```text\n")[1:]]
    for field in ("header", "aad", "token_sha256"):
        assert vector[field] in blocks, f"the worked example's {field} is not the vector's"
    assert vector["random"] in text


def test_vector_file_is_reproducible() -> None:
    spec = importlib.util.spec_from_file_location(
        "keyhold_import_token_generator", VECTORS / "generate_import_token.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.build()) == (VECTORS / FILE).read_text(encoding="utf-8")


# --- unwrapping and checking material -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrapping_key() -> bytes:
    return key_import.generate_wrapping_key("RSA_2048")


@pytest.mark.parametrize("algorithm", WRAPPING_ALGORITHMS)
def test_material_wrapped_as_aws_documents_unwraps(wrapping_key: bytes, algorithm: str) -> None:
    material = bytes(range(32))
    encrypted = wrap(key_import.wrapping_public_key(wrapping_key), algorithm, material)
    assert key_import.unwrap(wrapping_key, algorithm, encrypted) == material


@pytest.mark.parametrize("algorithm", ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_rsa_aes_key_wrap_carries_an_rsa_4096_private_key(wrapping_key: bytes, algorithm: str) -> None:
    material = pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=4096))
    encrypted = wrap(key_import.wrapping_public_key(wrapping_key), algorithm, material)
    assert key_import.unwrap(wrapping_key, algorithm, encrypted) == material


@pytest.mark.parametrize(
    ("wrapped_with", "unwrapped_with"),
    [
        ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"),
        ("RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSAES_OAEP_SHA_256"),
    ],
)
def test_material_wrapped_with_another_algorithm_does_not_unwrap(
    wrapping_key: bytes, wrapped_with: str, unwrapped_with: str
) -> None:
    encrypted = wrap(key_import.wrapping_public_key(wrapping_key), wrapped_with, bytes(32))
    with pytest.raises(InvalidCiphertext):
        key_import.unwrap(wrapping_key, unwrapped_with, encrypted)


@pytest.mark.parametrize("algorithm", WRAPPING_ALGORITHMS)
def test_tampered_or_foreign_encrypted_material_is_one_opaque_error(wrapping_key: bytes, algorithm: str) -> None:
    encrypted = bytearray(wrap(key_import.wrapping_public_key(wrapping_key), algorithm, bytes(32)))
    encrypted[-1] ^= 1
    other = key_import.generate_wrapping_key("RSA_2048")
    for bad in (
        bytes(encrypted),
        bytes(encrypted[:-1]),
        b"",
        wrap(key_import.wrapping_public_key(other), algorithm, b"x"),
    ):
        with pytest.raises(InvalidCiphertext):
            key_import.unwrap(wrapping_key, algorithm, bad)


@pytest.mark.parametrize(
    ("key_spec", "size", "ok"),
    [
        ("SYMMETRIC_DEFAULT", 32, True),
        ("SYMMETRIC_DEFAULT", 16, False),
        ("SYMMETRIC_DEFAULT", 33, False),
        ("HMAC_224", 27, False),
        ("HMAC_224", 28, True),
        ("HMAC_224", 64, True),
        ("HMAC_224", 65, False),
        ("HMAC_256", 31, False),
        ("HMAC_256", 64, True),
        ("HMAC_384", 48, True),
        ("HMAC_384", 128, True),
        ("HMAC_512", 63, False),
        ("HMAC_512", 129, False),
    ],
)
def test_symmetric_and_hmac_material_lengths(key_spec: str, size: int, ok: bool) -> None:
    material = bytes(i % 256 for i in range(size))
    if ok:
        assert key_import.canonical_material(key_spec, material) == material
    else:
        with pytest.raises(key_import.IncorrectMaterial) as caught:
            key_import.canonical_material(key_spec, material)
        assert material.hex() not in str(caught.value)


def test_asymmetric_material_must_be_a_private_key_of_the_spec() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    assert key_import.canonical_material("ECC_NIST_P256", pkcs8(p256)) == pkcs8(p256)
    for spec in ("ECC_NIST_P384", "RSA_2048", "ECC_NIST_EDWARDS25519"):
        with pytest.raises(key_import.IncorrectMaterial):
            key_import.canonical_material(spec, pkcs8(p256))
    with pytest.raises(key_import.IncorrectMaterial):
        key_import.canonical_material("ECC_NIST_P256", b"\x30\x03\x02\x01\x00")
    public_only = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(key_import.IncorrectMaterial):
        key_import.canonical_material("ECC_NIST_P256", public_only)
    edwards = ed25519.Ed25519PrivateKey.generate()
    assert key_import.canonical_material("ECC_NIST_EDWARDS25519", pkcs8(edwards)) == pkcs8(edwards)


def test_traditional_pem_becomes_the_same_pkcs8_and_the_same_id() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    traditional = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    der = key_import.private_key_from_pem(traditional)
    assert der == pkcs8(key)
    canonical = key_import.canonical_material("RSA_2048", der)
    assert key_import.material_id("1234abcd-12ab-34cd-56ef-1234567890ab", canonical) == key_import.material_id(
        "1234abcd-12ab-34cd-56ef-1234567890ab", key_import.canonical_material("RSA_2048", pkcs8(key))
    )
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        key_import.private_key_from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
