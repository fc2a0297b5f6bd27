"""Imported key material in the KMS domain over a real SqlKeyRepo on SQLite, with a clock the tests move:
EXTERNAL keys, GetParametersForImport / ImportKeyMaterial / DeleteImportedKeyMaterial, expiry of import tokens and
of material (on read and by the background job), new material and on-demand rotation, and the state gates."""

import hmac as stdlib_hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Engine

from keyhold.crypto import key_import
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.errors import (
    ExpiredImportToken,
    IncorrectKeyMaterial,
    InvalidCiphertextError,
    InvalidImportToken,
    InvalidKeyState,
    NotFound,
    Unsupported,
    ValidationFailed,
)
from keyhold.domain.keys.imports import WrappingParameters
from keyhold.domain.keys.model import DAY, Key, KeyEvent, KeyState, RotationType
from keyhold.domain.keys.service import KmsService
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.keys import SqlKeyRepo
from support.key_import import WRAPPING_ALGORITHMS, pkcs8, wrap
from support.keys import FakeClock

ACCOUNT = "000000000000"
REGION = "us-east-1"
T0 = 1_700_000_000.0
NO_EXPIRY = {"expiration_model": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
MATERIAL = bytes(range(32))
OTHER_MATERIAL = bytes(range(1, 33))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'keyhold.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def kms(engine: Engine, clock: FakeClock) -> KmsService:
    return KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=clock)


@pytest.fixture
def ctx() -> RequestContext:
    principal = Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, "AKIAIOSFODNN7EXAMPLE")
    return RequestContext(principal=principal, region=REGION, request_id="test-request")


def external(kms: KmsService, ctx: RequestContext, **kwargs: Any) -> Key:
    return kms.keys.create_key(ctx, origin="EXTERNAL", **kwargs)


def parameters(
    kms: KmsService, ctx: RequestContext, key: Key, algorithm: str = "RSAES_OAEP_SHA_256"
) -> WrappingParameters:
    return kms.imports.get_parameters(ctx, key.key_id, algorithm, "RSA_2048")


def import_(
    kms: KmsService,
    ctx: RequestContext,
    key: Key,
    material: bytes = MATERIAL,
    algorithm: str = "RSAES_OAEP_SHA_256",
    **options: Any,
) -> str:
    """Import ``material`` into ``key`` the way a client does: parameters, wrap, import. The material id.
    Without ``options`` the material does not expire."""
    params = parameters(kms, ctx, key, algorithm)
    encrypted = wrap(params.public_key, algorithm, material)
    return kms.imports.import_material(
        ctx, key.key_id, params.import_token, encrypted, **(options or NO_EXPIRY)
    ).material_id


def state(kms: KmsService, ctx: RequestContext, key: Key) -> KeyState:
    return kms.keys.describe(ctx, key.key_id).state


# ---- EXTERNAL keys before import --------------------------------------------------------------------------


