"""What the KMS store and domain tests share: a key record to store, and a clock the tests move by hand."""

import uuid

from keyhold.domain.keys.model import Key, KeyManager, KeyState, KeyUsage, default_key_policy

ACCOUNT = "000000000000"
REGION = "us-east-1"
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_key(account_id: str = ACCOUNT, region: str = REGION, **changes: object) -> Key:
    """An enabled symmetric customer key (a fresh id), with ``changes`` applied."""
    key = Key(
        key_id=str(uuid.uuid4()),
        account_id=account_id,
        region=region,
        description="a test key",
        key_usage=KeyUsage.ENCRYPT_DECRYPT,
        key_spec="SYMMETRIC_DEFAULT",
        origin="AWS_KMS",
        key_manager=KeyManager.CUSTOMER,
        state=KeyState.ENABLED,
        created_at=T0,
        deletion_date=None,
        pending_window_days=None,
        rotation_enabled=False,
        rotation_period_days=None,
        next_rotation_at=None,
        multi_region=False,
        policy=default_key_policy(account_id),
        current_material_id="",
    )
    return key.with_changes(**changes)
