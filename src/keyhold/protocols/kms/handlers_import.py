"""Handlers of the imported-key-material operations: GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial. The decisions are in domain/keys/imports.py."""

from typing import Any

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.service import KmsService
from keyhold.domain.keys.specs import is_symmetric
from keyhold.protocols.kms.shapes import b64, epoch

Params = dict[str, Any]
Body = dict[str, Any]


def get_parameters_for_import(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    parameters = kms.imports.get_parameters(
        ctx, params["KeyId"], params["WrappingAlgorithm"], params["WrappingKeySpec"]
    )
    return {
        "KeyId": parameters.key.arn,
        "ImportToken": b64(parameters.import_token),
        "PublicKey": b64(parameters.public_key),
        "ParametersValidTo": epoch(parameters.valid_to),
    }


def import_key_material(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    change = kms.imports.import_material(
        ctx,
        params["KeyId"],
        params["ImportToken"],
        params["EncryptedKeyMaterial"],
        expiration_model=params.get("ExpirationModel"),
        valid_to=params.get("ValidTo"),
        import_type=params.get("ImportType"),
        material_id=params.get("KeyMaterialId"),
        description=params.get("KeyMaterialDescription"),
    )
    body: Body = {"KeyId": change.key.arn}
    if is_symmetric(change.key):  # key material ids are reported for symmetric encryption keys only
        body["KeyMaterialId"] = change.material_id
    return body


def delete_imported_key_material(kms: KmsService, ctx: RequestContext, params: Params) -> Body:
    change = kms.imports.delete_material(ctx, params["KeyId"], params.get("KeyMaterialId"))
    body: Body = {"KeyId": change.key.arn}
    if is_symmetric(change.key) and change.material_id:
        body["KeyMaterialId"] = change.material_id
    return body
