"""KMS's own error conditions, as subclasses of the service error tree (protocols/kms/errors.py maps them)."""

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

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "Conflict",
    "DisabledKey",
    "ExpiredImportToken",
    "IncorrectKey",
    "IncorrectKeyMaterial",
    "InvalidAliasName",
    "InvalidCiphertextError",
    "InvalidGrantToken",
    "InvalidImportToken",
    "InvalidKeyState",
    "InvalidKeyUsage",
    "InvalidMac",
    "InvalidMarker",
    "InvalidSignature",
    "KeyAccessDenied",
    "LimitExceeded",
    "MalformedPolicyDocument",
    "NotFound",
    "TagError",
    "Throttled",
    "Unsupported",
    "ValidationFailed",
]


class KeyAccessDenied(AccessDenied):
    """AccessDenied for one key; ``resource_arn`` lets the audit trail name the key of a denied request."""

    def __init__(self, message: str, resource_arn: str) -> None:
        super().__init__(message)
        self.resource_arn = resource_arn


class DisabledKey(InvalidState):
    """The key is Disabled (AWS: DisabledException)."""


class InvalidKeyState(InvalidState):
    """The key's state forbids the operation (AWS: KMSInvalidStateException)."""


class IncorrectKey(InvalidInput):
    """The KeyId given does not match the key that made the ciphertext."""


class InvalidCiphertextError(InvalidInput):
    """The ciphertext, its encryption context or its key do not authenticate."""


class InvalidKeyUsage(InvalidInput):
    """The key's usage or spec does not allow the operation or algorithm."""


class InvalidSignature(InvalidInput):
    """Verify: the signature does not verify (AWS: KMSInvalidSignatureException)."""


class InvalidMac(InvalidInput):
    """VerifyMac: the MAC does not verify (AWS: KMSInvalidMacException)."""


class InvalidAliasName(InvalidInput):
    pass


class InvalidMarker(InvalidInput):
    pass


class MalformedPolicyDocument(InvalidInput):
    pass


class TagError(InvalidInput):
    pass


class InvalidGrantToken(InvalidInput):
    pass


class InvalidImportToken(InvalidInput):
    """The import token is not authentic, or belongs to another key (AWS: InvalidImportTokenException)."""


class ExpiredImportToken(InvalidInput):
    """The import token's ParametersValidTo has passed (AWS: ExpiredImportTokenException)."""


class IncorrectKeyMaterial(InvalidInput):
    """Imported material that does not fit the key or is not the material the key expects."""


class ValidationFailed(InvalidInput):
    """A semantic check on the request's values failed (AWS: ValidationException)."""


class DryRunSucceeded(ServiceError):
    """DryRun=true and the request would have succeeded (AWS: DryRunOperationException)."""


class Throttled(ServiceError):
    """The account's request quota for the operation is used up for now (AWS: ThrottlingException)."""
