"""What the AWS Query-protocol adapters (IAM, STS) share: reading form parameters, rendering results and
errors as AWS's XML, the signature-failure answers, and IAM's timestamp format.

A result is written as nested Python values: a dict is a structure (children in insertion order), a list is a
Query list (each item in a ``<member>`` element), a bool is ``true``/``false``, None leaves the element out.
"""

import time
from collections.abc import Mapping
from typing import TypeAlias, Union

from keyhold.protocols.http import Request, Response
from keyhold.protocols.sigv4 import AuthFailure
from keyhold.protocols.xml_escape import escape_text

XmlValue: TypeAlias = Union[str, int, bool, list["XmlValue"], dict[str, "XmlValue"], None]  # noqa: UP007
XmlDict: TypeAlias = dict[str, XmlValue]

UNSUPPORTED_CODE = "NotImplemented"
UNSUPPORTED_STATUS = 501

# (code, status, message); the verifier's message is used for the failures not in _FIXED_MESSAGES.
_AUTH_ERRORS: dict[AuthFailure, tuple[str, int, str]] = {
    AuthFailure.MISSING: ("MissingAuthenticationToken", 403, "Request is missing Authentication Token"),
    AuthFailure.INCOMPLETE: (
        "IncompleteSignature",
        400,
        "The request signature does not conform to AWS standards.",
    ),
    AuthFailure.SIGNATURE_MISMATCH: (
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    ),
    # IAM and STS answer an expired signature with SignatureDoesNotMatch ("Signature expired: ... is now
    # earlier than ..."), not with RequestExpired as EC2 does.
    AuthFailure.EXPIRED: ("SignatureDoesNotMatch", 403, "Signature expired."),
    AuthFailure.UNRECOGNIZED_KEY: (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    ),
    AuthFailure.PAYLOAD_HASH_MISMATCH: (
        "SignatureDoesNotMatch",
        403,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    AuthFailure.MISSING_CONTENT_SHA256: (  # only streamed (S3) requests reach this
        "IncompleteSignature",
        400,
        "Missing required header for this request: x-amz-content-sha256",
    ),
}


_FIXED_MESSAGES = frozenset({AuthFailure.MISSING, AuthFailure.UNRECOGNIZED_KEY})


class QueryError(Exception):
    """A wire-level failure found before a domain service runs (bad or missing parameters, bad action)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation_error(value: str | None, member: str, constraint: str) -> QueryError:
    shown = "null" if value is None else f"'{value}'"
    return QueryError(
        "ValidationError",
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: "
        f"Member must {constraint}",
    )


class Params:
    """The flat parameters of one Query request (``Action``, ``Version`` and the operation's members)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def required(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            raise validation_error(None, _member(name), "not be null")
        return value

    def integer(self, name: str) -> int | None:
        value = self._values.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise validation_error(value, _member(name), "be an integer") from None

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def any_with_prefix(self, *prefixes: str) -> bool:
        return any(name.startswith(prefixes) for name in self._values)


def _member(name: str) -> str:
    """IAM names members in its messages as the parameter with a lower-case first letter (userName)."""
    return name[:1].lower() + name[1:]


def iso8601(epoch: float) -> str:
    """IAM's timestamp form: 2024-05-01T12:34:56Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _text(value: str) -> str:
    return escape_text(value)


def _render(name: str, value: XmlValue, out: list[str]) -> None:
    if value is None:
        return
    out.append(f"<{name}>")
    if isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_text(value))
    elif isinstance(value, list):
        for item in value:
            _render("member", item, out)
    else:
        for child, child_value in value.items():
            _render(child, child_value, out)
    out.append(f"</{name}>")


def _response(status: int, parts: list[str], request_id: str) -> Response:
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(parts)
    headers = [("content-type", "text/xml"), ("x-amzn-requestid", request_id)]
    return Response(status, body.encode("utf-8"), headers)


def result_response(action: str, namespace: str, result: XmlDict | None, request_id: str) -> Response:
    """``<{action}Response><{action}Result>...</..><ResponseMetadata>`` (no Result element when None)."""
    out = [f'<{action}Response xmlns="{namespace}">']
    if result is not None:
        _render(f"{action}Result", result, out)
    _render("ResponseMetadata", {"RequestId": request_id}, out)
    out.append(f"</{action}Response>")
    return _response(200, out, request_id)


def error_response(
    namespace: str, code: str, message: str, status: int, request_id: str, *, sender: bool = True
) -> Response:
    out = [f'<ErrorResponse xmlns="{namespace}">']
    error: XmlDict = {"Type": "Sender" if sender else "Receiver", "Code": code, "Message": message}
    _render("Error", error, out)
    _render("RequestId", request_id, out)
    out.append("</ErrorResponse>")
    return _response(status, out, request_id)


def auth_error_response(namespace: str, failure: AuthFailure, message: str, request: Request) -> Response:
    """The answer to a request whose signature did not verify, as IAM and STS give it."""
    code, status, default = _AUTH_ERRORS[failure]
    if failure in _FIXED_MESSAGES or not message:
        message = default
    return error_response(namespace, code, message, status, request.request_id)


def unsupported_response(namespace: str, service: str, action: str, request_id: str) -> Response:
    """An operation the AWS service has and Keyhold does not implement (see docs: NotImplemented, 501)."""
    message = f"Keyhold does not implement the {service} operation {action}."
    return error_response(namespace, UNSUPPORTED_CODE, message, UNSUPPORTED_STATUS, request_id, sender=False)


def dispatch_action(params: Params, version: str, known: frozenset[str], implemented: frozenset[str]) -> str:
    """The requested action, checked: MissingAction when absent, InvalidAction when the service (at this API
    version) has no such operation. An action in ``known`` but not ``implemented`` is returned for the caller
    to answer as unsupported."""
    action = params.get("Action")
    if not action:
        raise QueryError("MissingAction", "Missing Action")
    requested = params.get("Version") or version
    if requested != version or (action not in known and action not in implemented):
        raise QueryError("InvalidAction", f"Could not find operation {action} for version {requested}")
    return action
