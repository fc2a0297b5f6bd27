"""Key rotation: automatic (every 90-2560 days) and on demand (at most 25 times per key).

Rotation appends a material version and makes it current; every older version stays for Decrypt, which picks
the version named in the ciphertext. The key id and ARN never change.

Keys with imported material (Origin EXTERNAL) have no automatic rotation (UnsupportedOperationException, as AWS);
RotateKeyOnDemand on a symmetric one makes current the material imported as NEW_KEY_MATERIAL (PENDING_ROTATION).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.keys import import_state
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.errors import InvalidKeyState, LimitExceeded, Unsupported
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import (
    DAY,
    ORIGIN_EXTERNAL,
    SYMMETRIC_DEFAULT,
    Key,
    KeyEvent,
    KeyManager,
    KeyState,
    Material,
    RotationType,
)
from keyhold.domain.keys.paging import decode_marker, page

DEFAULT_ROTATION_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25


@dataclass(frozen=True, slots=True)
class RotationEntry:
    key: Key
    material: Material
    current: bool


class Rotation:
    def __init__(self, keyring: Keyring, authz: Authorizer) -> None:
        self._keyring = keyring
        self._authz = authz

    def enable(self, ctx: RequestContext, key_ref: str, period_days: int | None) -> None:
        period = period_days or DEFAULT_ROTATION_PERIOD_DAYS
        key = self._rotatable(ctx, key_ref, "EnableKeyRotation", {"kms:RotationPeriodInDays": period})
        self._save(
            key.with_changes(
                rotation_enabled=True,
                rotation_period_days=period,
                next_rotation_at=self._keyring.clock() + period * DAY,
            )
        )

    def disable(self, ctx: RequestContext, key_ref: str) -> None:
        key = self._rotatable(ctx, key_ref, "DisableKeyRotation")
        self._save(key.with_changes(rotation_enabled=False, next_rotation_at=None))

    def status(self, ctx: RequestContext, key_ref: str) -> Key:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "GetKeyRotationStatus")
        return key

    def rotate_on_demand(self, ctx: RequestContext, key_ref: str) -> Key:
        key = self._rotatable(ctx, key_ref, "RotateKeyOnDemand")
        materials = self._keyring.repo.list_materials(key.key_id)
        if sum(1 for m in materials if m.rotation_type is RotationType.ON_DEMAND) >= MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceeded(f"{key.arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.")
        if key.origin == ORIGIN_EXTERNAL:
            return self._rotate_to_imported(key, materials)
        return self._rotate(key, len(materials), RotationType.ON_DEMAND)

    def list(
        self, ctx: RequestContext, key_ref: str, include_all: bool, marker: str | None, limit: int
    ) -> tuple[list[RotationEntry], str | None]:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, "ListKeyRotations")
        after = decode_marker(marker)
        entries = [
            RotationEntry(key, material, material.material_id == key.current_material_id)
            for material in self._keyring.repo.list_materials(key.key_id)
            if include_all or material.rotation_type is not None
        ]
        if after is not None:
            entries = [entry for entry in entries if entry.material.seq > int(after)]
        return page(entries[: limit + 1], limit, lambda entry: str(entry.material.seq))

    def rotate_due(self) -> int:
        """Rotate every enabled key whose automatic rotation date has come; the background job calls this."""
        now = self._keyring.clock()
        count = 0
        for key in self._keyring.repo.keys_due(now):
            due = key.rotation_enabled and key.next_rotation_at is not None and key.next_rotation_at <= now
            if due and key.state is KeyState.ENABLED and key.rotation_period_days:
                seq = len(self._keyring.repo.list_materials(key.key_id))
                period = key.rotation_period_days * DAY
                next_at = (key.next_rotation_at or now) + period
                if next_at <= now:  # long overdue (the server was down): rotate once, then a full period
                    next_at = now + period
                rotated = self._rotate(key.with_changes(next_rotation_at=next_at), seq, RotationType.AUTOMATIC)
                details = (
                    ("rotationType", RotationType.AUTOMATIC.value),
                    ("keyOrigin", key.origin),
                    ("previousKeyMaterialId", key.current_material_id),
                    ("currentKeyMaterialId", rotated.current_material_id),
                )
                self._keyring.on_event(KeyEvent("RotateKey", rotated, now, details))
                count += 1
        return count

    def _rotatable(
        self, ctx: RequestContext, key_ref: str, action: str, facts: Mapping[str, ContextValue] | None = None
    ) -> Key:
        key = self._keyring.resolve(ctx, key_ref)
        self._authz.check(ctx, key, action, facts)
        if key.key_manager is KeyManager.AWS:
            raise Unsupported(f"{action} is not supported on AWS managed keys; KMS rotates them every year.")
        if key.key_spec != SYMMETRIC_DEFAULT:
            raise Unsupported(f"{key.arn} key spec is {key.key_spec} which is not valid for this operation.")
        if key.origin == ORIGIN_EXTERNAL and action != "RotateKeyOnDemand":
            raise Unsupported(f"{key.arn} origin is {key.origin} which is not valid for this operation.")
        self._keyring.require_enabled(key)
        return key

    def _rotate_to_imported(self, key: Key, materials: Sequence[Material]) -> Key:
        """Make the present PENDING_ROTATION material of an EXTERNAL key current."""
        pending = next((m for m in materials if m.pending_rotation), None)
        now = self._keyring.clock()
        if pending is None or not pending.present or (pending.valid_to is not None and pending.valid_to <= now):
            raise InvalidKeyState(
                f"{key.arn} has no imported key material pending rotation. Import new key material with "
                "ImportKeyMaterial and ImportType NEW_KEY_MATERIAL first."
            )
        material = pending.with_changes(pending_rotation=False, rotation_type=RotationType.ON_DEMAND, created_at=now)
        after = [material if m.material_id == material.material_id else m for m in materials]
        key = import_state.settle(key.with_changes(current_material_id=material.material_id), after)
        self._keyring.repo.replace_materials(key, [material])
        self._keyring.invalidate()
        return key

    def _rotate(self, key: Key, seq: int, rotation_type: RotationType) -> Key:
        material = self._keyring.new_material(key, seq, rotation_type)
        key = key.with_changes(current_material_id=material.material_id)
        self._keyring.repo.add_material(key, material)
        self._keyring.invalidate()
        return key

    def _save(self, key: Key) -> None:
        self._keyring.repo.update_key(key)
        self._keyring.invalidate()
