"""Server-side encryption decisions: which data keys encrypt an object, and how they are kept (its Envelope).

    SSE-S3 (AES256)      a fresh data key, sealed under the Keyhold-owned SSE-S3 key (sse_s3.py)
    SSE-KMS (aws:kms)    GenerateDataKey from KMS, as the caller via s3.amazonaws.com, with encryption context
                         {"aws:s3:arn": "arn:aws:s3:::bucket/key"} plus the caller's own context; or, with a bucket
                         key, a fresh data key sealed under a key derived from the bucket key (bucket_keys.py)
    DSSE (aws:kms:dsse)  two independent layers: an SSE-KMS data key inside, an SSE-S3 data key outside
    SSE-C                a fresh data key sealed under a key derived from the customer's key; only a salted HMAC
                         of the customer's key is kept, to tell a wrong key (403) from data tampering

Sealed data keys are bound to the bucket and object key they belong to. KMS errors come out as KmsFailure.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from keyhold.crypto.errors import InvalidCiphertext
from keyhold.crypto.object_keys import (
    DataKeySealer,
    customer_kek,
    customer_key_check,
    customer_key_matches,
    derive_object_key,
    new_data_key,
    new_salt,
)
from keyhold.crypto.rand import RandomSource, system_random
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.service_client import ServiceKmsClient
from keyhold.domain.objects.bucket_keys import BucketKeys
from keyhold.domain.objects.errors import InvalidRequest, KmsFailure, ObjectAccessDenied
from keyhold.domain.objects.model import NONE, SSE_C, SSE_KMS, SSE_KMS_DSSE, SSE_S3, Envelope
from keyhold.domain.objects.sse_s3 import SseS3Keyring
from keyhold.errors import ServiceError

AWS_MANAGED_KEY = "alias/aws/s3"
MSG_CUSTOMER_KEY_MISSING = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to "
    "retrieve the object."
)
MSG_CUSTOMER_KEY_WRONG = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
)
MSG_CUSTOMER_KEY_UNEXPECTED = (
    "The encryption parameters are not applicable to this object."  # SSE-C headers on an object without SSE-C
)


@dataclass(frozen=True, slots=True)
class SseSpec:
    """What a write asks for, once the bucket's default encryption has been applied."""

    mode: str = NONE
    kms_key_id: str | None = None  # None: the AWS managed key alias/aws/s3
    context: Mapping[str, str] = field(default_factory=dict)  # the caller's x-amz-server-side-encryption-context
    bucket_key: bool = False
    customer_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OpenEnvelope:
    envelope: Envelope
    data_keys: tuple[bytes, ...] = field(repr=False)  # empty when the object is not encrypted


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


