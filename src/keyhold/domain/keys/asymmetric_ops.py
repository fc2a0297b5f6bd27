"""Operations on asymmetric keys: GetPublicKey, Sign, Verify, DeriveSharedSecret.

(Encrypt and Decrypt with RSA keys, and GenerateDataKeyPair, are in cryptoops.py with the other encryption
operations.) The private key is the key's material (PKCS#8 DER, unwrapped once and cached by the keyring); the
primitives are crypto/asymmetric.py. Every operation is authorized before any state or usage check, as AWS does.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from keyhold.crypto import asymmetric
from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer, request_alias
from keyhold.domain.keys.cryptoops import DRY_RUN_MESSAGE
from keyhold.domain.keys.errors import (
    DryRunSucceeded,
    InvalidSignature,
    Unsupported,
    ValidationFailed,
)
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import Key, KeyUsage
from keyhold.domain.keys.specs import incompatible_algorithm, is_asymmetric, require_usage, signing_algorithms
from keyhold.domain.quotas import NO_QUOTAS, QuotaMeter, key_bucket

DEFAULT_MESSAGE_TYPE = "RAW"


@dataclass(frozen=True, slots=True)
class PublicKey:
    key: Key
    public_key: bytes  # SubjectPublicKeyInfo DER


class AsymmetricOps:
    def __init__(self, keyring: Keyring, authz: Authorizer, quotas: QuotaMeter = NO_QUOTAS) -> None:
        self._keyring = keyring
        self._authz = authz
        self._quotas = quotas

    def get_public_key(self, ctx: RequestContext, key_ref: str) -> PublicKey:
        """The public key of an asymmetric key. Works on disabled keys too (as AWS does), not on keys pending
        deletion; symmetric and HMAC keys have none (UnsupportedOperationException)."""
        key = self._key(ctx, key_ref, "GetPublicKey", {}, charge=False)  # its own quota, charged by operation
        self._keyring.require_material(key)  # not pending deletion, not pending import
        if not is_asymmetric(key):
            raise Unsupported(f"{key.arn} key spec is {key.key_spec} which is not valid for GetPublicKey.")
        return PublicKey(key, self._keyring.public_key(key))

    def sign(
        self,
        ctx: RequestContext,
        key_ref: str,
        message: bytes,
        message_type: str | None,
        algorithm: str,
        *,
        dry_run: bool = False,
    ) -> tuple[Key, bytes]:
        key, message_type = self._signing_key(ctx, key_ref, "Sign", message_type, algorithm)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        try:
            signature = asymmetric.sign(self._keyring.secret(key), key.key_spec, algorithm, message, message_type)
        except ValueError as exc:
            raise _request_error(exc, algorithm, message_type) from None
        return key, signature

    def verify(
        self,
        ctx: RequestContext,
        key_ref: str,
        message: bytes,
        message_type: str | None,
        algorithm: str,
        signature: bytes,
        *,
        dry_run: bool = False,
    ) -> Key:
        """The key, if ``signature`` verifies; KMSInvalidSignatureException (with no message, as AWS) if not."""
        key, message_type = self._signing_key(ctx, key_ref, "Verify", message_type, algorithm)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        try:
            valid = asymmetric.verify(
                self._keyring.public_key(key), key.key_spec, algorithm, message, message_type, signature
            )
        except ValueError as exc:
            raise _request_error(exc, algorithm, message_type) from None
        if not valid:
            raise InvalidSignature("")
        return key

    def derive_shared_secret(
        self, ctx: RequestContext, key_ref: str, algorithm: str, peer_public_key: bytes, *, dry_run: bool = False
    ) -> tuple[Key, bytes]:
        """ECDH between the key's private key and a peer's SubjectPublicKeyInfo DER: the raw shared secret."""
        key = self._key(ctx, key_ref, "DeriveSharedSecret", {"kms:KeyAgreementAlgorithm": algorithm})
        self._keyring.require_enabled(key)
        require_usage(key, KeyUsage.KEY_AGREEMENT, "DeriveSharedSecret")
        if algorithm not in asymmetric.key_agreement_algorithms(key.key_spec):
            raise incompatible_algorithm(key, algorithm)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        try:
            secret = asymmetric.derive_shared_secret(self._keyring.secret(key), key.key_spec, peer_public_key)
        except ValueError:
            raise ValidationFailed(
                f"The public key is not a valid DER-encoded SubjectPublicKeyInfo of an elliptic curve key on the "
                f"curve of key spec {key.key_spec}."
            ) from None
        return key, secret

    # -- helpers ----------------------------------------------------------------------------------------------

    def _key(
        self, ctx: RequestContext, key_ref: str, action: str, facts: Mapping[str, ContextValue], *, charge: bool = True
    ) -> Key:
        key = self._keyring.resolve(ctx, key_ref)
        if charge:
            self._quotas.charge(ctx, key_bucket(key))
        all_facts = dict(facts)
        alias = request_alias(key_ref)
        if alias is not None:
            all_facts["kms:RequestAlias"] = alias
        self._authz.check(ctx, key, action, all_facts)
        return key

    def _signing_key(
        self, ctx: RequestContext, key_ref: str, action: str, message_type: str | None, algorithm: str
    ) -> tuple[Key, str]:
        message_type = message_type or DEFAULT_MESSAGE_TYPE
        facts = {"kms:SigningAlgorithm": algorithm, "kms:MessageType": message_type}
        key = self._key(ctx, key_ref, action, facts)
        self._keyring.require_enabled(key)
        require_usage(key, KeyUsage.SIGN_VERIFY, action)
        if algorithm not in signing_algorithms(key):
            raise incompatible_algorithm(key, algorithm)
        return key, message_type


def _request_error(exc: ValueError, algorithm: str, message_type: str) -> Exception:
    """The KMS error for a request the primitives refused (never a fault of the signature itself)."""
    if isinstance(exc, asymmetric.InvalidDigestLength):
        return ValidationFailed(str(exc))
    if isinstance(exc, asymmetric.UnsupportedAlgorithm):
        return Unsupported(str(exc))
    return ValidationFailed(f"MessageType {message_type} is not valid for signing algorithm {algorithm}.")
