"""KMS requests as CloudTrail records: what the router hands to the audit trail after every request."""

import time
from collections.abc import Callable
from typing import Any

from keyhold.audit import api_event, is_read_only, key_resource, response_elements, service_event
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.model import KeyEvent
from keyhold.errors import ServiceError
from keyhold.protocols.kms.errors import code_for

AuditSink = Callable[[dict[str, Any]], None]


class KmsAudit:
    """Builds one record per request (allowed, denied or invalid) and queues it; the writer does the I/O."""

    def __init__(self, sink: AuditSink) -> None:
        self._sink = sink

    def record(
        self,
        ctx: RequestContext,
        operation: str,
        started: float,
        params: dict[str, Any],
        body: dict[str, Any] | None,
        error: tuple[str, str] | None = None,
        key_arn: str | None = None,
    ) -> None:
        p = ctx.principal
        arn = key_arn or _key_arn(body) or _arn_param(params)
        invoked_by = None
        if ctx.via_service is not None and ctx.via_service_principal is None:
            invoked_by = ctx.via_service.split(".", 1)[0] + ".amazonaws.com"
        self._sink(
            api_event(
                event_name=operation,
                request_id=ctx.request_id,
                event_time=started,
                region=ctx.region,
                source_ip=ctx.source_ip,
                user_agent=ctx.user_agent,
                principal_arn=p.arn,
                account_id=p.account_id,
                principal_id=p.user_id,
                access_key_id=p.access_key_id,
                is_root=p.is_root and ctx.via_service_principal is None,
                request_parameters=params,
                response_elements=response_elements(operation, body) if error is None else None,
                resources=[key_resource(p.account_id, arn)] if arn else [],
                error_code=error[0] if error else None,
                error_message=error[1] if error else None,
                read_only=is_read_only(operation),
                invoked_by=invoked_by,
            )
        )

    def service_call(
        self,
        ctx: RequestContext,
        operation: str,
        started: float,
        params: dict[str, Any],
        key_arn: str | None,
        error: ServiceError | None,
    ) -> None:
        """A call Keyhold's own services made in process (domain.keys.service_client.CallRecorder)."""
        failure = (code_for(error), error.message) if error is not None else None
        self.record(ctx, operation, started, params, None, failure, key_arn)


def key_event_record(event: KeyEvent) -> dict[str, Any]:
    """The CloudTrail service event (``AwsServiceEvent``) of something KMS did to a key on its own."""
    key = event.key
    details: dict[str, Any] = {"keyId": key.key_id, **dict(event.details)}
    return service_event(
        event_name=event.name,
        event_time=event.at,
        region=key.region,
        account_id=key.account_id,
        key_arn=key.arn,
        details=details,
    )


def now() -> float:
    return time.time()


def _key_arn(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    metadata = body.get("KeyMetadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("Arn"), str):
        return str(metadata["Arn"])
    key_id = body.get("KeyId")
    return key_id if isinstance(key_id, str) and key_id.startswith("arn:") else None


def _arn_param(params: dict[str, Any]) -> str | None:
    key_id = params.get("KeyId")
    return key_id if isinstance(key_id, str) and key_id.startswith("arn:aws:kms:") and ":key/" in key_id else None
