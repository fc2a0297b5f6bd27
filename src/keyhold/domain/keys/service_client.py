"""How Keyhold's own services (the object store, the mail receiver, mailboxes) call KMS: in process, as AWS does.

Two ways, as in AWS:
- ``on_behalf_of(ctx)``: the caller's own identity, with ``kms:ViaService`` set to the service's endpoint name
  (``s3.us-east-1.amazonaws.com``). SSE-KMS uploads work this way: the uploader needs kms:GenerateDataKey, and
  AWS managed keys (alias/aws/s3) allow exactly that through their ViaService condition.
- ``as_service(account_id, region)``: the service's own principal (``ses.amazonaws.com``) acting for an account,
  as SES does when it encrypts received mail; key policies name it with ``"Principal": {"Service": ...}``.
"""

import dataclasses
import uuid

from keyhold.domain.context import RequestContext
from keyhold.domain.identity.model import Principal


class ServiceKmsClient:
    def __init__(self, service: str) -> None:
        """``service`` is the short name: "s3", "ses", "workmail"."""
        self.service = service
        self.principal_name = f"{service}.amazonaws.com"

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
