"""`keyhold kms seed` as a user runs it: the real CLI twice against a data directory, then `keyhold serve` on it.

The seeded material is checked from outside: a ciphertext blob computed here with plain HKDF + AES-GCM from
docs/formats/kms-ciphertext.md (and the material id from docs/formats/import-token.md) must decrypt on the
server; MACs and signatures must match the seeded HMAC key and private key."""

import base64
import hashlib
import hmac
import os
import struct
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from support.key_import import wrap
from support.kms import error_of
from support.server import KeyholdServer

ACCOUNT = "000000000000"
REGION = "us-east-1"
SYMMETRIC_ID = "11111111-1111-4111-8111-111111111111"
HMAC_ID = "22222222-2222-4222-8222-222222222222"
ECC_ID = "33333333-3333-4333-8333-333333333333"
PENDING_ID = "44444444-4444-4444-8444-444444444444"
EXTERNAL_ID = "55555555-5555-4555-8555-555555555555"
GENERATED_ID = "66666666-6666-4666-8666-666666666666"
OLD_MATERIAL = bytes(range(32))
NEW_MATERIAL = bytes(range(100, 132))
HMAC_SECRET = bytes(range(48))
_U32 = struct.Struct(">I")


def seed_file(path: Path, ecc_pem: str, *, old_material: bytes = OLD_MATERIAL) -> Path:
    pem = "\n".join("        " + line for line in ecc_pem.strip().splitlines())
    path.write_text(
        f"""# seeded test environment
Keys:
  - KeyId: {SYMMETRIC_ID}
    Description: payments data key
    Tags:
      team: payments
    RotationPeriodInDays: 180
    KeyMaterial:
      - Hex: "{old_material.hex()}"
      - Base64: "{base64.b64encode(NEW_MATERIAL).decode()}"
  - KeyId: {HMAC_ID}
    KeySpec: HMAC_384
    KeyUsage: GENERATE_VERIFY_MAC
    KeyMaterial:
      Hex: "{HMAC_SECRET.hex()}"
  - KeyId: {ECC_ID}
    KeySpec: ECC_NIST_P256
    KeyUsage: SIGN_VERIFY
    Enabled: false
    KeyMaterial:
      Pem: |
{pem}
  - KeyId: {PENDING_ID}
    Origin: EXTERNAL
    Description: waits for its material
  - KeyId: {EXTERNAL_ID}
    Origin: EXTERNAL
    Policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {{AWS: "arn:aws:iam::{ACCOUNT}:root"}}
          Action: "kms:*"
          Resource: "*"
    KeyMaterial:
      Hex: "{bytes(range(7, 39)).hex()}"
  - KeyId: {GENERATED_ID}
Aliases:
  - AliasName: alias/payments
    TargetKeyId: {SYMMETRIC_ID}
  - AliasName: alias/pending
    TargetKeyId: {PENDING_ID}
""",
        encoding="utf-8",
    )
    return path


