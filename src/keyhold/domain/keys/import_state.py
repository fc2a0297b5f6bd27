"""What an EXTERNAL key's imported materials make of its state: pure functions, no storage.

    all materials permanently associated with the key are present  → usable (PendingImport becomes Enabled)
    any of them deleted or expired                                   → PendingImport (PendingDeletion stays)
    material imported as new but not rotated in (pending_rotation)   → not part of the key: its presence or
                                                                       absence changes nothing; deleted or expired,
                                                                       it is removed outright

DescribeKey's ExpirationModel and ValidTo come from the present, permanently associated materials: the earliest
ValidTo of those that expire (AWS: "the earliest time at which any imported key material permanently associated
with this KMS key expires").
"""

from collections.abc import Sequence
from dataclasses import dataclass

from keyhold.domain.keys.model import KEY_MATERIAL_DOES_NOT_EXPIRE, KEY_MATERIAL_EXPIRES, Key, KeyState, Material


@dataclass(frozen=True, slots=True)
class Expiry:
    """What expiring a key's due materials writes: the key, the materials cleared, the ids removed."""

    key: Key
    cleared: list[Material]
    removed: list[str]


def associated(materials: Sequence[Material]) -> list[Material]:
    """The materials permanently associated with the key (all but those pending rotation)."""
    return [m for m in materials if not m.pending_rotation]


def complete(materials: Sequence[Material]) -> bool:
    """True if the key has material and every permanently associated material is present."""
    permanent = associated(materials)
    return bool(permanent) and all(m.present for m in permanent)


def expiration(materials: Sequence[Material]) -> tuple[str | None, float | None]:
    """(ExpirationModel, ValidTo) of a key with these materials; (None, None) while none is present."""
    present = [m for m in associated(materials) if m.present]
    if not present:
        return None, None
    dates = [m.valid_to for m in present if m.valid_to is not None]
    if dates:
        return KEY_MATERIAL_EXPIRES, min(dates)
    return KEY_MATERIAL_DOES_NOT_EXPIRE, None


def settle(key: Key, materials: Sequence[Material]) -> Key:
    """``key`` with its state and expiration recomputed from ``materials`` (after an import, deletion or expiry).

    A key pending deletion keeps that state; a Disabled key with all its material stays Disabled.
    """
    expiration_model, valid_to = expiration(materials)
    state = key.state
    if state is not KeyState.PENDING_DELETION:
        if not complete(materials):
            state = KeyState.PENDING_IMPORT
        elif state is KeyState.PENDING_IMPORT:
            state = KeyState.ENABLED
    return key.with_changes(state=state, expiration_model=expiration_model, valid_to=valid_to)


def without(materials: Sequence[Material], gone: Sequence[Material]) -> list[Material]:
    """``materials`` after deleting ``gone``: permanent ones lose their secret, pending-rotation ones vanish."""
    ids = {m.material_id for m in gone}
    result: list[Material] = []
    for material in materials:
        if material.material_id not in ids:
            result.append(material)
        elif not material.pending_rotation:
            result.append(cleared(material))
    return result


def cleared(material: Material) -> Material:
    return material.with_changes(wrapped=None, expiration_model=None, valid_to=None)


def expire(key: Key, materials: Sequence[Material], now: float) -> Expiry | None:
    """The writes that delete every present material whose ValidTo has come; None if none has."""
    due = [m for m in materials if m.present and m.valid_to is not None and m.valid_to <= now]
    if not due:
        return None
    remaining = without(materials, due)
    return Expiry(
        key=settle(key, remaining),
        cleared=[cleared(m) for m in due if not m.pending_rotation],
        removed=[m.material_id for m in due if m.pending_rotation],
    )
