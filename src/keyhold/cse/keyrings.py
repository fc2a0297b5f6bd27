"""Keyrings: where an object's data key comes from and how it is wrapped.

- ``KmsKeyring``: ``kms+context`` over a boto3 KMS client (any endpoint). The KMS encryption context is the
  caller's context plus the reserved ``aws:x-amz-cek-alg`` (the content algorithm: ``115`` for V3,
  ``AES/GCM/NoPadding`` for V2), stored whole in ``x-amz-t`` (V3) or ``x-amz-matdesc`` (V2). On get, the stored
  context minus the reserved keys must equal the caller's exactly.
- ``AesKeyring``: ``AES/GCM`` wrap under a 256-bit key; ``RsaKeyring``: ``RSA-OAEP-SHA1``. Both store their
  material description (informational, default ``{}``) in ``x-amz-m`` (V3) or ``x-amz-matdesc`` (V2).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.crypto import s3ec
from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.rand import RandomSource, system_random
from keyhold.cse.errors import ContextMismatch, TamperedObject, WrongKey
from keyhold.cse.metadata import AES_GCM, KMS_CONTEXT, RSA_OAEP_SHA1

CEK_ALG_CONTEXT_KEY = "aws:x-amz-cek-alg"
KMS_V1_CONTEXT_KEY = "kms_cmk_id"
RESERVED_CONTEXT_KEYS = frozenset({CEK_ALG_CONTEXT_KEY, KMS_V1_CONTEXT_KEY})


@dataclass(frozen=True, slots=True)
class DataKey:
    """A new data key: plaintext for the content cipher, and what the object stores about it."""

    plaintext: bytes
    encrypted: bytes
    wrap_alg: str
    stored_context: dict[str, str]


class Keyring(Protocol):
    def generate(self, cek_alg: str, context: Mapping[str, str]) -> DataKey:
        """A fresh data key for content algorithm ``cek_alg`` and the caller's encryption context."""
        ...

    def decrypt(
        self,
        wrap_alg: str,
        encrypted: bytes,
        *,
        cek_alg: str,
        stored_context: Mapping[str, str],
        context: Mapping[str, str],
    ) -> bytes:
        """The plaintext data key, or WrongKey / ContextMismatch / TamperedObject."""
        ...


def _check_caller_context(context: Mapping[str, str]) -> None:
    if CEK_ALG_CONTEXT_KEY in context:
        raise ValueError(f"{CEK_ALG_CONTEXT_KEY} is a reserved key for the S3 encryption client")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise TypeError("encryption context keys and values must be strings")


def _check_plaintext_key(key: bytes) -> bytes:
    if len(key) != s3ec.DATA_KEY_SIZE:
        raise TamperedObject("the unwrapped data key is not 32 bytes")
    return key