def keyhold_seed(data_dir: Path, file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYHOLD_")}
    command = [sys.executable, "-m", "keyhold", "kms", "seed", str(file), "--data-dir", str(data_dir), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def material_id(key_id: str, material: bytes) -> bytes:
    """docs/formats/import-token.md: SHA-256 over encode_fields(label, key id, material)."""
    fields = (b"keyhold-imported-material-id-v1", key_id.encode(), material)
    return hashlib.sha256(_U32.pack(3) + b"".join(_U32.pack(len(f)) + f for f in fields)).digest()


def independent_blob(key_id: str, material: bytes, plaintext: bytes, context: bytes = b"\x00\x00\x00\x00") -> bytes:
    """A KMS ciphertext blob v1 (docs/formats/kms-ciphertext.md) made without Keyhold's code."""
    derivation_nonce, nonce = os.urandom(32), os.urandom(12)
    header = b"KH\x01" + uuid.UUID(key_id).bytes + material_id(key_id, material) + derivation_nonce + nonce
    blob_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=derivation_nonce, info=b"keyhold kms-blob v1").derive(
        material
    )
    return header + AESGCM(blob_key).encrypt(nonce, plaintext, header + context)


@pytest.fixture(scope="module")
def ecc_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def traditional_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def test_seed_twice_then_serve_the_seeded_keys(
    tmp_path: Path, make_server: Callable[..., KeyholdServer], ecc_key: ec.EllipticCurvePrivateKey
) -> None:
    data_dir = tmp_path / "data"
    file = seed_file(tmp_path / "seed.yaml", traditional_pem(ecc_key))

    first = keyhold_seed(data_dir, file)
    assert first.returncode == 0, first.stderr
    assert f"created key {SYMMETRIC_ID} (SYMMETRIC_DEFAULT, AWS_KMS, 2 material version(s))" in first.stdout
    assert f"created key {PENDING_ID} (SYMMETRIC_DEFAULT, EXTERNAL)" in first.stdout
    assert f"created alias alias/payments -> {SYMMETRIC_ID}" in first.stdout
    assert "8 created, 0 already present" in first.stdout
    assert OLD_MATERIAL.hex() not in first.stdout + first.stderr

    second = keyhold_seed(data_dir, file)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout.replace("0 created", "")
    assert f"present key {HMAC_ID}" in second.stdout
    assert "0 created, 8 already present" in second.stdout

    server = make_server("data")
    kms = server.client("kms")
    symmetric = kms.describe_key(KeyId="alias/payments")["KeyMetadata"]
    assert (symmetric["KeyId"], symmetric["Description"], symmetric["KeyState"]) == (
        SYMMETRIC_ID,
        "payments data key",
        "Enabled",
    )
    assert symmetric["CurrentKeyMaterialId"] == material_id(SYMMETRIC_ID, NEW_MATERIAL).hex()
    assert kms.list_resource_tags(KeyId=SYMMETRIC_ID)["Tags"] == [{"TagKey": "team", "TagValue": "payments"}]
    status = kms.get_key_rotation_status(KeyId=SYMMETRIC_ID)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 180)

    # Ciphertexts made outside Keyhold under both seeded material versions decrypt: the rotation history works.
    for material in (OLD_MATERIAL, NEW_MATERIAL):
        blob = independent_blob(SYMMETRIC_ID, material, b"made outside Keyhold")
        opened = kms.decrypt(CiphertextBlob=blob)
        assert (opened["Plaintext"], opened["KeyMaterialId"]) == (
            b"made outside Keyhold",
            material_id(SYMMETRIC_ID, material).hex(),
        )
    fresh = kms.encrypt(KeyId="alias/payments", Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"new"

    mac = kms.generate_mac(KeyId=HMAC_ID, Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    assert mac == hmac.new(HMAC_SECRET, b"m", "sha384").digest()

    ecc = kms.describe_key(KeyId=ECC_ID)["KeyMetadata"]
    assert ecc["KeyState"] == "Disabled"
    assert kms.get_public_key(KeyId=ECC_ID)["PublicKey"] == ecc_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kms.enable_key(KeyId=ECC_ID)
    signature = kms.sign(KeyId=ECC_ID, Message=b"signed", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    ecc_key.public_key().verify(signature, b"signed", ec.ECDSA(hashes.SHA256()))

    pending = kms.describe_key(KeyId="alias/pending")["KeyMetadata"]
    assert (pending["KeyId"], pending["Origin"], pending["KeyState"]) == (PENDING_ID, "EXTERNAL", "PendingImport")
    params = kms.get_parameters_for_import(
        KeyId=PENDING_ID, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    kms.import_key_material(
        KeyId=PENDING_ID,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", bytes(32)),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    external = kms.describe_key(KeyId=EXTERNAL_ID)["KeyMetadata"]
    assert (external["KeyState"], external["ExpirationModel"]) == ("Enabled", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    params = kms.get_parameters_for_import(
        KeyId=EXTERNAL_ID, WrappingAlgorithm="RSAES_OAEP_SHA_1", WrappingKeySpec="RSA_2048"
    )
    with pytest.raises(ClientError) as caught:  # seeded imported material is the key's for good
        kms.import_key_material(
            KeyId=EXTERNAL_ID,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_1", bytes(32)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert error_of(caught)[0] == "IncorrectKeyMaterialException"
    assert kms.describe_key(KeyId=GENERATED_ID)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.rotate_key_on_demand(KeyId=SYMMETRIC_ID)  # the server's own rotations keep the seed "present"
    assert server.stop() == 0

    third = keyhold_seed(data_dir, file)
    assert third.returncode == 0, third.stderr
    assert "0 created, 8 already present" in third.stdout

    changed = seed_file(tmp_path / "changed.yaml", traditional_pem(ecc_key), old_material=bytes(32))
    refused = keyhold_seed(data_dir, changed)
    assert refused.returncode == 1
    assert f"key {SYMMETRIC_ID} exists with different key material" in refused.stderr
    assert "seeding never overwrites key material" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert bytes(32).hex() not in refused.stderr


def test_a_file_with_mistakes_is_refused_with_their_lines_and_touches_nothing(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        """Keys:
  - KeyId: not-a-uuid
    Descripton: typo
  - KeyId: 77777777-7777-4777-8777-777777777777
    KeyMaterial:
      Hex: "zz"
  - KeyId: 77777777-7777-4777-8777-777777777777
    Enabled: maybe
Aliases:
  - AliasName: alias/x
Extra: 1
""",
        encoding="utf-8",
    )
    result = keyhold_seed(tmp_path / "data", file)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    for expected in (
        "line 3: Keys[0].Descripton: unknown field",
        "line 2: Keys[0].KeyId: 'not-a-uuid' is not a key id (a UUID)",
        "line 6: Keys[1].KeyMaterial.Hex: is not valid hex key material",
        "line 8: Keys[2].Enabled: must be true or false",
        "line 10: Aliases[0].TargetKeyId: is required",
        "line 11: Extra: unknown section (expected Keys or Aliases)",
    ):
        assert any(expected in line for line in lines), (expected, result.stderr)
    assert not (tmp_path / "data").exists()

    invalid_yaml = tmp_path / "broken.yaml"
    invalid_yaml.write_text("Keys:\n  - KeyId: [unclosed\n", encoding="utf-8")
    broken = keyhold_seed(tmp_path / "data", invalid_yaml)
    assert broken.returncode == 1
    assert "not valid YAML" in broken.stderr


def test_conflicts_found_in_the_store_stop_the_whole_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = tmp_path / "first.yaml"
    first.write_text(
        f"Keys:\n  - KeyId: {SYMMETRIC_ID}\n  - KeyId: {HMAC_ID}\n"
        f"Aliases:\n  - AliasName: alias/app\n    TargetKeyId: {SYMMETRIC_ID}\n",
        encoding="utf-8",
    )
    assert keyhold_seed(data_dir, first).returncode == 0
    conflicting = tmp_path / "conflicting.yaml"
    conflicting.write_text(
        f"Keys:\n  - KeyId: {ECC_ID}\n  - KeyId: {HMAC_ID}\n    KeySpec: HMAC_256\n    KeyUsage: GENERATE_VERIFY_MAC\n"
        f"Aliases:\n  - AliasName: alias/app\n    TargetKeyId: {HMAC_ID}\n",
        encoding="utf-8",
    )
    result = keyhold_seed(data_dir, conflicting)
    assert result.returncode == 1
    assert f"line 3: key {HMAC_ID} exists with KeySpec SYMMETRIC_DEFAULT, not HMAC_256" in result.stderr
    assert f"alias alias/app exists and points at key {SYMMETRIC_ID}" in result.stderr
    rerun = keyhold_seed(data_dir, first)
    assert "0 created, 3 already present" in rerun.stdout  # the conflicting run created nothing (not even ECC_ID)
    check = tmp_path / "check.yaml"
    check.write_text(f"Keys:\n  - KeyId: {ECC_ID}\n", encoding="utf-8")
    assert "1 created, 0 already present" in keyhold_seed(data_dir, check).stdout