def test_an_external_key_starts_pending_import_without_material(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    assert (key.origin, key.state, key.current_material_id) == ("EXTERNAL", KeyState.PENDING_IMPORT, "")
    assert (key.expiration_model, key.valid_to) == (None, None)
    assert kms.keyring.repo.list_materials(key.key_id) == []
    for call in (
        lambda: kms.crypto.encrypt(ctx, key.key_id, b"x", {}),
        lambda: kms.crypto.generate_data_key(ctx, key.key_id, 32, {}),
        lambda: kms.keys.enable(ctx, key.key_id),
        lambda: kms.keys.disable(ctx, key.key_id),
    ):
        with pytest.raises(InvalidKeyState, match=rf"^{key.arn} is pending import\.$"):
            call()
    with pytest.raises(Unsupported, match="origin is EXTERNAL which is not valid for this operation"):
        kms.rotation.enable(ctx, key.key_id, None)
    assert kms.rotation.status(ctx, key.key_id).rotation_enabled is False


def test_custom_key_store_origins_stay_unsupported(kms: KmsService, ctx: RequestContext) -> None:
    for origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
        with pytest.raises(Unsupported, match="custom key stores"):
            kms.keys.create_key(ctx, origin=origin)


def test_import_operations_need_an_external_key(kms: KmsService, ctx: RequestContext) -> None:
    key = kms.keys.create_key(ctx)
    message = rf"^{key.arn} origin is AWS_KMS which is not valid for this operation\.$"
    with pytest.raises(Unsupported, match=message):
        kms.imports.get_parameters(ctx, key.key_id, "RSAES_OAEP_SHA_256", "RSA_2048")
    with pytest.raises(Unsupported, match=message):
        kms.imports.import_material(ctx, key.key_id, b"token", b"material", **NO_EXPIRY)
    with pytest.raises(Unsupported, match=message):
        kms.imports.delete_material(ctx, key.key_id)


# ---- GetParametersForImport -------------------------------------------------------------------------------


def test_parameters_are_a_spki_public_key_and_a_token_valid_for_24_hours(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    for spec, bits in (("RSA_2048", 2048), ("RSA_3072", 3072)):
        params = kms.imports.get_parameters(ctx, key.key_id, "RSA_AES_KEY_WRAP_SHA_256", spec)
        assert params.key.arn == key.arn
        assert params.valid_to == T0 + DAY
        public = serialization.load_der_public_key(params.public_key)
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == bits
    other = kms.imports.get_parameters(ctx, key.key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")
    assert other.public_key != params.public_key  # a fresh wrapping key every time


def test_wrapping_algorithms_aws_retired_or_keyhold_lacks(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    with pytest.raises(ValidationFailed, match="RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported"):
        kms.imports.get_parameters(ctx, key.key_id, "RSAES_PKCS1_V1_5", "RSA_2048")
    with pytest.raises(Unsupported, match="SM2"):
        kms.imports.get_parameters(ctx, key.key_id, "SM2PKE", "SM2")
    with pytest.raises(ValidationFailed, match="not compatible with wrapping key spec RSA_2048"):
        kms.imports.get_parameters(ctx, key.key_id, "SM2PKE", "RSA_2048")
    rsa_key = external(kms, ctx, key_spec="RSA_2048", key_usage="SIGN_VERIFY")
    with pytest.raises(ValidationFailed, match="cannot wrap RSA_2048 key material"):
        kms.imports.get_parameters(ctx, rsa_key.key_id, "RSAES_OAEP_SHA_1", "RSA_4096")
    p521 = external(kms, ctx, key_spec="ECC_NIST_P521", key_usage="SIGN_VERIFY")
    with pytest.raises(ValidationFailed, match="cannot wrap ECC_NIST_P521"):
        kms.imports.get_parameters(ctx, p521.key_id, "RSAES_OAEP_SHA_256", "RSA_2048")


# ---- ImportKeyMaterial ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", WRAPPING_ALGORITHMS)
def test_each_wrapping_algorithm_imports_symmetric_material(
    kms: KmsService, ctx: RequestContext, algorithm: str
) -> None:
    key = external(kms, ctx, description="imported")
    material_id = import_(kms, ctx, key, algorithm=algorithm)
    assert material_id == key_import.material_id(key.key_id, MATERIAL)
    described = kms.keys.describe(ctx, key.key_id)
    assert (described.state, described.current_material_id) == (KeyState.ENABLED, material_id)
    assert (described.expiration_model, described.valid_to) == ("KEY_MATERIAL_DOES_NOT_EXPIRE", None)
    sealed = kms.crypto.encrypt(ctx, key.key_id, b"under imported material", {"a": "b"})
    assert sealed.material_id == material_id
    assert kms.crypto.decrypt(ctx, sealed.ciphertext, {"a": "b"}).plaintext == b"under imported material"


def test_the_token_must_be_authentic_for_this_key_and_unexpired(
    kms: KmsService, ctx: RequestContext, clock: FakeClock
) -> None:
    key, other = external(kms, ctx), external(kms, ctx)
    params = parameters(kms, ctx, key)
    encrypted = wrap(params.public_key, "RSAES_OAEP_SHA_256", MATERIAL)
    with pytest.raises(InvalidImportToken, match=f"issued for a KMS key other than {other.arn}"):
        kms.imports.import_material(ctx, other.key_id, params.import_token, encrypted, **NO_EXPIRY)
    for index in (0, 10, 25, len(params.import_token) - 1):
        tampered = bytearray(params.import_token)
        tampered[index] ^= 0x01
        with pytest.raises(InvalidImportToken):
            kms.imports.import_material(ctx, key.key_id, bytes(tampered), encrypted, **NO_EXPIRY)
    foreign = KmsService(kms.keyring.repo, RootKey(bytes(32)), clock=clock)  # another root key
    with pytest.raises(InvalidImportToken):
        foreign.imports.import_material(ctx, key.key_id, params.import_token, encrypted, **NO_EXPIRY)
    clock.advance(DAY)  # ParametersValidTo has come
    with pytest.raises(ExpiredImportToken, match="has expired"):
        kms.imports.import_material(ctx, key.key_id, params.import_token, encrypted, **NO_EXPIRY)
    clock.advance(-1)
    kms.imports.import_material(ctx, key.key_id, params.import_token, encrypted, **NO_EXPIRY)
    assert state(kms, ctx, key) is KeyState.ENABLED
    assert state(kms, ctx, other) is KeyState.PENDING_IMPORT


def test_material_wrapped_under_another_public_key_is_an_invalid_ciphertext(
    kms: KmsService, ctx: RequestContext
) -> None:
    key = external(kms, ctx)
    first, second = parameters(kms, ctx, key), parameters(kms, ctx, key)
    encrypted = wrap(second.public_key, "RSAES_OAEP_SHA_256", MATERIAL)
    with pytest.raises(InvalidCiphertextError, match="could not be decrypted"):
        kms.imports.import_material(ctx, key.key_id, first.import_token, encrypted, **NO_EXPIRY)
    assert state(kms, ctx, key) is KeyState.PENDING_IMPORT


def test_material_that_does_not_fit_the_key_spec(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    with pytest.raises(IncorrectKeyMaterial, match="must be 256 bits"):
        import_(kms, ctx, key, bytes(16))
    hmac = external(kms, ctx, key_spec="HMAC_384", key_usage="GENERATE_VERIFY_MAC")
    with pytest.raises(IncorrectKeyMaterial, match="48 to 128 bytes"):
        import_(kms, ctx, hmac, bytes(32))
    ecc = external(kms, ctx, key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY")
    p384 = pkcs8(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(IncorrectKeyMaterial, match="private key of that key spec"):
        import_(kms, ctx, ecc, p384, "RSA_AES_KEY_WRAP_SHA_256")
    assert {state(kms, ctx, k) for k in (key, hmac, ecc)} == {KeyState.PENDING_IMPORT}


def test_expiration_model_and_valid_to_are_checked(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"expiration_model": None}, "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES"),
        ({"expiration_model": "KEY_MATERIAL_EXPIRES"}, "ValidTo is required"),
        ({"valid_to": T0 - 1}, "must be a date and time in the future"),
        ({"valid_to": T0}, "must be a date and time in the future"),
        ({"valid_to": T0 + 365 * DAY + 1}, "at most 365 days"),
        ({"expiration_model": "KEY_MATERIAL_DOES_NOT_EXPIRE", "valid_to": T0 + DAY}, "must not be specified"),
    ]
    for options, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            import_(kms, ctx, key, **options)
    import_(kms, ctx, key, valid_to=T0 + 365 * DAY)  # the default model is KEY_MATERIAL_EXPIRES
    described = kms.keys.describe(ctx, key.key_id)
    assert (described.expiration_model, described.valid_to) == ("KEY_MATERIAL_EXPIRES", T0 + 365 * DAY)


def test_reimporting_other_material_is_refused_and_the_same_material_changes_the_expiry(
    kms: KmsService, ctx: RequestContext
) -> None:
    key = external(kms, ctx)
    first = import_(kms, ctx, key, valid_to=T0 + 10 * DAY)
    with pytest.raises(IncorrectKeyMaterial, match="not the key material previously imported"):
        import_(kms, ctx, key, OTHER_MATERIAL)
    with pytest.raises(IncorrectKeyMaterial, match="already associated"):
        import_(kms, ctx, key, import_type="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert import_(kms, ctx, key, algorithm="RSA_AES_KEY_WRAP_SHA_1") == first
    described = kms.keys.describe(ctx, key.key_id)
    assert (described.state, described.expiration_model, described.valid_to) == (
        KeyState.ENABLED,
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
        None,
    )
    with pytest.raises(IncorrectKeyMaterial, match="is not key material"):
        import_(kms, ctx, key, material_id="ab" * 32, **NO_EXPIRY)
    assert import_(kms, ctx, key, material_id=first, **NO_EXPIRY) == first


def test_delete_then_reimport_decrypts_the_old_ciphertexts(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    material_id = import_(kms, ctx, key)
    blob = kms.crypto.encrypt(ctx, key.key_id, b"before the deletion", {}).ciphertext

    deleted = kms.imports.delete_material(ctx, key.key_id)
    assert (deleted.material_id, deleted.key.state) == (material_id, KeyState.PENDING_IMPORT)
    described = kms.keys.describe(ctx, key.key_id)
    assert (described.state, described.current_material_id, described.expiration_model) == (
        KeyState.PENDING_IMPORT,
        material_id,
        None,
    )
    assert kms.keyring.repo.list_materials(key.key_id)[0].wrapped is None  # the secret is gone, the id stays
    with pytest.raises(InvalidKeyState, match="is pending import"):
        kms.crypto.decrypt(ctx, blob, {})
    assert kms.imports.delete_material(ctx, key.key_id).material_id == material_id  # nothing left: no effect
    with pytest.raises(IncorrectKeyMaterial):
        import_(kms, ctx, key, OTHER_MATERIAL)

    assert import_(kms, ctx, key, algorithm="RSA_AES_KEY_WRAP_SHA_256") == material_id
    assert state(kms, ctx, key) is KeyState.ENABLED
    assert kms.crypto.decrypt(ctx, blob, {}).plaintext == b"before the deletion"


def test_a_disabled_key_stays_disabled_through_a_reimport(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    import_(kms, ctx, key)
    kms.keys.disable(ctx, key.key_id)
    import_(kms, ctx, key, valid_to=T0 + DAY)
    assert state(kms, ctx, key) is KeyState.DISABLED
    kms.imports.delete_material(ctx, key.key_id)
    assert state(kms, ctx, key) is KeyState.PENDING_IMPORT
    import_(kms, ctx, key)
    assert state(kms, ctx, key) is KeyState.ENABLED  # ImportKeyMaterial makes a PendingImport key Enabled


def test_pending_deletion_keeps_its_state_and_refuses_imports(kms: KmsService, ctx: RequestContext) -> None:
    key = external(kms, ctx)
    import_(kms, ctx, key)
    params = parameters(kms, ctx, key)
    kms.keys.schedule_deletion(ctx, key.key_id, 7)
    with pytest.raises(InvalidKeyState, match="is pending deletion"):
        parameters(kms, ctx, key)
    with pytest.raises(InvalidKeyState, match="is pending deletion"):
        kms.imports.import_material(ctx, key.key_id, params.import_token, b"x" * 256, **NO_EXPIRY)
    kms.imports.delete_material(ctx, key.key_id)
    assert state(kms, ctx, key) is KeyState.PENDING_DELETION
    assert kms.keys.cancel_deletion(ctx, key.key_id).state is KeyState.PENDING_IMPORT  # it has no material

    pending_only = external(kms, ctx)
    kms.keys.schedule_deletion(ctx, pending_only.key_id, 7)
    assert kms.keys.cancel_deletion(ctx, pending_only.key_id).state is KeyState.PENDING_IMPORT
    complete = external(kms, ctx)
    import_(kms, ctx, complete)
    kms.keys.schedule_deletion(ctx, complete.key_id, 7)
    assert kms.keys.cancel_deletion(ctx, complete.key_id).state is KeyState.DISABLED


# ---- expiry ---------------------------------------------------------------------------------------------


def test_expired_material_is_deleted_on_first_sight_of_the_key(
    engine: Engine, ctx: RequestContext, clock: FakeClock
) -> None:
    events: list[KeyEvent] = []
    kms = KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=clock, on_event=events.append)
    key = external(kms, ctx)
    material_id = import_(kms, ctx, key, valid_to=T0 + 3 * DAY)
    blob = kms.crypto.encrypt(ctx, key.key_id, b"expiring", {}).ciphertext
    clock.advance(3 * DAY - 1)
    assert kms.crypto.decrypt(ctx, blob, {}).plaintext == b"expiring"
    clock.advance(1)
    with pytest.raises(InvalidKeyState, match=rf"^{key.arn} is pending import\.$"):
        kms.crypto.decrypt(ctx, blob, {})
    described = kms.keys.describe(ctx, key.key_id)
    assert (described.state, described.valid_to, described.expiration_model) == (KeyState.PENDING_IMPORT, None, None)
    assert [m.wrapped for m in kms.keyring.repo.list_materials(key.key_id)] == [None]
    assert [(e.name, e.key.key_id, e.at, dict(e.details)) for e in events] == [
        ("DeleteExpiredKeyMaterial", key.key_id, T0 + 3 * DAY, {"keyMaterialId": material_id})
    ]
    assert kms.imports.expire_due() == 0  # nothing left for the job
    assert import_(kms, ctx, key) == material_id
    assert kms.crypto.decrypt(ctx, blob, {}).plaintext == b"expiring"


def test_the_background_job_expires_material_nobody_looked_at(
    kms: KmsService, ctx: RequestContext, clock: FakeClock, engine: Engine
) -> None:
    soon, later, forever = external(kms, ctx), external(kms, ctx), external(kms, ctx)
    import_(kms, ctx, soon, valid_to=T0 + DAY)
    import_(kms, ctx, later, valid_to=T0 + 2 * DAY)
    import_(kms, ctx, forever)
    other = KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=clock)  # another process
    clock.advance(DAY)
    assert other.imports.expire_due() == 1
    assert kms.keyring.repo.get_key(soon.key_id).state is KeyState.PENDING_IMPORT  # type: ignore[union-attr]
    assert kms.keyring.repo.get_key(later.key_id).state is KeyState.ENABLED  # type: ignore[union-attr]
    clock.advance(DAY)
    assert kms.run_due_jobs() == (0, 0)  # expiry is part of the due jobs
    assert {kms.keyring.repo.get_key(k.key_id).state for k in (soon, later)} == {  # type: ignore[union-attr]
        KeyState.PENDING_IMPORT
    }
    assert state(kms, ctx, forever) is KeyState.ENABLED


# ---- several materials: NEW_KEY_MATERIAL and on-demand rotation ------------------------------------------


def test_new_material_waits_pending_rotation_until_rotate_key_on_demand(
    kms: KmsService, ctx: RequestContext, clock: FakeClock
) -> None:
    key = external(kms, ctx)
    first = import_(kms, ctx, key)
    old_blob = kms.crypto.encrypt(ctx, key.key_id, b"old", {}).ciphertext
    with pytest.raises(InvalidKeyState, match="no imported key material pending rotation"):
        kms.rotation.rotate_on_demand(ctx, key.key_id)
    with pytest.raises(ValidationFailed, match="cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL"):
        import_(kms, ctx, key, OTHER_MATERIAL, import_type="NEW_KEY_MATERIAL", material_id=first, **NO_EXPIRY)
    second = import_(kms, ctx, key, OTHER_MATERIAL, import_type="NEW_KEY_MATERIAL", description="second", **NO_EXPIRY)
    with pytest.raises(InvalidKeyState, match="pending rotation"):
        import_(kms, ctx, key, bytes(32), import_type="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert kms.keys.describe(ctx, key.key_id).current_material_id == first
    entries, _ = kms.rotation.list(ctx, key.key_id, True, None, 100)
    assert [(e.material.material_id, e.current, e.material.pending_rotation) for e in entries] == [
        (first, True, False),
        (second, False, True),
    ]
    assert kms.rotation.list(ctx, key.key_id, False, None, 100) == ([], None)

    clock.advance(60)
    rotated = kms.rotation.rotate_on_demand(ctx, key.key_id)
    assert rotated.current_material_id == second
    entries, _ = kms.rotation.list(ctx, key.key_id, False, None, 100)
    assert [(e.material.material_id, e.material.rotation_type, e.material.created_at) for e in entries] == [
        (second, RotationType.ON_DEMAND, T0 + 60)
    ]
    new_blob = kms.crypto.encrypt(ctx, key.key_id, b"new", {})
    assert new_blob.material_id == second
    assert kms.crypto.decrypt(ctx, old_blob, {}).plaintext == b"old"

    # Deleting the old (non-current) material makes the whole key PendingImport until it is reimported.
    kms.imports.delete_material(ctx, key.key_id, first)
    with pytest.raises(InvalidKeyState, match="is pending import"):
        kms.crypto.decrypt(ctx, new_blob.ciphertext, {})
    import_(kms, ctx, key, MATERIAL, import_type="EXISTING_KEY_MATERIAL", **NO_EXPIRY)
    assert kms.crypto.decrypt(ctx, old_blob, {}).plaintext == b"old"
    with pytest.raises(NotFound, match="is not associated"):
        kms.imports.delete_material(ctx, key.key_id, "cd" * 32)


def test_deleting_material_pending_rotation_removes_it_and_leaves_the_key_usable(
    kms: KmsService, ctx: RequestContext
) -> None:
    key = external(kms, ctx)
    import_(kms, ctx, key)
    pending = import_(kms, ctx, key, OTHER_MATERIAL, import_type="NEW_KEY_MATERIAL", **NO_EXPIRY)
    assert kms.imports.delete_material(ctx, key.key_id, pending).key.state is KeyState.ENABLED
    assert pending not in [m.material_id for m in kms.keyring.repo.list_materials(key.key_id)]
    import_(kms, ctx, key, bytes(32), import_type="NEW_KEY_MATERIAL", **NO_EXPIRY)  # another one may take its place


# ---- asymmetric and HMAC keys -----------------------------------------------------------------------------


def test_asymmetric_and_hmac_keys_take_one_material_without_import_type(kms: KmsService, ctx: RequestContext) -> None:
    hmac = external(kms, ctx, key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC")
    secret = bytes(range(40))  # longer than 32 bytes is allowed for HMAC_256
    with pytest.raises(ValidationFailed, match="only for symmetric encryption keys"):
        import_(kms, ctx, hmac, secret, import_type="NEW_KEY_MATERIAL", **NO_EXPIRY)
    import_(kms, ctx, hmac, secret)
    mac = kms.macs.generate_mac(ctx, hmac.key_id, b"message", "HMAC_SHA_256")[1]
    assert mac == stdlib_hmac.new(secret, b"message", "sha256").digest()
    with pytest.raises(IncorrectKeyMaterial):
        import_(kms, ctx, hmac, bytes(40))

    ecc = external(kms, ctx, key_spec="ECC_NIST_P256", key_usage="SIGN_VERIFY")
    private = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidKeyState, match="is pending import"):
        kms.asymmetric.get_public_key(ctx, ecc.key_id)
    import_(kms, ctx, ecc, pkcs8(private), "RSAES_OAEP_SHA_256")
    public = kms.asymmetric.get_public_key(ctx, ecc.key_id).public_key
    assert public == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
