"""Domain objects rendered as KMS response shapes. Blobs are base64, dates are epoch seconds."""

import base64
from typing import Any

from keyhold.domain.keys import specs
from keyhold.domain.keys.model import ORIGIN_EXTERNAL, Alias, Grant, Key, KeyState
from keyhold.domain.keys.rotation import RotationEntry
from keyhold.domain.keys.specs import is_symmetric


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def epoch(seconds: float) -> float:
    return round(seconds, 3)


def key_metadata(key: Key) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "AWSAccountId": key.account_id,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": epoch(key.created_at),
        "Enabled": key.state is KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.key_usage.value,
        "KeyState": key.state.value,
        "Origin": key.origin,
        "KeyManager": key.key_manager.value,
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "MultiRegion": key.multi_region,
    }
    metadata.update(algorithm_members(key))
    if is_symmetric(key) and key.current_material_id:  # symmetric encryption keys only, once they have material
        metadata["CurrentKeyMaterialId"] = key.current_material_id
    if key.origin == ORIGIN_EXTERNAL and key.expiration_model is not None:
        metadata["ExpirationModel"] = key.expiration_model
        if key.valid_to is not None:
            metadata["ValidTo"] = epoch(key.valid_to)
    if key.deletion_date is not None:
        metadata["DeletionDate"] = epoch(key.deletion_date)
    if key.pending_window_days is not None:
        metadata["PendingDeletionWindowInDays"] = key.pending_window_days
    return metadata


def algorithm_members(key: Key) -> dict[str, list[str]]:
    """EncryptionAlgorithms, SigningAlgorithms, MacAlgorithms or KeyAgreementAlgorithms: only the one the key's
    usage makes relevant, as DescribeKey and GetPublicKey list them."""
    members = {
        "EncryptionAlgorithms": specs.encryption_algorithms(key),
        "SigningAlgorithms": specs.signing_algorithms(key),
        "MacAlgorithms": specs.mac_algorithms(key),
        "KeyAgreementAlgorithms": specs.key_agreement_algorithms(key),
    }
    return {name: list(algorithms) for name, algorithms in members.items() if algorithms}


def alias_entry(alias: Alias) -> dict[str, Any]:
    return {
        "AliasName": alias.name,
        "AliasArn": alias.arn,
        "TargetKeyId": alias.target_key_id,
        "CreationDate": epoch(alias.created_at),
        "LastUpdatedDate": epoch(alias.updated_at),
    }


def rotation_entry(entry: RotationEntry) -> dict[str, Any]:
    material = entry.material
    state = "CURRENT" if entry.current else "PENDING_ROTATION" if material.pending_rotation else "NON_CURRENT"
    shape: dict[str, Any] = {
        "KeyId": entry.key.arn,
        "KeyMaterialId": material.material_id,
        "KeyMaterialState": state,
    }
    if entry.key.origin == ORIGIN_EXTERNAL:  # imported material: its import state and expiry
        if material.description is not None:
            shape["KeyMaterialDescription"] = material.description
        shape["ImportState"] = "IMPORTED" if material.present else "PENDING_IMPORT"
        if material.expiration_model is not None:
            shape["ExpirationModel"] = material.expiration_model
        if material.valid_to is not None:
            shape["ValidTo"] = epoch(material.valid_to)
    if material.rotation_type is not None:
        shape["RotationDate"] = epoch(material.created_at)
        shape["RotationType"] = material.rotation_type.value
    return shape


def paged(items_name: str, items: list[Any], next_marker: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {items_name: items, "Truncated": next_marker is not None}
    if next_marker is not None:
        body["NextMarker"] = next_marker
    return body


def grant_entry(grant: Grant, key: Key | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "KeyId": key.arn if key is not None else grant.key_id,
        "GrantId": grant.grant_id,
        "CreationDate": epoch(grant.created_at),
        "GranteePrincipal": grant.grantee_principal,
        "IssuingAccount": grant.issuing_account,
        "Operations": list(grant.operations),
    }
    if grant.name is not None:
        entry["Name"] = grant.name
    if grant.retiring_principal is not None:
        entry["RetiringPrincipal"] = grant.retiring_principal
    if grant.context_subset is not None:
        entry["Constraints"] = {"EncryptionContextSubset": dict(grant.context_subset)}
    elif grant.context_equals is not None:
        entry["Constraints"] = {"EncryptionContextEquals": dict(grant.context_equals)}
    return entry
