"""The one table from Keyhold's errors to S3's (status, code), the signature failures as S3 answers them, and the
error response itself. The most specific class wins (MRO order), as in protocols/kms/errors.py.

Sources for the wording (recorded against AWS unless noted): LocalStack's S3 provider and presigned_url.py,
MinIO cmd/api-errors.go, ../shared/reference/s3-sse.md section 1.8.
"""

import base64
import hashlib
from collections.abc import Iterable, Mapping
from email.utils import formatdate

from keyhold.domain.keys import errors as kms
from keyhold.domain.objects import errors as s3
from keyhold.errors import (
    AccessDenied,
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidState,
    LimitExceeded,
    NotFound,
    ServiceError,
    Unsupported,
)
from keyhold.protocols.http import Response
from keyhold.protocols.kms.errors import code_for
from keyhold.protocols.s3 import xml
from keyhold.protocols.sigv4 import AuthFailure

__all__ = [
    "AUTH_ERRORS",
    "ERRORS",
    "INTERNAL_ERROR",
    "auth_error",
    "describe",
    "error_response",
    "extra_fields",
    "host_id",
    "render",
    "render_auth",
]

ERRORS: dict[type[ServiceError], tuple[int, str]] = {
    s3.NoSuchBucket: (404, "NoSuchBucket"),
    s3.NoSuchKey: (404, "NoSuchKey"),
    s3.NoSuchUpload: (404, "NoSuchUpload"),
    s3.NoSuchBucketPolicy: (404, "NoSuchBucketPolicy"),
    s3.ServerSideEncryptionConfigurationNotFound: (404, "ServerSideEncryptionConfigurationNotFoundError"),
    s3.BucketAlreadyExists: (409, "BucketAlreadyExists"),
    s3.BucketAlreadyOwnedByYou: (409, "BucketAlreadyOwnedByYou"),
    s3.BucketNotEmpty: (409, "BucketNotEmpty"),
    s3.InvalidBucketName: (400, "InvalidBucketName"),
    # A constraint that is not the endpoint's region (AWS sends InvalidLocationConstraint instead for a value that
    # names no region at all, on us-east-1's endpoint; the domain does not tell the two apart).
    s3.IllegalLocationConstraint: (400, "IllegalLocationConstraintException"),
    s3.InvalidLocationConstraint: (400, "InvalidLocationConstraint"),
    s3.InvalidArgument: (400, "InvalidArgument"),
    s3.InvalidRequest: (400, "InvalidRequest"),
    s3.InvalidEncryptionAlgorithm: (400, "InvalidEncryptionAlgorithmError"),
    s3.KeyTooLong: (400, "KeyTooLongError"),
    s3.MetadataTooLarge: (400, "MetadataTooLarge"),
    s3.EntityTooSmall: (400, "EntityTooSmall"),
    s3.EntityTooLarge: (400, "EntityTooLarge"),
    s3.InvalidPart: (400, "InvalidPart"),
    s3.InvalidPartOrder: (400, "InvalidPartOrder"),
    s3.MalformedXML: (400, "MalformedXML"),
    s3.MalformedPolicy: (400, "MalformedPolicy"),
    s3.InvalidRange: (416, "InvalidRange"),
    s3.PreconditionFailed: (412, "PreconditionFailed"),
    s3.NotModified: (304, "NotModified"),
    s3.ObjectAccessDenied: (403, "AccessDenied"),
    # The generic classes, for a domain error with no S3-specific class.
    NotFound: (404, "NotFound"),  # what S3 itself answers a HEAD of a missing object with
    AlreadyExists: (409, "OperationAborted"),
    Conflict: (409, "OperationAborted"),  # "A conflicting conditional operation is currently in progress..."
    InvalidInput: (400, "InvalidArgument"),
    InvalidState: (400, "InvalidRequest"),
    LimitExceeded: (400, "TooManyBuckets"),  # the one count limit S3's object store answers with a 400
    AccessDenied: (403, "AccessDenied"),
    Unsupported: (501, "NotImplemented"),
}

INTERNAL_ERROR = (500, "InternalError", "We encountered an internal error. Please try again.")

