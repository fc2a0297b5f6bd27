"""KMS keys, their material versions and aliases, as the domain sees them (no wire names beyond AWS's enums)."""

import json
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum


class KeyState(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"


class KeyManager(StrEnum):
    AWS = "AWS"
    CUSTOMER = "CUSTOMER"


class RotationType(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    ON_DEMAND = "ON_DEMAND"


SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ORIGIN_AWS_KMS = "AWS_KMS"
ORIGIN_EXTERNAL = "EXTERNAL"
KEY_MATERIAL_EXPIRES = "KEY_MATERIAL_EXPIRES"
KEY_MATERIAL_DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"
DEFAULT_POLICY_NAME = "default"
DAY = 86_400.0


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(region: str, account_id: str, alias_name: str) -> str:
    return f"arn:aws:kms:{region}:{account_id}:{alias_name}"


def default_key_policy(account_id: str) -> str:
    """AWS's "key-default-1" policy: the account root may do everything, which delegates to IAM policies."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def key_id_to_bytes(key_id: str) -> bytes:
    return uuid.UUID(key_id).bytes


def key_id_from_bytes(raw: bytes) -> str:
    return str(uuid.UUID(bytes=raw))


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    account_id: str
    region: str
    description: str
    key_usage: KeyUsage
    key_spec: str
    origin: str
    key_manager: KeyManager
    state: KeyState
    created_at: float
    deletion_date: float | None
    pending_window_days: int | None
    rotation_enabled: bool
    rotation_period_days: int | None
    next_rotation_at: float | None
    multi_region: bool
    policy: str
    current_material_id: str  # "" for an EXTERNAL key that never had material imported
    # EXTERNAL keys: KEY_MATERIAL_EXPIRES if some imported material permanently associated with the key expires,
    # then valid_to is the earliest such expiry; KEY_MATERIAL_DOES_NOT_EXPIRE otherwise; None without material.
    expiration_model: str | None = None
    valid_to: float | None = None

    @property
    def arn(self) -> str:
        return key_arn(self.region, self.account_id, self.key_id)

    @property
    def enabled(self) -> bool:
        return self.state is KeyState.ENABLED

    def with_changes(self, **changes: object) -> "Key":
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """Something KMS did to a key on its own, not at a caller's request: ``DeleteKey`` (a scheduled deletion
    carried out), ``RotateKey`` (an automatic rotation), ``DeleteExpiredKeyMaterial`` (imported material whose
    ValidTo passed). The audit trail records each as a CloudTrail service event."""

    name: str
    key: Key
    at: float
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Material:
    """One version of a key's material, wrapped under the root key. ``material_id`` is 64 hex characters.

    Imported material (EXTERNAL keys) may be absent: ``wrapped`` is None after DeleteImportedKeyMaterial or expiry
    until the same material is imported again. ``pending_rotation`` marks material imported as NEW_KEY_MATERIAL
    that RotateKeyOnDemand has not made current yet (AWS's PENDING_ROTATION); it is not yet part of the key.
    """

    material_id: str
    key_id: str
    seq: int
    wrapped: bytes | None
    created_at: float  # when it became part of the key: its rotation date for rotations
    rotation_type: RotationType | None  # None for the material the key was created with
    expiration_model: str | None = None  # imported material only
    valid_to: float | None = None  # imported material that expires
    description: str | None = None  # KeyMaterialDescription
    pending_rotation: bool = False

    @property
    def present(self) -> bool:
        """False while imported material is deleted or expired (ImportState PENDING_IMPORT)."""
        return self.wrapped is not None

    def with_changes(self, **changes: object) -> "Material":
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Alias:
    account_id: str
    region: str
    name: str  # "alias/..."
    target_key_id: str
    created_at: float
    updated_at: float

    @property
    def arn(self) -> str:
        return alias_arn(self.region, self.account_id, self.name)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_marker`` is None on the last page."""

    items: list[object]
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission for a grantee principal to use one key for some operations, under optional constraints."""

    grant_id: str  # 64 hex characters
    key_id: str
    name: str | None
    grantee_principal: str
    retiring_principal: str | None
    issuing_account: str  # arn:aws:iam::<account>:root
    operations: tuple[str, ...]
    context_subset: tuple[tuple[str, str], ...] | None  # EncryptionContextSubset, sorted pairs
    context_equals: tuple[tuple[str, str], ...] | None  # EncryptionContextEquals, sorted pairs
    created_at: float

    def same_terms(self, other: "Grant") -> bool:
        """Equal in everything CreateGrant's Name makes idempotent (all but id and time)."""
        return (
            self.key_id,
            self.name,
            self.grantee_principal,
            self.retiring_principal,
            tuple(sorted(self.operations)),
            self.context_subset,
            self.context_equals,
        ) == (
            other.key_id,
            other.name,
            other.grantee_principal,
            other.retiring_principal,
            tuple(sorted(other.operations)),
            other.context_subset,
            other.context_equals,
        )
