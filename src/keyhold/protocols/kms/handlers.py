"""One function per KMS operation: validated request members in, response members out.

Each handler reads the members botocore's model defines (already type-checked and base64-decoded by
protocols/model_validation.py), calls the domain, and renders the result. No handler decides policy or state.
"""

from typing import Any

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.cryptoops import DRY_RUN_MESSAGE
from keyhold.domain.keys.errors import DryRunSucceeded, Unsupported, ValidationFailed
from keyhold.domain.keys.service import KmsService
from keyhold.protocols.kms.handlers_asymmetric import derive_shared_secret as derive_shared_secret
from keyhold.protocols.kms.handlers_asymmetric import generate_data_key_pair as generate_data_key_pair
from keyhold.protocols.kms.handlers_asymmetric import (
    generate_data_key_pair_without_plaintext as generate_data_key_pair_without_plaintext,
)
from keyhold.protocols.kms.handlers_asymmetric import generate_mac as generate_mac
from keyhold.protocols.kms.handlers_asymmetric import get_public_key as get_public_key
from keyhold.protocols.kms.handlers_asymmetric import sign as sign
from keyhold.protocols.kms.handlers_asymmetric import verify as verify
from keyhold.protocols.kms.handlers_asymmetric import verify_mac as verify_mac
from keyhold.protocols.kms.shapes import alias_entry, b64, epoch, grant_entry, key_metadata, paged, rotation_entry

Params = dict[str, Any]
Body = dict[str, Any]

DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}


def check_common_members(kms: KmsService, params: Params) -> None:
    """Grant tokens must be ones Keyhold issued; members Keyhold cannot honour are refused, never ignored."""
    if params.get("GrantTokens"):
        kms.grants.check_tokens(params["GrantTokens"])
    if "Recipient" in params:
        raise Unsupported("Keyhold does not support Recipient (AWS Nitro Enclaves attestation).")
    for member in ("CustomKeyStoreId", "XksKeyId"):
        if params.get(member):
            raise Unsupported(f"Keyhold has no custom key stores; {member} is not supported.")


def _context(params: Params, name: str = "EncryptionContext") -> dict[str, str]:
    return dict(params.get(name) or {})


def _limit(params: Params, default: int) -> int:
    return int(params.get("Limit") or default)


# -- keys ---------------------------------------------------------------------------------------------------------


def create_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    tags = {tag["TagKey"]: tag["TagValue"] for tag in params.get("Tags") or []}
    key = kms.keys.create_key(
        ctx,
        description=params.get("Description", ""),
        key_usage=params.get("KeyUsage"),
        key_spec=params.get("KeySpec") or params.get("CustomerMasterKeySpec"),
        origin=params.get("Origin"),
        policy=params.get("Policy"),
        tags=tags,
        multi_region=bool(params.get("MultiRegion")),
        bypass_lockout_check=bool(params.get("BypassPolicyLockoutSafetyCheck")),
    )
    return {"KeyMetadata": key_metadata(key)}


def describe_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return {"KeyMetadata": key_metadata(kms.keys.describe(ctx, params["KeyId"]))}