# A KMS error met while encrypting or decrypting: S3 answers 400 "KMS.<KMS code>" with KMS's message (s3-sse.md 1.8,
# AWS-recorded: KMS.NotFoundException, KMS.DisabledException, KMS.KMSInvalidStateException), except:
_KMS_SPECIAL: dict[str, tuple[int, str, str | None]] = {
    # Denied by the key policy: a plain 403 AccessDenied carrying KMS's "User: ... is not authorized to perform:
    # kms:..." message.
    "AccessDeniedException": (403, "AccessDenied", None),
    # KMS throttling: S3 answers 503 SlowDown "Please reduce your request rate for operations involving AWS KMS."
    # (the S3 error quoted in aws-samples/cql-replicator#92: "Status Code: 503; Error Code: SlowDown").
    "ThrottlingException": (503, "SlowDown", "Please reduce your request rate for operations involving AWS KMS."),
    "KMSInternalException": INTERNAL_ERROR,
}

# (status, code) per failure; _AUTH_MESSAGES holds S3's fixed wording, else the verifier's message is kept.
AUTH_ERRORS: dict[AuthFailure, tuple[int, str]] = {
    # No signature at all is an anonymous request, which S3 refuses on a private bucket with 403 AccessDenied
    # "Access Denied".
    AuthFailure.MISSING: (403, "AccessDenied"),
    # Header-signed; a presigned URL's malformed parameters are 400 AuthorizationQueryParametersError (auth_error).
    AuthFailure.INCOMPLETE: (400, "AuthorizationHeaderMalformed"),
    AuthFailure.SIGNATURE_MISMATCH: (403, "SignatureDoesNotMatch"),
    # Header-signed; an expired presigned URL is 403 AccessDenied "Request has expired" (auth_error).
    AuthFailure.EXPIRED: (403, "RequestTimeTooSkewed"),
    AuthFailure.UNRECOGNIZED_KEY: (403, "InvalidAccessKeyId"),
    AuthFailure.PAYLOAD_HASH_MISMATCH: (400, "XAmzContentSHA256Mismatch"),
    AuthFailure.MISSING_CONTENT_SHA256: (400, "InvalidRequest"),
}

_AUTH_MESSAGES: dict[AuthFailure, str] = {
    AuthFailure.MISSING: "Access Denied",
    # S3's wording differs from KMS/IAM's "... Check your AWS Secret Access Key and signing method. ..."
    # (LocalStack presigned_url.py, MinIO ErrSignatureDoesNotMatch).
    AuthFailure.SIGNATURE_MISMATCH: (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    ),
    # AWS's RequestTimeTooSkewed body (quoted verbatim in pgbackrest's S3 tests); MinIO says "server's time".
    AuthFailure.EXPIRED: "The difference between the request time and the current time is too large.",
    AuthFailure.UNRECOGNIZED_KEY: "The AWS Access Key Id you provided does not exist in our records.",
    AuthFailure.PAYLOAD_HASH_MISMATCH: "The provided 'x-amz-content-sha256' header does not match what was computed.",
    AuthFailure.MISSING_CONTENT_SHA256: "Missing required header for this request: x-amz-content-sha256",
}

# The error's attributes that S3 writes as elements of the error document, in S3's order.
_EXTRA_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("bucket", "BucketName"),
    ("key", "Key"),
    ("upload_id", "UploadId"),
    ("name", "ArgumentName"),
    ("value", "ArgumentValue"),
    ("condition", "Condition"),
    ("requested", "RangeRequested"),
    ("size", "ActualObjectSize"),
)
_EXTRA_OVERRIDES: dict[type[ServiceError], tuple[tuple[str, str], ...]] = {
    s3.MetadataTooLarge: (("size", "Size"), ("limit", "MaxSizeAllowed")),
}


def describe(error: ServiceError) -> tuple[int, str, str]:
    """(status, code, message) of the S3 error answering ``error``."""
    if isinstance(error, s3.KmsFailure):
        return _kms(error.cause)
    for cls in type(error).__mro__:
        found = ERRORS.get(cls)
        if found is not None:
            status, code = found
            return status, code, error.message
    return INTERNAL_ERROR


