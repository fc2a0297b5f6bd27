"""IAM and STS (AWS Query protocol) as adapters of the HTTP front door."""

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.protocols import query_xml
from keyhold.protocols.http import Request, Response
from keyhold.protocols.iam import router as iam_router
from keyhold.protocols.sigv4 import AuthFailure
from keyhold.protocols.sts import router as sts_router

IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


class IamAdapter:
    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    def handle(self, request: Request, principal: Principal, region: str) -> Response:
        return iam_router.handle(request, principal, self._identity)

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response:
        return iam_router.auth_error(failure, message, request)

    def internal_error(self, request: Request) -> Response:
        return query_xml.error_response(
            IAM_NAMESPACE,
            "ServiceFailure",
            "An internal error occurred.",
            500,
            request.request_id,
            sender=False,
        )


class StsAdapter:
    def __init__(self, identity: IdentityService) -> None:
        self._identity = identity

    def handle(self, request: Request, principal: Principal, region: str) -> Response:
        return sts_router.handle(request, principal, self._identity)

    def auth_error(self, failure: AuthFailure, message: str, request: Request) -> Response:
        return sts_router.auth_error(failure, message, request)

    def internal_error(self, request: Request) -> Response:
        return query_xml.error_response(
            STS_NAMESPACE,
            "InternalFailure",
            "An internal error occurred.",
            500,
            request.request_id,
            sender=False,
        )
