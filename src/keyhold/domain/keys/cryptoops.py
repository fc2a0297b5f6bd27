"""Encryption operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair
(WithoutPlaintext), GenerateRandom.

With a symmetric key every ciphertext is a kms_blob v1 under the key's current material; the encryption context is
bound as AAD with the canonical encoding, so Decrypt must present exactly the same pairs (in any order). With an
RSA key (KeyUsage ENCRYPT_DECRYPT) the ciphertext is raw RSAES-OAEP, as AWS returns it: Decrypt then needs the
KeyId and the EncryptionAlgorithm, and no encryption context is accepted.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from keyhold.crypto import asymmetric, kms_blob
from keyhold.crypto.encoding import encode_context
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.domain.auth.conditions import ContextValue
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer, request_alias
from keyhold.domain.keys.errors import (
    AccessDenied,
    DryRunSucceeded,
    IncorrectKey,
    InvalidCiphertextError,
    Unsupported,
    ValidationFailed,
)
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import SYMMETRIC_DEFAULT, Key, KeyUsage, key_id_from_bytes, key_id_to_bytes
from keyhold.domain.keys.specs import encryption_algorithms, incompatible_algorithm, is_symmetric, require_usage
from keyhold.domain.quotas import NO_QUOTAS, SYMMETRIC, QuotaMeter, key_bucket, key_pair_bucket

DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."
FOREIGN_CIPHERTEXT = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, "
    "or you are not allowed to access."
)


ASYMMETRIC_CONTEXT = "EncryptionContext is not supported for asymmetric KMS keys."


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    key: Key
    material_id: str  # "" for RSA ciphertexts (AWS reports KeyMaterialId for symmetric keys only)
    algorithm: str = SYMMETRIC_DEFAULT


@dataclass(frozen=True, slots=True)
class Opened:
    plaintext: bytes
    key: Key
    material_id: str
    algorithm: str = SYMMETRIC_DEFAULT


@dataclass(frozen=True, slots=True)
class DataKeyPair:
    private_key: bytes  # PKCS#8 DER
    public_key: bytes  # SubjectPublicKeyInfo DER
    sealed: Sealed  # the private key under the symmetric KMS key


class CryptoOps:
    def __init__(self, keyring: Keyring, authz: Authorizer, quotas: QuotaMeter = NO_QUOTAS) -> None:
        self._keyring = keyring
        self._authz = authz
        self._quotas = quotas

    def encrypt(
        self,
        ctx: RequestContext,
        key_ref: str,
        plaintext: bytes,
        context: Mapping[str, str],
        algorithm: str | None = None,
        *,
        dry_run: bool = False,
    ) -> Sealed:
        key = self._usable_key(ctx, key_ref, algorithm, "Encrypt", context)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        return self._seal_any(key, plaintext, context, algorithm)

    def generate_data_key(
        self,
        ctx: RequestContext,
        key_ref: str,
        number_of_bytes: int,
        context: Mapping[str, str],
        *,
        operation: str = "GenerateDataKey",
        dry_run: bool = False,
    ) -> tuple[bytes, Sealed]:
        """``operation`` is GenerateDataKey or GenerateDataKeyWithoutPlaintext (they are authorized apart)."""
        key = self._usable_key(ctx, key_ref, None, operation, context)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        plaintext = self._keyring.random(number_of_bytes)
        return plaintext, self._seal(key, plaintext, context)

    def decrypt(
        self,
        ctx: RequestContext,
        blob: bytes,
        context: Mapping[str, str],
        key_ref: str | None = None,
        algorithm: str | None = None,
        *,
        operation: str = "Decrypt",
        dry_run: bool = False,
        charged: str | None = None,
    ) -> Opened:
        """``operation`` is Decrypt, or ReEncryptFrom when ReEncrypt decrypts its source; ``charged`` is the quota
        bucket ReEncrypt already charged for its destination (a request takes one token from each bucket)."""
        if key_ref is not None:
            named = self._keyring.resolve(ctx, key_ref)
            if not is_symmetric(named):
                bucket = key_bucket(named)
                if bucket != charged:
                    self._quotas.charge(ctx, bucket)
                return self._rsa_decrypt(ctx, named, key_ref, blob, context, algorithm, operation, dry_run=dry_run)
        if charged != SYMMETRIC:
            self._quotas.charge(ctx, SYMMETRIC)
        try:
            header = kms_blob.read_header(blob)
        except InvalidCiphertext as exc:
            raise InvalidCiphertextError("") from exc
        blob_key_id = key_id_from_bytes(header.key_id)
        if key_ref is not None and self._keyring.resolve(ctx, key_ref).key_id != blob_key_id:
            raise IncorrectKey("The key ID in the request does not identify a CMK that can perform this operation.")
        key = self._keyring.get(blob_key_id)
        if key is None or key.account_id != ctx.account_id or key.region != ctx.region:
            raise AccessDenied(FOREIGN_CIPHERTEXT)
        self._authorize(ctx, key, operation, key_ref, algorithm, context)
        self._check_usable(key, algorithm, operation)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        material_id = header.material_id.hex()
        cipher = self._keyring.cipher(key, material_id)
        try:
            plaintext = kms_blob.open_blob(cipher, blob, encode_context(context))
        except InvalidCiphertext as exc:
            raise InvalidCiphertextError("") from exc
        return Opened(plaintext=plaintext, key=key, material_id=material_id)

    def re_encrypt(
        self,
        ctx: RequestContext,
        blob: bytes,
        source_context: Mapping[str, str],
        source_key_ref: str | None,
        destination_key_ref: str,
        destination_context: Mapping[str, str],
        source_algorithm: str | None = None,
        destination_algorithm: str | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Opened, Sealed]:
        """Decrypt and encrypt again inside KMS; the plaintext never leaves."""
        destination = self._usable_key(
            ctx, destination_key_ref, destination_algorithm, "ReEncryptTo", destination_context
        )
        opened = self.decrypt(
            ctx,
            blob,
            source_context,
            source_key_ref,
            source_algorithm,
            operation="ReEncryptFrom",
            dry_run=dry_run,
            charged=key_bucket(destination),
        )
        return opened, self._seal_any(destination, opened.plaintext, destination_context, destination_algorithm)

    def generate_data_key_pair(
        self,
        ctx: RequestContext,
        key_ref: str,
        key_pair_spec: str,
        context: Mapping[str, str],
        *,
        operation: str = "GenerateDataKeyPair",
        dry_run: bool = False,
    ) -> DataKeyPair:
        """A fresh key pair whose private key comes back sealed under the symmetric key ``key_ref``."""
        self._quotas.charge(ctx, key_pair_bucket(key_pair_spec))
        facts = {"kms:DataKeyPairSpec": key_pair_spec}
        key = self._usable_key(ctx, key_ref, None, operation, context, facts, charge=False)
        if key_pair_spec in asymmetric.UNSUPPORTED_KEY_SPECS:
            raise Unsupported(f"KeyPairSpec {key_pair_spec} is not supported by Keyhold.")
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        private = asymmetric.generate_private_key(key_pair_spec)
        return DataKeyPair(private, asymmetric.public_key_der(private), self._seal(key, private, context))

    def generate_random(self, ctx: RequestContext, number_of_bytes: int) -> bytes:
        self._quotas.charge(ctx, SYMMETRIC)
        self._authz.check(ctx, None, "GenerateRandom")
        return self._keyring.random(number_of_bytes)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _usable_key(
        self,
        ctx: RequestContext,
        key_ref: str,
        algorithm: str | None,
        operation: str,
        context: Mapping[str, str],
        extra_facts: Mapping[str, ContextValue] | None = None,
        *,
        charge: bool = True,
    ) -> Key:
        """The key, charged to its quota bucket, authorized and usable for ``operation``."""
        key = self._keyring.resolve(ctx, key_ref)
        if charge:
            self._quotas.charge(ctx, key_bucket(key))
        self._authorize(ctx, key, operation, key_ref, algorithm, context, extra_facts)
        self._check_usable(key, algorithm, operation, context)
        return key

    def _authorize(
        self,
        ctx: RequestContext,
        key: Key,
        operation: str,
        key_ref: str | None,
        algorithm: str | None,
        context: Mapping[str, str],
        extra_facts: Mapping[str, ContextValue] | None = None,
    ) -> None:
        facts: dict[str, ContextValue] = {
            "kms:EncryptionAlgorithm": algorithm or SYMMETRIC_DEFAULT,
            **(extra_facts or {}),
        }
        alias = request_alias(key_ref) if key_ref is not None else None
        if alias is not None:
            facts["kms:RequestAlias"] = alias
        self._authz.check(ctx, key, operation, facts, encryption_context=context)

    def _check_usable(
        self, key: Key, algorithm: str | None, operation: str, context: Mapping[str, str] | None = None
    ) -> None:
        self._keyring.require_enabled(key)
        require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
        if (algorithm or SYMMETRIC_DEFAULT) not in encryption_algorithms(key):
            raise incompatible_algorithm(key, algorithm or SYMMETRIC_DEFAULT)
        if context and not is_symmetric(key):
            raise ValidationFailed(ASYMMETRIC_CONTEXT)

    def _seal_any(self, key: Key, plaintext: bytes, context: Mapping[str, str], algorithm: str | None) -> Sealed:
        if is_symmetric(key):
            return self._seal(key, plaintext, context)
        algorithm = algorithm or SYMMETRIC_DEFAULT
        limit = asymmetric.max_plaintext(key.key_spec, algorithm)
        if len(plaintext) > limit:
            raise ValidationFailed(
                f"Algorithm {algorithm} and key spec {key.key_spec} cannot encrypt data larger than {limit} bytes."
            )
        ciphertext = asymmetric.encrypt(self._keyring.public_key(key), key.key_spec, algorithm, plaintext)
        return Sealed(ciphertext=ciphertext, key=key, material_id="", algorithm=algorithm)

    def _rsa_decrypt(
        self,
        ctx: RequestContext,
        key: Key,
        key_ref: str,
        ciphertext: bytes,
        context: Mapping[str, str],
        algorithm: str | None,
        operation: str,
        *,
        dry_run: bool,
    ) -> Opened:
        """Decrypt a raw RSAES-OAEP ciphertext with the RSA key the request named."""
        self._authorize(ctx, key, operation, key_ref, algorithm, context)
        self._check_usable(key, algorithm, operation, context)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        algorithm = algorithm or SYMMETRIC_DEFAULT
        try:
            plaintext = asymmetric.decrypt(self._keyring.secret(key), key.key_spec, algorithm, ciphertext)
        except InvalidCiphertext as exc:
            raise InvalidCiphertextError("") from exc
        return Opened(plaintext=plaintext, key=key, material_id="", algorithm=algorithm)

    def _seal(self, key: Key, plaintext: bytes, context: Mapping[str, str]) -> Sealed:
        material_id = key.current_material_id
        cipher = self._keyring.cipher(key, material_id)
        blob = kms_blob.seal(
            cipher,
            key_id_to_bytes(key.key_id),
            bytes.fromhex(material_id),
            plaintext,
            encode_context(context),
        )
        return Sealed(ciphertext=blob, key=key, material_id=material_id)
