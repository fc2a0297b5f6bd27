"""The one table from Keyhold's errors to KMS's wire codes. The most specific class wins (MRO order)."""

from keyhold.domain.keys import errors as kms
from keyhold.errors import InvalidInput, InvalidState, ServiceError
from keyhold.protocols.sigv4 import AuthFailure

ERROR_CODES: dict[type[ServiceError], str] = {
    kms.DisabledKey: "DisabledException",
    kms.InvalidKeyState: "KMSInvalidStateException",
    kms.IncorrectKey: "IncorrectKeyException",
    kms.InvalidCiphertextError: "InvalidCiphertextException",
    kms.InvalidKeyUsage: "InvalidKeyUsageException",
    kms.InvalidSignature: "KMSInvalidSignatureException",
    kms.InvalidMac: "KMSInvalidMacException",
    kms.InvalidAliasName: "InvalidAliasNameException",
    kms.InvalidMarker: "InvalidMarkerException",
    kms.InvalidGrantToken: "InvalidGrantTokenException",
    kms.InvalidImportToken: "InvalidImportTokenException",
    kms.ExpiredImportToken: "ExpiredImportTokenException",
    kms.IncorrectKeyMaterial: "IncorrectKeyMaterialException",
    kms.MalformedPolicyDocument: "MalformedPolicyDocumentException",
    kms.TagError: "TagException",
    kms.ValidationFailed: "ValidationException",
    kms.DryRunSucceeded: "DryRunOperationException",
    kms.Throttled: "ThrottlingException",
    kms.NotFound: "NotFoundException",
    kms.AlreadyExists: "AlreadyExistsException",
    kms.LimitExceeded: "LimitExceededException",
    kms.AccessDenied: "AccessDeniedException",
    kms.Unsupported: "UnsupportedOperationException",
    kms.Conflict: "ConflictException",
    InvalidInput: "ValidationException",
    InvalidState: "KMSInvalidStateException",
}

AUTH_ERROR_CODES: dict[AuthFailure, tuple[str, int]] = {
    AuthFailure.MISSING: ("MissingAuthenticationTokenException", 400),
    AuthFailure.INCOMPLETE: ("IncompleteSignatureException", 400),
    AuthFailure.SIGNATURE_MISMATCH: ("InvalidSignatureException", 400),
    AuthFailure.PAYLOAD_HASH_MISMATCH: ("InvalidSignatureException", 400),
    AuthFailure.MISSING_CONTENT_SHA256: ("InvalidSignatureException", 400),  # only streamed (S3) requests
    AuthFailure.EXPIRED: ("InvalidSignatureException", 400),
    AuthFailure.UNRECOGNIZED_KEY: ("UnrecognizedClientException", 400),
}


def code_for(error: ServiceError) -> str:
    for cls in type(error).__mro__:
        code = ERROR_CODES.get(cls)
        if code is not None:
            return code
    return "KMSInternalException"