def list_keys(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    keys, marker = kms.keys.list_keys(ctx, params.get("Marker"), _limit(params, 100))
    return paged("Keys", [{"KeyId": key.key_id, "KeyArn": key.arn} for key in keys], marker)


def enable_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.keys.enable(ctx, params["KeyId"])
    return {}


def disable_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.keys.disable(ctx, params["KeyId"])
    return {}


def schedule_key_deletion(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key = kms.keys.schedule_deletion(ctx, params["KeyId"], params.get("PendingWindowInDays"))
    return {
        "KeyId": key.arn,
        "DeletionDate": epoch(key.deletion_date or 0.0),
        "KeyState": key.state.value,
        "PendingWindowInDays": key.pending_window_days,
    }


def cancel_key_deletion(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return {"KeyId": kms.keys.cancel_deletion(ctx, params["KeyId"]).arn}


def update_key_description(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.keys.update_description(ctx, params["KeyId"], params["Description"])
    return {}


# -- aliases ------------------------------------------------------------------------------------------------------


def create_alias(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.aliases.create(ctx, params["AliasName"], params["TargetKeyId"])
    return {}


def update_alias(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.aliases.update(ctx, params["AliasName"], params["TargetKeyId"])
    return {}


def delete_alias(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.aliases.delete(ctx, params["AliasName"])
    return {}


def list_aliases(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    aliases, marker = kms.aliases.list(ctx, params.get("KeyId"), params.get("Marker"), _limit(params, 50))
    return paged("Aliases", [alias_entry(alias) for alias in aliases], marker)


# -- cryptographic operations -------------------------------------------------------------------------------------


def encrypt(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    sealed = kms.crypto.encrypt(
        ctx,
        params["KeyId"],
        params["Plaintext"],
        _context(params),
        params.get("EncryptionAlgorithm"),
        dry_run=bool(params.get("DryRun")),
    )
    return {
        "CiphertextBlob": b64(sealed.ciphertext),
        "KeyId": sealed.key.arn,
        "EncryptionAlgorithm": sealed.algorithm,
    }


def decrypt(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    if "CiphertextBlob" not in params:
        raise ValidationFailed(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
            "Member must not be null"
        )
    opened = kms.crypto.decrypt(
        ctx,
        params["CiphertextBlob"],
        _context(params),
        params.get("KeyId"),
        params.get("EncryptionAlgorithm"),
        dry_run=bool(params.get("DryRun")),
    )
    body: Body = {
        "KeyId": opened.key.arn,
        "Plaintext": b64(opened.plaintext),
        "EncryptionAlgorithm": opened.algorithm,
    }
    if opened.material_id:
        body["KeyMaterialId"] = opened.material_id
    return body


def re_encrypt(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    if "CiphertextBlob" not in params:
        raise ValidationFailed(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
            "Member must not be null"
        )
    opened, sealed = kms.crypto.re_encrypt(
        ctx,
        params["CiphertextBlob"],
        _context(params, "SourceEncryptionContext"),
        params.get("SourceKeyId"),
        params["DestinationKeyId"],
        _context(params, "DestinationEncryptionContext"),
        params.get("SourceEncryptionAlgorithm"),
        params.get("DestinationEncryptionAlgorithm"),
        dry_run=bool(params.get("DryRun")),
    )
    body: Body = {
        "CiphertextBlob": b64(sealed.ciphertext),
        "SourceKeyId": opened.key.arn,
        "KeyId": sealed.key.arn,
        "SourceEncryptionAlgorithm": opened.algorithm,
        "DestinationEncryptionAlgorithm": sealed.algorithm,
    }
    if opened.material_id:
        body["SourceKeyMaterialId"] = opened.material_id
    if sealed.material_id:
        body["DestinationKeyMaterialId"] = sealed.material_id
    return body


def _data_key_size(params: Params) -> int:
    spec, count = params.get("KeySpec"), params.get("NumberOfBytes")
    if (spec is None) == (count is None):
        raise ValidationFailed("Please specify either number of bytes or key spec.")
    return DATA_KEY_BYTES[spec] if spec is not None else int(count or 0)


def generate_data_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    plaintext, sealed = kms.crypto.generate_data_key(
        ctx, params["KeyId"], _data_key_size(params), _context(params), dry_run=bool(params.get("DryRun"))
    )
    return {
        "CiphertextBlob": b64(sealed.ciphertext),
        "Plaintext": b64(plaintext),
        "KeyId": sealed.key.arn,
        "KeyMaterialId": sealed.material_id,
    }


def generate_data_key_without_plaintext(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    _plaintext, sealed = kms.crypto.generate_data_key(
        ctx,
        params["KeyId"],
        _data_key_size(params),
        _context(params),
        operation="GenerateDataKeyWithoutPlaintext",
        dry_run=bool(params.get("DryRun")),
    )
    return {
        "CiphertextBlob": b64(sealed.ciphertext),
        "KeyId": sealed.key.arn,
        "KeyMaterialId": sealed.material_id,
    }


def generate_random(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    count = params.get("NumberOfBytes")
    if count is None:
        raise ValidationFailed(
            "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: "
            "Member must not be null"
        )
    return {"Plaintext": b64(kms.crypto.generate_random(ctx, int(count)))}


# -- rotation -----------------------------------------------------------------------------------------------------


def enable_key_rotation(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.rotation.enable(ctx, params["KeyId"], params.get("RotationPeriodInDays"))
    return {}


def disable_key_rotation(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.rotation.disable(ctx, params["KeyId"])
    return {}


def get_key_rotation_status(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key = kms.rotation.status(ctx, params["KeyId"])
    body: Body = {"KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn}
    if key.rotation_enabled:
        body["RotationPeriodInDays"] = key.rotation_period_days
        if key.next_rotation_at is not None:
            body["NextRotationDate"] = epoch(key.next_rotation_at)
    return body


def rotate_key_on_demand(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return {"KeyId": kms.rotation.rotate_on_demand(ctx, params["KeyId"]).arn}


def list_key_rotations(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    include_all = params.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    entries, marker = kms.rotation.list(ctx, params["KeyId"], include_all, params.get("Marker"), _limit(params, 100))
    return paged("Rotations", [rotation_entry(entry) for entry in entries], marker)


# -- tags and key policies ----------------------------------------------------------------------------------------


def tag_resource(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.tags.tag(ctx, params["KeyId"], {tag["TagKey"]: tag["TagValue"] for tag in params["Tags"]})
    return {}


def untag_resource(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.tags.untag(ctx, params["KeyId"], params["TagKeys"])
    return {}


def list_resource_tags(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    tags, marker = kms.tags.list(ctx, params["KeyId"], params.get("Marker"), _limit(params, 50))
    return paged("Tags", [{"TagKey": k, "TagValue": v} for k, v in tags], marker)


def get_key_policy(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    policy = kms.policies.get(ctx, params["KeyId"], params.get("PolicyName"))
    return {"Policy": policy, "PolicyName": "default"}


def put_key_policy(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    kms.policies.put(
        ctx,
        params["KeyId"],
        params.get("PolicyName"),
        params["Policy"],
        bypass_lockout_check=bool(params.get("BypassPolicyLockoutSafetyCheck")),
    )
    return {}


def list_key_policies(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return {"PolicyNames": kms.policies.list_names(ctx, params["KeyId"]), "Truncated": False}


# -- grants -------------------------------------------------------------------------------------------------------


def create_grant(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    if params.get("DryRun"):
        kms.keys.describe(ctx, params["KeyId"])
        raise DryRunSucceeded(DRY_RUN_MESSAGE)
    grant_id, token = kms.grants.create(
        ctx,
        kms.authz,
        params["KeyId"],
        params["GranteePrincipal"],
        params["Operations"],
        retiring=params.get("RetiringPrincipal"),
        constraints=params.get("Constraints"),
        name=params.get("Name"),
    )
    return {"GrantToken": token, "GrantId": grant_id}


def list_grants(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    grants, marker = kms.grants.list_grants(
        ctx,
        kms.authz,
        params["KeyId"],
        params.get("GrantId"),
        params.get("GranteePrincipal"),
        params.get("Marker"),
        _limit(params, 50),
    )
    return paged("Grants", [grant_entry(grant, kms.keyring.get(grant.key_id)) for grant in grants], marker)


def list_retirable_grants(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    grants, marker = kms.grants.list_retirable(
        ctx, kms.authz, params["RetiringPrincipal"], params.get("Marker"), _limit(params, 50)
    )
    return paged("Grants", [grant_entry(grant, kms.keyring.get(grant.key_id)) for grant in grants], marker)


def retire_grant(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    if params.get("DryRun"):
        raise DryRunSucceeded(DRY_RUN_MESSAGE)
    kms.grants.retire(ctx, params.get("GrantToken"), params.get("KeyId"), params.get("GrantId"))
    return {}


def revoke_grant(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    if params.get("DryRun"):
        raise DryRunSucceeded(DRY_RUN_MESSAGE)
    kms.grants.revoke(ctx, kms.authz, params["KeyId"], params["GrantId"])
    return {}
