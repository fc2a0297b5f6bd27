"""Seeding: keys with fixed ids (and optionally given material) and aliases, created if absent, never changed.

The operator's `keyhold kms seed` (src/keyhold/seed.py) reads a file into KeySeed and AliasSeed values; this module
decides, key by key, whether the key is already there, creates it if not, and refuses (SeedConflict) rather than
touch a key or alias that exists with other material, another kind, or another target. Seeding acts for the
operator on the store directly: no request, no policy evaluation.

Given material gets the same deterministic ids as imported material (crypto/key_import.material_id), so a second
run recognises it without unwrapping anything. Several material versions of a symmetric key are seeded as its
rotation history, oldest first: the last one is current, the earlier ones decrypt what they encrypted.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from keyhold.crypto import key_import
from keyhold.domain.keys import import_state
from keyhold.domain.keys.aliases import RESERVED_PREFIX
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import (
    DAY,
    KEY_MATERIAL_DOES_NOT_EXPIRE,
    ORIGIN_AWS_KMS,
    ORIGIN_EXTERNAL,
    SYMMETRIC_DEFAULT,
    Alias,
    Key,
    KeyManager,
    KeyState,
    Material,
    RotationType,
    default_key_policy,
)
from keyhold.domain.keys.policies import check_policy_document
from keyhold.domain.keys.specs import check_spec_and_usage
from keyhold.domain.keys.tags import check_tags
from keyhold.errors import ServiceError

MIN_ROTATION_PERIOD_DAYS = 90
MAX_ROTATION_PERIOD_DAYS = 2560
_ALIAS_NAME = re.compile(r"^alias/[a-zA-Z0-9:/_-]+$")


class SeedConflict(Exception):
    """The store holds something the seed file contradicts, or the file asks for something invalid."""


class Outcome(StrEnum):
    CREATED = "created"
    PRESENT = "present"


@dataclass(frozen=True, slots=True)
class KeySeed:
    key_id: str
    account_id: str
    region: str
    description: str = ""
    key_spec: str = SYMMETRIC_DEFAULT
    key_usage: str | None = None
    origin: str = ORIGIN_AWS_KMS
    policy: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    rotation_period_days: int | None = None  # automatic rotation on, with this period
    materials: Sequence[bytes] = field(default_factory=tuple, repr=False)  # oldest first; secret


@dataclass(frozen=True, slots=True)
class AliasSeed:
    name: str
    target_key_id: str
    account_id: str
    region: str


class Seeder:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def ensure_key(self, seed: KeySeed, *, apply: bool = True) -> Outcome:
        """Create the key unless a key with its id exists; SeedConflict if that key is not the one described.
        With ``apply=False`` only check: the outcome says what applying would do, and nothing is written."""
        key, materials = self._build(seed, generate=apply)
        existing = self._keyring.get(seed.key_id)
        if existing is None:
            if apply:
                if not self._keyring.repo.insert_key(key, materials, dict(seed.tags), None):  # pragma: no cover
                    raise SeedConflict(f"key {seed.key_id}: could not be stored")
                self._keyring.invalidate()
            return Outcome.CREATED
        _check_same_key(existing, key)
        self._check_same_material(existing, materials if seed.materials else [])
        return Outcome.PRESENT

    def ensure_alias(self, seed: AliasSeed, *, apply: bool = True, planned_keys: Sequence[str] = ()) -> Outcome:
        """Create the alias unless it exists; SeedConflict if it points elsewhere. ``planned_keys`` are keys a
        check run (``apply=False``) would create before the alias."""
        if not _ALIAS_NAME.match(seed.name) or len(seed.name) > 256:
            raise SeedConflict(f"alias {seed.name}: an alias name is alias/ followed by letters, digits and :/_-")
        if seed.name.startswith(RESERVED_PREFIX):
            raise SeedConflict(f"alias {seed.name}: alias/aws/ names are reserved for AWS managed keys")
        target = self._keyring.get(seed.target_key_id)
        if target is None:
            if apply or seed.target_key_id not in planned_keys:
                raise SeedConflict(f"alias {seed.name}: target key {seed.target_key_id} does not exist")
        elif (target.account_id, target.region) != (seed.account_id, seed.region):
            raise SeedConflict(
                f"alias {seed.name}: target key {seed.target_key_id} is in account {target.account_id}, "
                f"region {target.region}"
            )
        existing = self._keyring.repo.get_alias(seed.account_id, seed.region, seed.name)
        if existing is not None:
            if existing.target_key_id != seed.target_key_id:
                raise SeedConflict(
                    f"alias {seed.name} exists and points at key {existing.target_key_id}, not {seed.target_key_id}; "
                    "seeding never retargets an alias"
                )
            return Outcome.PRESENT
        if apply:
            now = self._keyring.clock()
            alias = Alias(seed.account_id, seed.region, seed.name, seed.target_key_id, now, now)
            if not self._keyring.repo.insert_alias(alias):  # pragma: no cover - a concurrent writer won
                raise SeedConflict(f"alias {seed.name}: created concurrently by someone else")
            self._keyring.invalidate()
        return Outcome.CREATED

    # -- building the key ---------------------------------------------------------------------------------------

    def _build(self, seed: KeySeed, *, generate: bool) -> tuple[Key, list[Material]]:
        """The key and materials the seed describes (validated), as they would be stored; without ``generate`` an
        AWS_KMS key without given material gets none (a check need not generate it)."""
        where = f"key {seed.key_id}"
        try:
            usage = check_spec_and_usage(seed.key_spec, seed.key_usage)
            if seed.policy is not None:
                check_policy_document(seed.policy)
            check_tags(seed.tags)
        except ServiceError as exc:
            raise SeedConflict(f"{where}: {exc.message}") from None
        if seed.origin not in (ORIGIN_AWS_KMS, ORIGIN_EXTERNAL):
            raise SeedConflict(f"{where}: Origin must be AWS_KMS or EXTERNAL (Keyhold has no custom key stores)")
        symmetric = seed.key_spec == SYMMETRIC_DEFAULT
        if len(seed.materials) > 1 and not symmetric:
            raise SeedConflict(f"{where}: only SYMMETRIC_DEFAULT keys take more than one material version")
        rotation = seed.rotation_period_days
        if rotation is not None:
            if not symmetric or seed.origin != ORIGIN_AWS_KMS:
                raise SeedConflict(
                    f"{where}: automatic rotation is only for SYMMETRIC_DEFAULT keys with AWS_KMS origin"
                )
            if not MIN_ROTATION_PERIOD_DAYS <= rotation <= MAX_ROTATION_PERIOD_DAYS:
                raise SeedConflict(
                    f"{where}: RotationPeriodInDays must be {MIN_ROTATION_PERIOD_DAYS} to {MAX_ROTATION_PERIOD_DAYS}"
                )
        if seed.origin == ORIGIN_EXTERNAL and not seed.materials and not seed.enabled:
            raise SeedConflict(f"{where}: an EXTERNAL key without KeyMaterial is pending import; it cannot be disabled")
        now = self._keyring.clock()
        key = Key(
            key_id=seed.key_id,
            account_id=seed.account_id,
            region=seed.region,
            description=seed.description,
            key_usage=usage,
            key_spec=seed.key_spec,
            origin=seed.origin,
            key_manager=KeyManager.CUSTOMER,
            state=KeyState.ENABLED if seed.enabled else KeyState.DISABLED,
            created_at=now,
            deletion_date=None,
            pending_window_days=None,
            rotation_enabled=rotation is not None,
            rotation_period_days=rotation,
            next_rotation_at=now + rotation * DAY if rotation is not None else None,
            multi_region=False,
            policy=seed.policy if seed.policy is not None else default_key_policy(seed.account_id),
            current_material_id="",
        )
        materials = self._materials(key, seed, now)
        if not materials and seed.origin == ORIGIN_AWS_KMS and generate:
            materials = [self._keyring.new_material(key, 0, None)]
        if materials:
            key = key.with_changes(current_material_id=materials[-1].material_id)
        if seed.origin == ORIGIN_EXTERNAL:
            key = import_state.settle(key, materials)
        return key, materials

    def _materials(self, key: Key, seed: KeySeed, now: float) -> list[Material]:
        external = seed.origin == ORIGIN_EXTERNAL
        materials: list[Material] = []
        for seq, raw in enumerate(seed.materials):
            try:
                secret = key_import.canonical_material(seed.key_spec, raw)
            except key_import.IncorrectMaterial as exc:
                raise SeedConflict(f"key {seed.key_id}: KeyMaterial[{seq}]: {exc}") from None
            material_id = key_import.material_id(seed.key_id, secret)
            if any(m.material_id == material_id for m in materials):
                raise SeedConflict(f"key {seed.key_id}: KeyMaterial[{seq}] repeats an earlier material version")
            rotation_type = None if seq == 0 else RotationType.ON_DEMAND if external else RotationType.AUTOMATIC
            materials.append(
                Material(
                    material_id=material_id,
                    key_id=seed.key_id,
                    seq=seq,
                    wrapped=self._keyring.wrap_material(key, material_id, secret),
                    created_at=now,
                    rotation_type=rotation_type,
                    expiration_model=KEY_MATERIAL_DOES_NOT_EXPIRE if external else None,
                )
            )
        return materials

    def _check_same_material(self, existing: Key, materials: list[Material]) -> None:
        """The seeded material versions must be the key's first ones (later rotations are the key's own)."""
        if not materials:
            return
        stored = [m.material_id for m in self._keyring.repo.list_materials(existing.key_id) if not m.pending_rotation]
        if stored[: len(materials)] != [m.material_id for m in materials]:
            raise SeedConflict(
                f"key {existing.key_id} exists with different key material; seeding never overwrites key material "
                "(schedule the key's deletion or change the file)"
            )


def _check_same_key(existing: Key, wanted: Key) -> None:
    where = f"key {existing.key_id}"
    if (existing.account_id, existing.region) != (wanted.account_id, wanted.region):
        raise SeedConflict(
            f"{where} exists in account {existing.account_id}, region {existing.region}, "
            f"not in account {wanted.account_id}, region {wanted.region}"
        )
    for name, have, want in (
        ("KeySpec", existing.key_spec, wanted.key_spec),
        ("KeyUsage", existing.key_usage.value, wanted.key_usage.value),
        ("Origin", existing.origin, wanted.origin),
    ):
        if have != want:
            raise SeedConflict(f"{where} exists with {name} {have}, not {want}; seeding never changes a key")
    if existing.state is KeyState.PENDING_DELETION:
        raise SeedConflict(f"{where} exists but is pending deletion; cancel the deletion or wait until it is gone")
