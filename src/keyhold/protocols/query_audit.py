"""IAM and STS requests as CloudTrail records, the Query-protocol counterpart of protocols/kms/audit.py.

IAM is a global service: CloudTrail records its events in us-east-1 whatever endpoint was called. STS events
carry the region of the endpoint. Query requests without a known action are not API calls and are not recorded.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyhold.audit import api_event, is_read_only, response_elements
from keyhold.domain.identity.model import Principal
from keyhold.protocols.http import Request, Response
from keyhold.protocols.kms.audit import AuditSink, now

IAM_EVENT_REGION = "us-east-1"
_NOT_PARAMETERS = frozenset({"Action", "Version"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a Query router did with one request: its response and, for the audit trail, what was asked."""

    response: Response
    action: str | None  # None when the request named no action the service has
    params: Mapping[str, str]
    body: dict[str, Any] | None = None
    error: tuple[str, str] | None = None  # (code, message)


class QueryAudit:
    def __init__(self, sink: AuditSink, event_source: str, region: str | None = None) -> None:
        """``region`` fixes awsRegion (IAM's us-east-1); None records the request's region."""
        self._sink = sink
        self._event_source = event_source
        self._region = region

    def record(self, request: Request, principal: Principal, region: str, started: float, outcome: Outcome) -> None:
        if outcome.action is None:
            return
        parameters = {name: value for name, value in outcome.params.items() if name not in _NOT_PARAMETERS}
        self._sink(
            api_event(
                event_name=outcome.action,
                request_id=request.request_id,
                event_time=started,
                region=self._region or region,
                source_ip=request.client_ip,
                user_agent=request.header("user-agent"),
                principal_arn=principal.arn,
                account_id=principal.account_id,
                principal_id=principal.user_id,
                access_key_id=principal.access_key_id,
                is_root=principal.is_root,
                request_parameters=parameters,
                response_elements=response_elements(outcome.action, outcome.body) if outcome.error is None else None,
                resources=[],
                error_code=outcome.error[0] if outcome.error else None,
                error_message=outcome.error[1] if outcome.error else None,
                read_only=is_read_only(outcome.action),
                event_source=self._event_source,
            )
        )


__all__ = ["IAM_EVENT_REGION", "Outcome", "QueryAudit", "now"]
