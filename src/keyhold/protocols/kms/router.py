"""The KMS dispatch table (X-Amz-Target "TrentService.<Operation>") and the request pipeline around it.

Operations in botocore's KMS model that are not in OPERATIONS answer UnsupportedOperationException; targets that
are not in the model answer UnknownOperationException.
"""

import json
import logging
from collections.abc import Callable
from typing import Any

from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.service import KmsService
from keyhold.errors import ServiceError
from keyhold.protocols import awsjson
from keyhold.protocols.http import Request, Response
from keyhold.protocols.kms import handlers, handlers_import
from keyhold.protocols.kms.audit import KmsAudit
from keyhold.protocols.kms.audit import now as audit_clock
from keyhold.protocols.kms.errors import AUTH_ERROR_CODES, code_for
from keyhold.protocols.model_validation import OperationValidator, SerializationError, ValidationError
from keyhold.protocols.sigv4 import AuthFailure

log = logging.getLogger("keyhold.kms")

TARGET_PREFIX = "TrentService."
MAX_BODY_BYTES = 1 << 20  # the front door's limit; KMS's largest request (a 32 KiB policy) is far below

Handler = Callable[[KmsService, RequestContext, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Handler] = {
    "CreateKey": handlers.create_key,
    "DescribeKey": handlers.describe_key,
    "ListKeys": handlers.list_keys,
    "EnableKey": handlers.enable_key,
    "DisableKey": handlers.disable_key,
    "ScheduleKeyDeletion": handlers.schedule_key_deletion,
    "CancelKeyDeletion": handlers.cancel_key_deletion,
    "UpdateKeyDescription": handlers.update_key_description,
    "CreateAlias": handlers.create_alias,
    "UpdateAlias": handlers.update_alias,
    "DeleteAlias": handlers.delete_alias,
    "ListAliases": handlers.list_aliases,
    "Encrypt": handlers.encrypt,
    "Decrypt": handlers.decrypt,
    "ReEncrypt": handlers.re_encrypt,
    "GenerateDataKey": handlers.generate_data_key,
    "GenerateDataKeyWithoutPlaintext": handlers.generate_data_key_without_plaintext,
    "GenerateRandom": handlers.generate_random,
    "EnableKeyRotation": handlers.enable_key_rotation,
    "DisableKeyRotation": handlers.disable_key_rotation,
    "GetKeyRotationStatus": handlers.get_key_rotation_status,
    "RotateKeyOnDemand": handlers.rotate_key_on_demand,
    "ListKeyRotations": handlers.list_key_rotations,
    "TagResource": handlers.tag_resource,
    "UntagResource": handlers.untag_resource,
    "ListResourceTags": handlers.list_resource_tags,
    "GetKeyPolicy": handlers.get_key_policy,
    "PutKeyPolicy": handlers.put_key_policy,
    "ListKeyPolicies": handlers.list_key_policies,
    "CreateGrant": handlers.create_grant,
    "ListGrants": handlers.list_grants,
    "ListRetirableGrants": handlers.list_retirable_grants,
    "RetireGrant": handlers.retire_grant,
    "RevokeGrant": handlers.revoke_grant,
    "GetPublicKey": handlers.get_public_key,
    "Sign": handlers.sign,
    "Verify": handlers.verify,
    "GenerateDataKeyPair": handlers.generate_data_key_pair,
    "GenerateDataKeyPairWithoutPlaintext": handlers.generate_data_key_pair_without_plaintext,
    "GenerateMac": handlers.generate_mac,
    "VerifyMac": handlers.verify_mac,
    "DeriveSharedSecret": handlers.derive_shared_secret,
    "GetParametersForImport": handlers_import.get_parameters_for_import,
    "ImportKeyMaterial": handlers_import.import_key_material,
    "DeleteImportedKeyMaterial": handlers_import.delete_imported_key_material,
}


INLINE_OPERATIONS = frozenset(
    {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom"}
)
"""Served on the event loop: they only read (keys, aliases and materials from memory once cached)."""


class KmsProtocol:
    """AWS JSON 1.1 in, AWS JSON 1.1 out, for the KMS service."""

    def __init__(self, kms: KmsService, validator: OperationValidator, audit: KmsAudit | None = None) -> None:
        self._kms = kms
        self._validator = validator
        self._audit = audit
        self.unsupported = sorted(validator.operation_names - OPERATIONS.keys())

    def handle(self, request: Request, principal: Principal, region: str) -> Response:
        rid = request.request_id
        target = request.header("x-amz-target")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        handler = OPERATIONS.get(operation)
        if handler is None:
            if operation in self._validator.operation_names:
                return awsjson.error(rid, "UnsupportedOperationException", f"Keyhold does not support {operation}.")
            return awsjson.error(rid, "UnknownOperationException", "")
        ctx = RequestContext(
            principal=principal,
            region=region,
            request_id=rid,
            source_ip=request.client_ip,
            user_agent=request.header("user-agent"),
            secure=request.secure,
        )
        started = audit_clock()
        params: dict[str, Any] = {}
        try:
            body = json.loads(request.body) if request.body else {}
            params = self._validator.validate(operation, body)
        except (ValueError, SerializationError) as exc:
            message = getattr(exc, "message", "") or "Start of structure or map found where not expected."
            return self._failed(ctx, operation, started, params, "SerializationException", message)
        except ValidationError as exc:
            return self._failed(ctx, operation, started, params, "ValidationException", exc.message)
        try:
            self._kms.quotas.charge(ctx, operation)  # a no-op for operations charged by their key (domain/quotas.py)
            handlers.check_common_members(self._kms, params)
            result = handler(self._kms, ctx, params)
        except ServiceError as exc:
            key_arn = getattr(exc, "resource_arn", None)
            return self._failed(ctx, operation, started, params, code_for(exc), exc.message, key_arn)
        if self._audit is not None:
            self._audit.record(ctx, operation, started, params, result)
        return awsjson.ok(rid, result)

    def _failed(
        self,
        ctx: RequestContext,
        operation: str,
        started: float,
        params: dict[str, Any],
        code: str,
        message: str,
        key_arn: str | None = None,
    ) -> Response:
        if self._audit is not None:
            self._audit.record(ctx, operation, started, params, None, (code, message), key_arn)
        return awsjson.error(ctx.request_id, code, message)

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response:
        code, status = AUTH_ERROR_CODES[failure]
        return awsjson.error(request.request_id, code, message, status)

    def internal_error(self, request: Request) -> Response:
        return awsjson.error(request.request_id, "KMSInternalException", "An internal error occurred.", 500)

    def inline(self, request: Request) -> bool:
        return request.header("x-amz-target")[len(TARGET_PREFIX) :] in INLINE_OPERATIONS

    def too_large(self, request: Request) -> Response:
        message = f"The request body is larger than the {MAX_BODY_BYTES} bytes Keyhold accepts."
        return awsjson.error(request.request_id, "SerializationException", message, 413)
