"""STS Query-protocol entry points (API version 2011-06-15): ``handle`` dispatches on the Action parameter
through one explicit table, ``auth_error`` answers requests whose signature failed.

STS operations in botocore's model that Keyhold does not implement are answered ``NotImplemented`` (HTTP 501);
names STS does not have get ``InvalidAction`` (400).
"""

from __future__ import annotations

from collections.abc import Callable

from keyhold.domain.identity.model import Principal
from keyhold.domain.identity.service import IdentityService
from keyhold.errors import AccessDenied, InvalidInput, ServiceError, Unsupported
from keyhold.protocols.http import Request, Response
from keyhold.protocols.query_audit import Outcome
from keyhold.protocols.query_xml import (
    UNSUPPORTED_CODE,
    UNSUPPORTED_STATUS,
    Params,
    QueryError,
    XmlDict,
    auth_error_response,
    dispatch_action,
    error_response,
    result_response,
    unsupported_response,
)
from keyhold.protocols.sigv4 import AuthFailure
from keyhold.protocols.sts import handlers

API_VERSION = "2011-06-15"
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"

Handler = Callable[[IdentityService, Principal, Params], XmlDict | None]

HANDLERS: dict[str, Handler] = {
    "GetCallerIdentity": handlers.get_caller_identity,
}

# Every operation in botocore's STS model (tests/e2e/test_iam_sts.py checks this list against botocore).
STS_OPERATIONS = frozenset(
    """
    AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity AssumeRoot DecodeAuthorizationMessage
    GetAccessKeyInfo GetCallerIdentity GetDelegatedAccessToken GetFederationToken GetSessionToken
    GetWebIdentityToken
    """.split()  # noqa: SIM905 (a word list reads better than quoted strings)
)
_IMPLEMENTED = frozenset(HANDLERS)

STS_ERRORS: dict[type, tuple[str, int]] = {
    InvalidInput: ("ValidationError", 400),
    AccessDenied: ("AccessDenied", 403),
    Unsupported: (UNSUPPORTED_CODE, UNSUPPORTED_STATUS),
}


def _sts_error(error: ServiceError) -> tuple[str, int]:
    return next((STS_ERRORS[cls] for cls in type(error).__mro__ if cls in STS_ERRORS), ("InternalFailure", 500))


def handle(request: Request, principal: Principal, identity: IdentityService) -> Outcome:
    params = Params(request.form())
    rid = request.request_id
    action: str | None = None
    try:
        action = dispatch_action(params, API_VERSION, STS_OPERATIONS, _IMPLEMENTED)
        handler = HANDLERS.get(action)
        if handler is None:
            response = unsupported_response(NAMESPACE, "STS", action, rid)
            return Outcome(response, action, params.as_dict(), error=(UNSUPPORTED_CODE, ""))
        body = handler(identity, principal, params)
    except QueryError as error:
        response = error_response(NAMESPACE, error.code, error.message, error.status, rid)
        return Outcome(response, action, params.as_dict(), error=(error.code, error.message))
    except ServiceError as error:
        code, status = _sts_error(error)
        response = error_response(NAMESPACE, code, error.message, status, rid, sender=status < 500)
        return Outcome(response, action, params.as_dict(), error=(code, error.message))
    return Outcome(result_response(action, NAMESPACE, body, rid), action, params.as_dict(), body)


def auth_error(failure: AuthFailure, message: str, request: Request) -> Response:
    return auth_error_response(NAMESPACE, failure, message, request)
