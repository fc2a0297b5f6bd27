"""The IAM error map: each domain error type to IAM's (code, HTTP status), as botocore's IAM model has them.

The most specific class wins (looked up along the exception's MRO), so DeleteConflict is not reported as the
ConcurrentModification its Conflict base maps to.
"""

from keyhold.domain.identity.errors import DeleteConflict, MalformedPolicyDocument
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
from keyhold.protocols.query_xml import UNSUPPORTED_CODE, UNSUPPORTED_STATUS

IAM_ERRORS: dict[type, tuple[str, int]] = {
    NotFound: ("NoSuchEntity", 404),
    AlreadyExists: ("EntityAlreadyExists", 409),
    DeleteConflict: ("DeleteConflict", 409),
    LimitExceeded: ("LimitExceeded", 409),
    MalformedPolicyDocument: ("MalformedPolicyDocument", 400),
    InvalidInput: ("ValidationError", 400),
    InvalidState: ("EntityTemporarilyUnmodifiable", 409),
    Conflict: ("ConcurrentModification", 409),
    AccessDenied: ("AccessDenied", 403),
    Unsupported: (UNSUPPORTED_CODE, UNSUPPORTED_STATUS),
}
_FALLBACK = ("ServiceFailure", 500)


def iam_error(error: ServiceError) -> tuple[str, int]:
    for cls in type(error).__mro__:
        if cls in IAM_ERRORS:
            return IAM_ERRORS[cls]
    return _FALLBACK
