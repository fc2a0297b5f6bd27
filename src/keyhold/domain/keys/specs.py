"""What each KeySpec is for: the key usages CreateKey accepts, the algorithms DescribeKey lists, the grant
operations a key of that kind takes. AWS's tables (CreateKey KeyUsage, asymmetric-key-specs, grants)."""

from typing import Final

from keyhold.crypto import asymmetric, mac
from keyhold.domain.keys.errors import InvalidKeyUsage, Unsupported, ValidationFailed
from keyhold.domain.keys.model import SYMMETRIC_DEFAULT, Key, KeyUsage

_NIST_CURVES: Final = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")

USAGES: Final[dict[str, tuple[KeyUsage, ...]]] = {
    SYMMETRIC_DEFAULT: (KeyUsage.ENCRYPT_DECRYPT,),
    **dict.fromkeys(asymmetric.KEY_SPECS_RSA, (KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY)),
    **dict.fromkeys(_NIST_CURVES, (KeyUsage.SIGN_VERIFY, KeyUsage.KEY_AGREEMENT)),
    "ECC_SECG_P256K1": (KeyUsage.SIGN_VERIFY,),
    "ECC_NIST_EDWARDS25519": (KeyUsage.SIGN_VERIFY,),
    **dict.fromkeys(mac.HMAC_KEY_SPECS, (KeyUsage.GENERATE_VERIFY_MAC,)),
}
"""Every KeySpec Keyhold can create, with the KeyUsage values AWS allows for it."""

_COMMON_GRANT_OPERATIONS: Final = frozenset({"CreateGrant", "RetireGrant", "DescribeKey"})
GRANT_OPERATIONS: Final[dict[str, frozenset[str]]] = {
    "SYMMETRIC": _COMMON_GRANT_OPERATIONS
    | {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    },
    KeyUsage.ENCRYPT_DECRYPT.value: _COMMON_GRANT_OPERATIONS
    | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    KeyUsage.SIGN_VERIFY.value: _COMMON_GRANT_OPERATIONS | {"Sign", "Verify", "GetPublicKey"},
    KeyUsage.GENERATE_VERIFY_MAC.value: _COMMON_GRANT_OPERATIONS | {"GenerateMac", "VerifyMac"},
    KeyUsage.KEY_AGREEMENT.value: _COMMON_GRANT_OPERATIONS | {"DeriveSharedSecret", "GetPublicKey"},
}


def check_spec_and_usage(key_spec: str, key_usage: str | None) -> KeyUsage:
    """The KeyUsage of a new key, or AWS's error for a spec Keyhold lacks or a usage the spec does not allow."""
    if key_spec in asymmetric.UNSUPPORTED_KEY_SPECS:
        raise Unsupported(f"KeySpec {key_spec} is not supported by Keyhold.")
    allowed = USAGES.get(key_spec)
    if allowed is None:
        raise ValidationFailed(f"KeySpec {key_spec} is not supported by Keyhold.")
    if key_usage is None:
        if key_spec != SYMMETRIC_DEFAULT:
            raise ValidationFailed(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
            )
        return KeyUsage.ENCRYPT_DECRYPT
    usage = KeyUsage(key_usage)
    if usage not in allowed:
        raise ValidationFailed(f"KeyUsage {usage.value} is not compatible with KeySpec {key_spec}")
    return usage


def is_symmetric(key: Key) -> bool:
    return key.key_spec == SYMMETRIC_DEFAULT


def is_asymmetric(key: Key) -> bool:
    return key.key_spec in asymmetric.KEY_SPECS_RSA or key.key_spec in asymmetric.KEY_SPECS_ECC


def encryption_algorithms(key: Key) -> tuple[str, ...]:
    if key.key_usage is not KeyUsage.ENCRYPT_DECRYPT:
        return ()
    return (SYMMETRIC_DEFAULT,) if is_symmetric(key) else asymmetric.encryption_algorithms(key.key_spec)


def signing_algorithms(key: Key) -> tuple[str, ...]:
    """In AWS's order: PKCS #1 v1.5 before PSS for RSA keys."""
    if key.key_usage is not KeyUsage.SIGN_VERIFY:
        return ()
    algorithms = asymmetric.signing_algorithms(key.key_spec)
    return tuple(sorted(algorithms)) if key.key_spec in asymmetric.KEY_SPECS_RSA else algorithms


def mac_algorithms(key: Key) -> tuple[str, ...]:
    return mac.mac_algorithms(key.key_spec) if key.key_usage is KeyUsage.GENERATE_VERIFY_MAC else ()


def key_agreement_algorithms(key: Key) -> tuple[str, ...]:
    if key.key_usage is not KeyUsage.KEY_AGREEMENT:
        return ()
    return asymmetric.key_agreement_algorithms(key.key_spec)


def grant_operations(key: Key) -> frozenset[str]:
    return GRANT_OPERATIONS["SYMMETRIC" if is_symmetric(key) else key.key_usage.value]


def require_usage(key: Key, usage: KeyUsage, operation: str) -> None:
    """InvalidKeyUsageException with AWS's text unless ``key`` has ``usage``."""
    if key.key_usage is not usage:
        raise InvalidKeyUsage(f"{key.arn} key usage is {key.key_usage.value} which is not valid for {operation}.")


def incompatible_algorithm(key: Key, algorithm: str) -> InvalidKeyUsage:
    return InvalidKeyUsage(f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