class KmsKeyring:
    """``kms+context`` with one KMS key (id, ARN or alias) through ``kms_client`` (a boto3 KMS client)."""

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self.kms_client = kms_client
        self.key_id = key_id

    def generate(self, cek_alg: str, context: Mapping[str, str]) -> DataKey:
        _check_caller_context(context)
        full_context = {**context, CEK_ALG_CONTEXT_KEY: cek_alg}
        response = self.kms_client.generate_data_key(
            KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=full_context
        )
        return DataKey(
            plaintext=response["Plaintext"],
            encrypted=response["CiphertextBlob"],
            wrap_alg=KMS_CONTEXT,
            stored_context=full_context,
        )

    def decrypt(
        self,
        wrap_alg: str,
        encrypted: bytes,
        *,
        cek_alg: str,
        stored_context: Mapping[str, str],
        context: Mapping[str, str],
    ) -> bytes:
        if wrap_alg != KMS_CONTEXT:
            raise WrongKey(f"the data key is wrapped with {wrap_alg}; this keyring opens {KMS_CONTEXT} only")
        _check_caller_context(context)
        stored_caller_part = {k: v for k, v in stored_context.items() if k not in RESERVED_CONTEXT_KEYS}
        if stored_caller_part != dict(context):
            raise ContextMismatch("the encryption context given does not match the one stored with the object")
        if stored_context.get(CEK_ALG_CONTEXT_KEY, cek_alg) != cek_alg:
            raise TamperedObject(f"the stored {CEK_ALG_CONTEXT_KEY} does not match the content algorithm {cek_alg}")
        try:
            response = self.kms_client.decrypt(
                KeyId=self.key_id, CiphertextBlob=encrypted, EncryptionContext=dict(stored_context)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "InvalidCiphertextException":
                raise TamperedObject("KMS could not decrypt the data key (x-amz-3/x-amz-key-v2 or context)") from exc
            if code in ("IncorrectKeyException", "NotFoundException", "AccessDeniedException"):
                raise WrongKey(f"KMS key {self.key_id} cannot decrypt this object's data key ({code})") from exc
            raise
        return _check_plaintext_key(response["Plaintext"])


def _material_description(description: Mapping[str, str] | None) -> dict[str, str]:
    value = dict(description or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError("material description keys and values must be strings")
    return value


def _no_context(context: Mapping[str, str]) -> None:
    if context:
        raise ValueError("an encryption context applies to KMS keyrings; raw keyrings use a material description")


class AesKeyring:
    """``AES/GCM`` wrap under a 256-bit wrapping key."""

    def __init__(
        self,
        wrapping_key: bytes,
        *,
        material_description: Mapping[str, str] | None = None,
        random: RandomSource = system_random,
    ) -> None:
        if len(wrapping_key) != s3ec.DATA_KEY_SIZE:
            raise ValueError("AES wrapping keys are 32 bytes")
        self._key = wrapping_key
        self.material_description = _material_description(material_description)
        self._random = random

    def generate(self, cek_alg: str, context: Mapping[str, str]) -> DataKey:
        _no_context(context)
        data_key = s3ec.new_data_key(random=self._random)
        wrapped = s3ec.wrap_aes_gcm(self._key, data_key, cek_alg, random=self._random)
        return DataKey(data_key, wrapped, AES_GCM, dict(self.material_description))

    def decrypt(
        self,
        wrap_alg: str,
        encrypted: bytes,
        *,
        cek_alg: str,
        stored_context: Mapping[str, str],
        context: Mapping[str, str],
    ) -> bytes:
        if wrap_alg != AES_GCM:
            raise WrongKey(f"the data key is wrapped with {wrap_alg}; this keyring opens {AES_GCM} only")
        _no_context(context)
        try:
            return s3ec.unwrap_aes_gcm(self._key, encrypted, cek_alg)
        except InvalidCiphertext as exc:
            raise WrongKey("the AES wrapping key cannot unwrap this object's data key (wrong key or tampered)") from exc


class RsaKeyring:
    """``RSA-OAEP-SHA1`` wrap. A public key is enough to put; get needs the private key."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey | rsa.RSAPublicKey,
        *,
        material_description: Mapping[str, str] | None = None,
        random: RandomSource = system_random,
    ) -> None:
        self._private = key if isinstance(key, rsa.RSAPrivateKey) else None
        self._public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
        self.material_description = _material_description(material_description)
        self._random = random

    def generate(self, cek_alg: str, context: Mapping[str, str]) -> DataKey:
        _no_context(context)
        data_key = s3ec.new_data_key(random=self._random)
        wrapped = s3ec.wrap_rsa_oaep_sha1(self._public, data_key, cek_alg)
        return DataKey(data_key, wrapped, RSA_OAEP_SHA1, dict(self.material_description))

    def decrypt(
        self,
        wrap_alg: str,
        encrypted: bytes,
        *,
        cek_alg: str,
        stored_context: Mapping[str, str],
        context: Mapping[str, str],
    ) -> bytes:
        if wrap_alg != RSA_OAEP_SHA1:
            raise WrongKey(f"the data key is wrapped with {wrap_alg}; this keyring opens {RSA_OAEP_SHA1} only")
        if self._private is None:
            raise WrongKey("this RSA keyring holds only a public key; decryption needs the private key")
        _no_context(context)
        try:
            return s3ec.unwrap_rsa_oaep_sha1(self._private, encrypted, cek_alg)
        except InvalidCiphertext as exc:
            raise WrongKey("the RSA private key cannot unwrap this object's data key (wrong key or tampered)") from exc
