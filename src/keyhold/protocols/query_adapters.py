"""IAM and STS (AWS Query protocol) as adapters of the HTTP front door."""

from collections.abc import Callable

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.protocols import query_xml
from keyhold.protocols.http import Request, Response
from keyhold.protocols.iam import router as iam_router
from keyhold.protocols.kms.audit import AuditSink
from keyhold.protocols.query_audit import IAM_EVENT_REGION, Outcome, QueryAudit, now
from keyhold.protocols.sigv4 import AuthFailure
from keyhold.protocols.sts import router as sts_router

Handle = Callable[[Request, Principal, IdentityService], Outcome]
AuthErrorRenderer = Callable[[AuthFailure, str, Request], Response]


class QueryAdapter:
    def __init__(
        self,
        identity: IdentityService,
        handle: Handle,
        auth_error: AuthErrorRenderer,
        namespace: str,
        internal_code: str,
        audit: QueryAudit | None,
    ) -> None:
        self._identity = identity
        self._handle = handle
        self._auth_error = auth_error
        self._namespace = namespace
        self._internal_code = internal_code
        self._audit = audit

    def handle(self, request: Request, principal: Principal, region: str) -> Response:
        started = now()
        outcome = self._handle(request, principal, self._identity)
        if self._audit is not None:
            self._audit.record(request, principal, region, started, outcome)
        return outcome.response

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response:
        return self._auth_error(failure, message, request)

    def internal_error(self, request: Request) -> Response:
        message = "An internal error occurred."
        return query_xml.error_response(
            self._namespace, self._internal_code, message, 500, request.request_id, sender=False
        )

    def inline(self, request: Request) -> bool:
        return False

    def too_large(self, request: Request) -> Response:
        message = "The request body is too large."
        return query_xml.error_response(self._namespace, "RequestEntityTooLarge", message, 413, request.request_id)


def iam_adapter(identity: IdentityService, audit_sink: AuditSink | None = None) -> QueryAdapter:
    audit = QueryAudit(audit_sink, "iam.amazonaws.com", IAM_EVENT_REGION) if audit_sink else None
    return QueryAdapter(
        identity,
        iam_router.handle,
        iam_router.auth_error,
        "https://iam.amazonaws.com/doc/2010-05-08/",
        "ServiceFailure",
        audit,
    )


def sts_adapter(identity: IdentityService, audit_sink: AuditSink | None = None) -> QueryAdapter:
    audit = QueryAudit(audit_sink, "sts.amazonaws.com") if audit_sink else None
    return QueryAdapter(
        identity,
        sts_router.handle,
        sts_router.auth_error,
        "https://sts.amazonaws.com/doc/2011-06-15/",
        "InternalFailure",
        audit,
    )
