"""What a write brings with it, as the protocol layer parsed it from the request."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from keyhold.domain.objects.model import Checksum


class Payload(Protocol):
    """An object's bytes as they arrive. Iterating raises at the end if the request's own integrity checks
    (Content-MD5, x-amz-checksum-*, the signed payload hash) do not hold, before anything is committed."""

    def __iter__(self) -> Iterator[bytes]: ...

    @property
    def checksum(self) -> Checksum | None:
        """The checksum of the bytes read (algorithm the request named, or None); valid once iteration ended."""
        ...


@dataclass(frozen=True, slots=True)
class SseRequest:
    """The server-side encryption headers of a request, validated but before any bucket default is applied."""

    algorithm: str | None = None  # x-amz-server-side-encryption: AES256 | aws:kms | aws:kms:dsse
    kms_key_id: str | None = None
    context: Mapping[str, str] | None = None
    bucket_key: bool | None = None  # x-amz-server-side-encryption-bucket-key-enabled, when sent
    customer_key: bytes | None = field(default=None, repr=False)  # SSE-C: the 32-byte key, its MD5 checked

    @property
    def empty(self) -> bool:
        return self.algorithm is None and self.customer_key is None


@dataclass(frozen=True, slots=True)
class ObjectAttributes:
    """The metadata a client sets on an object (PutObject, CopyObject with REPLACE, CreateMultipartUpload)."""

    content_type: str = "binary/octet-stream"
    headers: Mapping[str, str] = field(default_factory=dict)  # cache-control, content-disposition, ...
    user_metadata: Mapping[str, str] = field(default_factory=dict)