def _kms(cause: ServiceError) -> tuple[int, str, str]:
    if isinstance(cause, s3.KmsFailure):  # wrapped twice: the inner KMS error is what counts
        return _kms(cause.cause)
    kms_code = code_for(cause)
    special = _KMS_SPECIAL.get(kms_code)
    if special is not None:
        status, code, message = special
        return status, code, message if message is not None else cause.message
    if isinstance(cause, kms.DryRunSucceeded):  # never from S3's own KMS calls; keep it out of the wire codes
        return INTERNAL_ERROR
    return 400, f"KMS.{kms_code}", cause.message


def extra_fields(error: ServiceError) -> dict[str, str]:
    """The error's own elements of the error document (BucketName, Key, UploadId, ArgumentName/Value,
    Condition, RangeRequested/ActualObjectSize, ...), from its attributes; absent attributes are left out."""
    attributes = _EXTRA_ATTRIBUTES
    for cls in type(error).__mro__:
        if cls in _EXTRA_OVERRIDES:
            attributes = _EXTRA_OVERRIDES[cls]
            break
    extra: dict[str, str] = {}
    for attribute, element in attributes:
        value = getattr(error, attribute, None)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, (str, int)):
            extra[element] = str(value)
    return extra


def host_id(request_id: str) -> str:
    """The x-amz-id-2 / HostId of a response: opaque base64, derived from the request id so a log line and the
    response it produced can be matched."""
    return base64.b64encode(hashlib.sha256(request_id.encode("utf-8")).digest()).decode("ascii")


def _headers(request_id: str) -> list[tuple[str, str]]:
    return [
        ("content-type", "application/xml"),
        ("x-amz-request-id", request_id),
        ("x-amz-id-2", host_id(request_id)),
    ]


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    head: bool = False,
    extra: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Response:
    """An S3 error response. A HEAD answer has the status and headers only (S3 sends no body to a HEAD)."""
    headers = _headers(request_id)
    if head:
        return Response(status, b"", headers)
    pairs = dict(extra.items() if isinstance(extra, Mapping) else extra)
    return Response(status, xml.error(code, message, request_id, host_id(request_id), pairs), headers)


def render(error: ServiceError, request_id: str, head: bool = False) -> Response:
    """The response for a domain error. NotModified is 304 with no body, and the object's ETag and
    Last-Modified."""
    if isinstance(error, s3.NotModified):
        headers = [
            ("etag", f'"{error.etag}"'),
            ("last-modified", formatdate(error.last_modified, usegmt=True)),
            ("x-amz-request-id", request_id),
            ("x-amz-id-2", host_id(request_id)),
        ]
        return Response(304, b"", headers)
    status, code, message = describe(error)
    extra = extra_fields(error) if code != INTERNAL_ERROR[1] else {}
    return error_response(status, code, message, request_id, head=head, extra=extra)


def auth_error(failure: AuthFailure, message: str, presigned: bool) -> tuple[int, str, str]:
    """(status, code, message) for a request whose signature did not verify, as S3 answers it.

    A presigned URL that is malformed is 400 AuthorizationQueryParametersError, and one past its expiry (or not
    yet valid) is 403 AccessDenied with the verifier's "Request has expired" / "Request is not valid yet"
    (LocalStack presigned_url.py, MinIO ErrExpiredPresignRequest / ErrRequestNotReadyYet); a header-signed request
    outside the allowed clock skew is 403 RequestTimeTooSkewed.
    """
    if presigned and failure is AuthFailure.INCOMPLETE:
        return 400, "AuthorizationQueryParametersError", message
    if presigned and failure is AuthFailure.EXPIRED:
        return 403, "AccessDenied", message or "Request has expired"
    status, code = AUTH_ERRORS[failure]
    return status, code, _AUTH_MESSAGES.get(failure, message) or message


def render_auth(failure: AuthFailure, message: str, presigned: bool, request_id: str, head: bool = False) -> Response:
    status, code, text = auth_error(failure, message, presigned)
    return error_response(status, code, text, request_id, head=head)
