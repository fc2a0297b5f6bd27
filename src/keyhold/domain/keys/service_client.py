"""How Keyhold's own services (the object store, the mail receiver, mailboxes) call KMS: in process, as AWS does.

Two ways, as in AWS:
- ``on_behalf_of(ctx)``: the caller's own identity, with ``kms:ViaService`` set to the service's endpoint name
  (``s3.us-east-1.amazonaws.com``). SSE-KMS uploads work this way: the uploader needs kms:GenerateDataKey, and
  AWS managed keys (alias/aws/s3) allow exactly that through their ViaService condition.
- ``as_service(account_id, region)``: the service's own principal (``ses.amazonaws.com``) acting for an account,
  as SES does when it encrypts received mail; key policies name it with ``"Principal": {"Service": ...}``.

The calls themselves (``generate_data_key``, ``encrypt``, ``decrypt``, ``describe_key``) go through the same
authorization as requests on the wire, and each is handed to a ``CallRecorder`` (the audit trail) with its
parameters in KMS's wire names, so a call a service makes appears in CloudTrail exactly like one a user makes.
"""

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.cryptoops import Opened, Sealed
from keyhold.domain.keys.model import Key
from keyhold.domain.keys.service import KmsService
from keyhold.errors import ServiceError

T = TypeVar("T")


class CallRecorder(Protocol):
    def service_call(
        self,
        ctx: RequestContext,
        operation: str,
        started: float,
        params: dict[str, Any],
        key_arn: str | None,
        error: ServiceError | None,
    ) -> None:
        """One KMS call made in process: ``error`` is None when it succeeded."""
        ...


class ServiceKmsClient:
    def __init__(
        self,
        kms: KmsService,
        service: str,
        recorder: CallRecorder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``service`` is the short name: "s3", "ses", "workmail"."""
        self._kms = kms
        self._recorder = recorder
        self._clock = clock
        self.service = service
        self.principal_name = f"{service}.amazonaws.com"

    # -- who is calling ---------------------------------------------------------------------------------------

    def on_behalf_of(self, ctx: RequestContext) -> RequestContext:
        return dataclasses.replace(ctx, via_service=f"{self.service}.{ctx.region}.amazonaws.com")

    def as_service(self, account_id: str, region: str, request_id: str | None = None) -> RequestContext:
        principal = Principal(
            account_id=account_id,
            arn=self.principal_name,
            user_id=self.principal_name,
            user_name=None,
            access_key_id="",
        )
        return RequestContext(
            principal=principal,
            region=region,
            request_id=request_id or str(uuid.uuid4()),
            via_service=f"{self.service}.{region}.amazonaws.com",
            via_service_principal=self.principal_name,
        )

    # -- the operations services use --------------------------------------------------------------------------

    def generate_data_key(
        self, ctx: RequestContext, key_ref: str, context: Mapping[str, str], number_of_bytes: int = 32
    ) -> tuple[bytes, Sealed]:
        params = {"KeyId": key_ref, "EncryptionContext": dict(context), "NumberOfBytes": number_of_bytes}
        return self._call(
            ctx,
            "GenerateDataKey",
            params,
            lambda: self._kms.crypto.generate_data_key(ctx, key_ref, number_of_bytes, context),
            lambda result: result[1].key.arn,
        )

    def generate_data_key_without_plaintext(
        self, ctx: RequestContext, key_ref: str, context: Mapping[str, str], number_of_bytes: int = 32
    ) -> Sealed:
        operation = "GenerateDataKeyWithoutPlaintext"
        params = {"KeyId": key_ref, "EncryptionContext": dict(context), "NumberOfBytes": number_of_bytes}
        return self._call(
            ctx,
            operation,
            params,
            lambda: self._kms.crypto.generate_data_key(ctx, key_ref, number_of_bytes, context, operation=operation)[1],
            lambda sealed: sealed.key.arn,
        )

    def encrypt(self, ctx: RequestContext, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> Sealed:
        params = {"KeyId": key_ref, "EncryptionContext": dict(context)}
        return self._call(
            ctx,
            "Encrypt",
            params,
            lambda: self._kms.crypto.encrypt(ctx, key_ref, plaintext, context),
            lambda sealed: sealed.key.arn,
        )

    def decrypt(
        self, ctx: RequestContext, blob: bytes, context: Mapping[str, str], key_ref: str | None = None
    ) -> Opened:
        params: dict[str, Any] = {"EncryptionContext": dict(context)}
        if key_ref is not None:
            params["KeyId"] = key_ref
        return self._call(
            ctx,
            "Decrypt",
            params,
            lambda: self._kms.crypto.decrypt(ctx, blob, context, key_ref),
            lambda opened: opened.key.arn,
        )

    def describe_key(self, ctx: RequestContext, key_ref: str) -> Key:
        return self._call(
            ctx, "DescribeKey", {"KeyId": key_ref}, lambda: self._kms.keys.describe(ctx, key_ref), lambda k: k.arn
        )

    def _call(
        self,
        ctx: RequestContext,
        operation: str,
        params: dict[str, Any],
        run: Callable[[], T],
        arn_of: Callable[[T], str],
    ) -> T:
        started = self._clock()
        try:
            self._kms.quotas.charge(ctx, operation)  # as the router does; key-dependent quotas charge in the domain
            result = run()
        except ServiceError as error:
            if self._recorder is not None:
                key_arn = getattr(error, "resource_arn", None)
                self._recorder.service_call(ctx, operation, started, params, key_arn, error)
            raise
        if self._recorder is not None:
            self._recorder.service_call(ctx, operation, started, params, arn_of(result), None)
        return result