class Envelopes:
    def __init__(
        self,
        kms: ServiceKmsClient,
        sse_s3: SseS3Keyring,
        bucket_keys: BucketKeys,
        *,
        random: RandomSource = system_random,
    ) -> None:
        self._kms = kms
        self._sse_s3 = sse_s3
        self._bucket_keys = bucket_keys
        self._random = random

    # -- writing ----------------------------------------------------------------------------------------------

    def seal(
        self, ctx: RequestContext, bucket: str, key: str, spec: SseSpec, data_key: bytes | None = None
    ) -> OpenEnvelope:
        """A new envelope for an object written under ``spec``: fresh data keys, or ``data_key`` re-sealed
        (UpdateObjectEncryption keeps an object's data key and changes only how it is kept)."""
        where = (bucket.encode(), key.encode())
        if spec.mode == NONE:
            return OpenEnvelope(Envelope(), ())
        if spec.mode == SSE_S3:
            dek = data_key or new_data_key(self._random)
            key_id, sealer = self._sse_s3.current()
            sealed = sealer.seal(dek, b"sse-s3", *where)
            return OpenEnvelope(Envelope(mode=SSE_S3, s3_key_id=key_id, s3_wrapped=sealed), (dek,))
        if spec.mode == SSE_C:
            if spec.customer_key is None:
                raise ValueError("SSE-C needs the customer's key")
            dek = data_key or new_data_key(self._random)
            salt = new_salt(self._random)
            envelope = Envelope(
                mode=SSE_C,
                salt=salt,
                customer_key_check=customer_key_check(spec.customer_key, salt),
                sealed_key=customer_kek(spec.customer_key, salt).seal(dek, b"sse-c", *where),
            )
            return OpenEnvelope(envelope, (dek,))
        if spec.mode == SSE_KMS and spec.bucket_key:
            return self._seal_bucket_key(ctx, bucket, key, spec, data_key)
        context = {**spec.context, "aws:s3:arn": object_arn(bucket, key)}
        key_ref = spec.kms_key_id or AWS_MANAGED_KEY
        via = self._kms.on_behalf_of(ctx)
        try:
            if data_key is None:
                dek, sealed_dek = self._kms.generate_data_key(via, key_ref, context)
            else:
                dek, sealed_dek = data_key, self._kms.encrypt(via, key_ref, data_key, context)
        except ServiceError as error:
            raise KmsFailure(error) from None
        envelope = Envelope(
            mode=spec.mode, kms_key_arn=sealed_dek.key.arn, context=context, kms_wrapped=sealed_dek.ciphertext
        )
        if spec.mode == SSE_KMS_DSSE:  # the outer layer: an independent SSE-S3 data key
            outer = new_data_key(self._random)
            key_id, sealer = self._sse_s3.current()
            envelope = replace(envelope, s3_key_id=key_id, s3_wrapped=sealer.seal(outer, b"dsse-outer", *where))
            return OpenEnvelope(envelope, (dek, outer))
        return OpenEnvelope(envelope, (dek,))

    def _seal_bucket_key(
        self, ctx: RequestContext, bucket: str, key: str, spec: SseSpec, data_key: bytes | None
    ) -> OpenEnvelope:
        context = {**spec.context, "aws:s3:arn": bucket_arn(bucket)}
        try:
            bucket_key = self._bucket_keys.for_write(ctx, spec.kms_key_id or AWS_MANAGED_KEY, context)
        except ServiceError as error:
            raise KmsFailure(error) from None
        dek = data_key or new_data_key(self._random)
        salt = new_salt(self._random)
        sealer = DataKeySealer(derive_object_key(bucket_key.plaintext, salt))
        envelope = Envelope(
            mode=SSE_KMS,
            kms_key_arn=bucket_key.key_arn,
            context=context,
            kms_wrapped=bucket_key.ciphertext,
            bucket_key=True,
            salt=salt,
            sealed_key=sealer.seal(dek, b"bucket-key", bucket.encode(), key.encode()),
        )
        return OpenEnvelope(envelope, (dek,))

    # -- reading ----------------------------------------------------------------------------------------------

    def check_customer_key(self, envelope: Envelope, customer_key: bytes | None) -> None:
        """SSE-C: 400 without the key, 403 with the wrong one; other modes: 400 if a customer key was sent."""
        if envelope.mode != SSE_C:
            if customer_key is not None:
                raise InvalidRequest(MSG_CUSTOMER_KEY_UNEXPECTED)
            return
        if customer_key is None:
            raise InvalidRequest(MSG_CUSTOMER_KEY_MISSING)
        if envelope.salt is None or envelope.customer_key_check is None:
            raise InvalidCiphertext
        if not customer_key_matches(customer_key, envelope.salt, envelope.customer_key_check):
            raise ObjectAccessDenied(MSG_CUSTOMER_KEY_WRONG)

    def open(
        self, ctx: RequestContext, bucket: str, key: str, envelope: Envelope, customer_key: bytes | None
    ) -> tuple[bytes, ...]:
        """The object's data keys. Raises InvalidCiphertext if anything stored was tampered with."""
        self.check_customer_key(envelope, customer_key)
        where = (bucket.encode(), key.encode())
        mode = envelope.mode
        if mode == NONE:
            return ()
        if mode == SSE_S3:
            return (self._sse_s3_key(envelope, b"sse-s3", where),)
        if mode == SSE_C:
            kek = customer_kek(_need(customer_key), _need(envelope.salt))  # both checked above
            return (kek.open(_need(envelope.sealed_key), b"sse-c", *where),)
        if mode not in (SSE_KMS, SSE_KMS_DSSE):  # not a mode Keyhold writes: the row was changed
            raise InvalidCiphertext
        inner = self._kms_key(ctx, bucket, key, envelope)
        if mode == SSE_KMS_DSSE:
            return (inner, self._sse_s3_key(envelope, b"dsse-outer", where))
        return (inner,)

    def _sse_s3_key(self, envelope: Envelope, purpose: bytes, where: tuple[bytes, bytes]) -> bytes:
        if envelope.s3_key_id is None:
            raise InvalidCiphertext
        try:
            sealer = self._sse_s3.get(envelope.s3_key_id)
        except KeyError:
            raise InvalidCiphertext from None
        return sealer.open(_need(envelope.s3_wrapped), purpose, *where)

    def _kms_key(self, ctx: RequestContext, bucket: str, key: str, envelope: Envelope) -> bytes:
        blob = _need(envelope.kms_wrapped)
        context = dict(envelope.context or {})
        expected = bucket_arn(bucket) if envelope.bucket_key else object_arn(bucket, key)
        if context.get("aws:s3:arn") != expected:  # an envelope moved here from another object
            raise InvalidCiphertext
        try:
            if envelope.bucket_key:
                plaintext = self._bucket_keys.for_read(ctx, _need_text(envelope.kms_key_arn), blob, context)
            else:
                via = self._kms.on_behalf_of(ctx)
                plaintext = self._kms.decrypt(via, blob, context, _need_text(envelope.kms_key_arn)).plaintext
        except ServiceError as error:
            raise KmsFailure(error) from None
        if not envelope.bucket_key:
            return plaintext
        sealer = DataKeySealer(derive_object_key(plaintext, _need(envelope.salt)))
        return sealer.open(_need(envelope.sealed_key), b"bucket-key", bucket.encode(), key.encode())


def _need(value: bytes | None) -> bytes:
    if value is None:
        raise InvalidCiphertext
    return value


def _need_text(value: str | None) -> str:
    if value is None:
        raise InvalidCiphertext
    return value
