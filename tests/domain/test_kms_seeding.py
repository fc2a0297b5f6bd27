"""The seeding decisions (domain/keys/seeding.py) over a real SQLite store: created vs present, checks that write
nothing, and every conflict that must refuse rather than change a key or alias."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from keyhold.crypto import key_import
from keyhold.crypto.keywrap import RootKey
from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.model import KeyState, RotationType
from keyhold.domain.keys.seeding import AliasSeed, KeySeed, Outcome, SeedConflict, Seeder
from keyhold.domain.keys.service import KmsService
from keyhold.storage.sql.db import create_schema, open_engine
from keyhold.storage.sql.keys import SqlKeyRepo

ACCOUNT = "000000000000"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
V1, V2 = bytes(range(32)), bytes(range(32, 64))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'keyhold.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def kms(engine: Engine) -> KmsService:
    return KmsService(SqlKeyRepo(engine), RootKey(bytes(range(32))), clock=lambda: 1_700_000_000.0)


@pytest.fixture
def seeder(kms: KmsService) -> Seeder:
    return Seeder(kms.keyring)


@pytest.fixture
def ctx() -> RequestContext:
    principal = Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, "AKIAIOSFODNN7EXAMPLE")
    return RequestContext(principal=principal, region=REGION, request_id="test-request")


def seed(**changes: object) -> KeySeed:
    return replace(KeySeed(key_id=KEY_ID, account_id=ACCOUNT, region=REGION), **changes)


def test_a_check_writes_nothing_then_applying_creates_and_again_finds_it_present(
    kms: KmsService, seeder: Seeder, ctx: RequestContext
) -> None:
    wanted = seed(materials=(V1, V2), rotation_period_days=90, tags={"env": "test"})
    assert seeder.ensure_key(wanted, apply=False) is Outcome.CREATED
    assert kms.keyring.get(KEY_ID) is None
    assert seeder.ensure_key(wanted) is Outcome.CREATED
    assert seeder.ensure_key(wanted) is Outcome.PRESENT
    key = kms.keys.describe(ctx, KEY_ID)
    assert key.current_material_id == key_import.material_id(KEY_ID, V2)
    materials = kms.keyring.repo.list_materials(KEY_ID)
    assert [(m.material_id, m.rotation_type) for m in materials] == [
        (key_import.material_id(KEY_ID, V1), None),
        (key_import.material_id(KEY_ID, V2), RotationType.AUTOMATIC),
    ]
    assert (key.rotation_enabled, key.rotation_period_days) == (True, 90)
    assert kms.keyring.repo.get_tags(KEY_ID) == {"env": "test"}
    assert seeder.ensure_key(seed(materials=(V1,))) is Outcome.PRESENT  # a prefix of the history is the same key
    with pytest.raises(SeedConflict, match="different key material"):
        seeder.ensure_key(seed(materials=(V2,)), apply=False)


def test_external_keys_are_pending_import_or_imported(kms: KmsService, seeder: Seeder, ctx: RequestContext) -> None:
    pending = "00000000-0000-4000-8000-000000000001"
    imported = "00000000-0000-4000-8000-000000000002"
    assert seeder.ensure_key(seed(key_id=pending, origin="EXTERNAL")) is Outcome.CREATED
    assert seeder.ensure_key(seed(key_id=imported, origin="EXTERNAL", materials=(V1, V2), enabled=False))
    assert kms.keys.describe(ctx, pending).state is KeyState.PENDING_IMPORT
    key = kms.keys.describe(ctx, imported)
    assert (key.state, key.expiration_model) == (KeyState.DISABLED, "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert [m.rotation_type for m in kms.keyring.repo.list_materials(imported)] == [None, RotationType.ON_DEMAND]
    with pytest.raises(SeedConflict, match="cannot be disabled"):
        seeder.ensure_key(seed(key_id="00000000-0000-4000-8000-000000000003", origin="EXTERNAL", enabled=False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC", "materials": (V1, V2)}, "only SYMMETRIC"),
        ({"origin": "EXTERNAL", "rotation_period_days": 365}, "automatic rotation is only"),
        ({"rotation_period_days": 30}, "RotationPeriodInDays must be 90 to 2560"),
        ({"origin": "AWS_CLOUDHSM"}, "Origin must be AWS_KMS or EXTERNAL"),
        ({"materials": (bytes(16),)}, r"KeyMaterial\[0\]: Key material for a SYMMETRIC_DEFAULT key must be"),
        ({"materials": (V1, V1)}, r"KeyMaterial\[1\] repeats"),
        ({"key_spec": "RSA_2048"}, "You must specify a KeyUsage"),
        ({"policy": "not json"}, f"key {KEY_ID}: "),
        ({"tags": {"aws:reserved": "x"}}, "reserved"),
    ],
)
def test_invalid_seeds_are_refused(seeder: Seeder, changes: dict[str, object], message: str) -> None:
    with pytest.raises(SeedConflict, match=message):
        seeder.ensure_key(seed(**changes), apply=False)


def test_existing_keys_that_differ_are_conflicts(kms: KmsService, seeder: Seeder, ctx: RequestContext) -> None:
    seeder.ensure_key(seed())
    with pytest.raises(SeedConflict, match="exists with KeySpec SYMMETRIC_DEFAULT, not HMAC_256"):
        seeder.ensure_key(seed(key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC"))
    with pytest.raises(SeedConflict, match="exists with Origin AWS_KMS, not EXTERNAL"):
        seeder.ensure_key(seed(origin="EXTERNAL"))
    with pytest.raises(SeedConflict, match="not in account 000000000000, region eu-west-1"):
        seeder.ensure_key(seed(region="eu-west-1"))
    kms.keys.schedule_deletion(ctx, KEY_ID, 7)
    with pytest.raises(SeedConflict, match="pending deletion"):
        seeder.ensure_key(seed())


def test_aliases_are_created_once_and_never_retargeted(kms: KmsService, seeder: Seeder) -> None:
    other = "00000000-0000-4000-8000-000000000009"
    alias = AliasSeed("alias/app", KEY_ID, ACCOUNT, REGION)
    with pytest.raises(SeedConflict, match="does not exist"):
        seeder.ensure_alias(alias, apply=False)
    assert seeder.ensure_alias(alias, apply=False, planned_keys=[KEY_ID]) is Outcome.CREATED
    assert kms.keyring.repo.get_alias(ACCOUNT, REGION, "alias/app") is None
    seeder.ensure_key(seed())
    seeder.ensure_key(seed(key_id=other))
    assert seeder.ensure_alias(alias) is Outcome.CREATED
    assert seeder.ensure_alias(alias) is Outcome.PRESENT
    with pytest.raises(SeedConflict, match="never retargets"):
        seeder.ensure_alias(AliasSeed("alias/app", other, ACCOUNT, REGION))
    for name, message in (("alias/aws/s3", "reserved"), ("alias/bad name", "letters, digits"), ("app", "alias/")):
        with pytest.raises(SeedConflict, match=message):
            seeder.ensure_alias(AliasSeed(name, KEY_ID, ACCOUNT, REGION))
