"""What the object store keeps: buckets, objects, multipart uploads, and each object's encryption envelope.

An object's bytes live in the blob store as one or more *streams* (crypto/object_stream.py): one for an object
written by a single PUT (part number 0), one per part for an object assembled by a multipart upload. The rows here
say which blobs hold the streams and how the data keys that open them are protected; they never hold a key.
"""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

SINGLE_PART = 0  # the part number of the one stream of an object written by PutObject or CopyObject

# Server-side encryption modes, by their x-amz-server-side-encryption value; SSE-C has no such value.
NONE = "none"
SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_KMS_DSSE = "aws:kms:dsse"
SSE_C = "SSE-C"
MODES = (NONE, SSE_S3, SSE_KMS, SSE_KMS_DSSE, SSE_C)


@dataclass(frozen=True, slots=True)
class BucketEncryption:
    """A bucket's default encryption (PutBucketEncryption): one rule."""

    algorithm: str  # AES256 | aws:kms | aws:kms:dsse
    kms_key_id: str | None = None  # as configured (key id, key ARN, alias name or alias ARN)
    bucket_key_enabled: bool = False
    blocked_types: tuple[str, ...] = ()  # "NONE" or "SSE-C"


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    account_id: str  # the owner
    region: str
    created_at: float
    encryption: BucketEncryption | None = None  # None: the implicit SSE-S3 default every AWS bucket has
    policy: str | None = None  # the bucket policy document as given


@dataclass(frozen=True, slots=True)
class Checksum:
    algorithm: str  # CRC32 | CRC32C | CRC64NVME | SHA1 | SHA256
    value: str  # base64; a composite multipart checksum ends in "-<part count>"
    type: str = "FULL_OBJECT"  # FULL_OBJECT | COMPOSITE


@dataclass(frozen=True, slots=True)
class Envelope:
    """How an object's data keys are protected. Which fields are set depends on ``mode``:

    - AES256 (SSE-S3): ``s3_key_id`` names the Keyhold-owned SSE-S3 key; ``s3_wrapped`` is the data key sealed under it.
    - aws:kms: ``kms_key_arn``, ``context`` (the whole KMS encryption context) and ``kms_wrapped`` (the KMS
      CiphertextBlob of the data key). With a bucket key (``bucket_key``), ``kms_wrapped`` is the bucket key's
      CiphertextBlob (context: the bucket ARN) and the data key is in ``sealed_key``, sealed under a key derived
      from the bucket key and ``salt``.
    - aws:kms:dsse: the aws:kms fields for the inner layer plus the SSE-S3 fields for the outer one.
    - SSE-C: ``salt`` and ``customer_key_check`` (a salted HMAC of the customer's key, to tell a wrong key apart);
      the data key is in ``sealed_key``, sealed under a key derived from the customer's key and ``salt``.
    """

    mode: str = NONE
    kms_key_arn: str | None = None
    context: Mapping[str, str] | None = None
    kms_wrapped: bytes | None = None
    bucket_key: bool = False
    salt: bytes | None = None
    s3_key_id: str | None = None
    s3_wrapped: bytes | None = None
    customer_key_check: bytes | None = None
    sealed_key: bytes | None = None

    @property
    def encrypted(self) -> bool:
        return self.mode != NONE

    def to_json(self) -> str:
        """The stored form: a versioned JSON object, bytes in base64, unset fields left out."""
        document: dict[str, Any] = {"v": 1}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value is False:
                continue
            if isinstance(value, bytes):
                value = base64.b64encode(value).decode("ascii")
            elif isinstance(value, Mapping):
                value = dict(value)
            document[item.name] = value
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Envelope":
        document = json.loads(text)
        if document.pop("v", None) != 1:
            raise ValueError("unknown envelope version")
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in document:
                continue
            value = document[item.name]
            if item.name in _BYTES_FIELDS:
                value = base64.b64decode(value)
            values[item.name] = value
        return cls(**values)


_BYTES_FIELDS = frozenset({"kms_wrapped", "salt", "s3_wrapped", "customer_key_check", "sealed_key"})


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One stream of an object: the whole object (number 0) or one multipart part."""

    number: int
    size: int  # plaintext bytes
    blob_id: str
    etag: str  # the part's ETag, unquoted
    stream_salt: str = ""  # hex of the salt in the blob's stream header ("" if not encrypted): a read checks it,
    # so swapping in another stream of the same object and part (an earlier upload attempt) is caught


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # unquoted: 32 hex digits, or "<hex>-<parts>" for a multipart object
    last_modified: float
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)  # stored system headers (cache-control, expires, ...)
    user_metadata: Mapping[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    checksum: Checksum | None = None
    encryption: Envelope = field(default_factory=Envelope)
    parts: tuple[StoredPart, ...] = ()
    seal: bytes = b""  # the row's seal (domain/objects/sealing.py): any change to the row is caught on read


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    initiator_arn: str
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    encryption: Envelope = field(default_factory=Envelope)


@dataclass(frozen=True, slots=True)
class UploadedPart:
    upload_id: str
    number: int  # 1..10000
    size: int
    etag: str  # unquoted
    blob_id: str
    last_modified: float
    checksum: str | None = None  # base64 of the part's checksum in the upload's algorithm
    stream_salt: str = ""  # as StoredPart.stream_salt


@dataclass(frozen=True, slots=True)
class SseS3Key:
    """A generation of the Keyhold-owned key that seals SSE-S3 data keys; its material is wrapped by the root key."""

    key_id: str
    created_at: float
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """One page of ListObjects/ListObjectsV2: objects and common prefixes, in key order."""

    objects: list[ObjectRecord]
    common_prefixes: list[str]
    truncated: bool
    next_marker: str | None  # the last key or common prefix on the page when truncated (where the next page starts)


@dataclass(frozen=True, slots=True)
class UploadPage:
    uploads: list[MultipartUpload]
    common_prefixes: list[str]
    truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True, slots=True)
class PartPage:
    upload: MultipartUpload
    parts: list[UploadedPart]
    truncated: bool
    next_part_number_marker: int | None
