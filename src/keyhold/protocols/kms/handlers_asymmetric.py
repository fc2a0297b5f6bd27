"""Handlers for asymmetric, HMAC and key-agreement keys: GetPublicKey, Sign, Verify, GenerateDataKeyPair
(WithoutPlaintext), GenerateMac, VerifyMac, DeriveSharedSecret. (Encrypt/Decrypt/ReEncrypt with RSA keys go through
handlers.py.) Members arrive validated against botocore's model and base64-decoded."""

from typing import Any

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.service import KmsService
from keyhold.protocols.kms.shapes import algorithm_members, b64

Params = dict[str, Any]
Body = dict[str, Any]


def get_public_key(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    found = kms.asymmetric.get_public_key(ctx, params["KeyId"])
    key = found.key
    return {
        "KeyId": key.arn,
        "PublicKey": b64(found.public_key),
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "KeyUsage": key.key_usage.value,
        **algorithm_members(key),
    }


def sign(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key, signature = kms.asymmetric.sign(
        ctx,
        params["KeyId"],
        params["Message"],
        params.get("MessageType"),
        params["SigningAlgorithm"],
        dry_run=bool(params.get("DryRun")),
    )
    return {"KeyId": key.arn, "Signature": b64(signature), "SigningAlgorithm": params["SigningAlgorithm"]}


def verify(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key = kms.asymmetric.verify(
        ctx,
        params["KeyId"],
        params["Message"],
        params.get("MessageType"),
        params["SigningAlgorithm"],
        params["Signature"],
        dry_run=bool(params.get("DryRun")),
    )
    return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": params["SigningAlgorithm"]}


def _data_key_pair(kms: KmsService, ctx: RequestContext, params: Params, operation: str) -> Body:
    pair = kms.crypto.generate_data_key_pair(
        ctx,
        params["KeyId"],
        params["KeyPairSpec"],
        dict(params.get("EncryptionContext") or {}),
        operation=operation,
        dry_run=bool(params.get("DryRun")),
    )
    body: Body = {
        "PrivateKeyCiphertextBlob": b64(pair.sealed.ciphertext),
        "PublicKey": b64(pair.public_key),
        "KeyId": pair.sealed.key.arn,
        "KeyPairSpec": params["KeyPairSpec"],
        "KeyMaterialId": pair.sealed.material_id,
    }
    if operation == "GenerateDataKeyPair":
        body["PrivateKeyPlaintext"] = b64(pair.private_key)
    return body


def generate_data_key_pair(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return _data_key_pair(kms, ctx, params, "GenerateDataKeyPair")


def generate_data_key_pair_without_plaintext(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    return _data_key_pair(kms, ctx, params, "GenerateDataKeyPairWithoutPlaintext")


def generate_mac(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key, tag = kms.macs.generate_mac(
        ctx, params["KeyId"], params["Message"], params["MacAlgorithm"], dry_run=bool(params.get("DryRun"))
    )
    return {"Mac": b64(tag), "MacAlgorithm": params["MacAlgorithm"], "KeyId": key.arn}


def verify_mac(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key = kms.macs.verify_mac(
        ctx,
        params["KeyId"],
        params["Message"],
        params["MacAlgorithm"],
        params["Mac"],
        dry_run=bool(params.get("DryRun")),
    )
    return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": params["MacAlgorithm"]}


def derive_shared_secret(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    key, secret = kms.asymmetric.derive_shared_secret(
        ctx,
        params["KeyId"],
        params["KeyAgreementAlgorithm"],
        params["PublicKey"],
        dry_run=bool(params.get("DryRun")),
    )
    return {
        "KeyId": key.arn,
        "SharedSecret": b64(secret),
        "KeyAgreementAlgorithm": params["KeyAgreementAlgorithm"],
        "KeyOrigin": key.origin,
    }
