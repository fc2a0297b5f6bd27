"""S3 Bucket Keys: one KMS data key per bucket, KMS key and caller, reused for a bounded time.

With BucketKeyEnabled, an SSE-KMS write does not ask KMS for a data key per object. It asks once for a *bucket
key* (GenerateDataKey with the bucket's ARN as encryption context), keeps its plaintext in memory for at most
``lifetime`` seconds, and derives each object's data key from it and a fresh per-object salt. Reads work the same
way: the bucket key's CiphertextBlob is stored with each object; the first read asks KMS to decrypt it and later
reads of objects under the same bucket key use the cached plaintext.

Entries are per caller (principal ARN): a principal that KMS would refuse never gets another's cached key.
Within the lifetime a disabled KMS key keeps working for callers that already hold its bucket key, as on AWS.
"""

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.service_client import ServiceKmsClient

K = TypeVar("K")
V = TypeVar("V")

LIFETIME_SECONDS = 300.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class BucketKey:
    key_arn: str
    plaintext: bytes
    ciphertext: bytes  # the KMS CiphertextBlob stored with every object sealed under this bucket key
    expires: float


class BucketKeys:
    def __init__(
        self,
        kms: ServiceKmsClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        lifetime: float = LIFETIME_SECONDS,
    ) -> None:
        self._kms = kms
        self._clock = clock
        self._lifetime = lifetime
        self._writing: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], BucketKey] = {}
        self._reading: dict[tuple[str, bytes, str, tuple[tuple[str, str], ...]], BucketKey] = {}
        self._lock = threading.Lock()

    def for_write(self, ctx: RequestContext, key_ref: str, context: Mapping[str, str]) -> BucketKey:
        cache_key = (ctx.principal.arn, ctx.region, key_ref, tuple(sorted(context.items())))
        now = self._clock()
        with self._lock:
            cached = self._writing.get(cache_key)
        if cached is not None and cached.expires > now:
            return cached
        plaintext, sealed = self._kms.generate_data_key(self._kms.on_behalf_of(ctx), key_ref, context)
        fresh = BucketKey(sealed.key.arn, plaintext, sealed.ciphertext, now + self._lifetime)
        with self._lock:
            _bounded(self._writing)[cache_key] = fresh
            read_key = (ctx.principal.arn, _digest(fresh.ciphertext), fresh.key_arn, tuple(sorted(context.items())))
            _bounded(self._reading)[read_key] = fresh
        return fresh

    def for_read(self, ctx: RequestContext, key_arn: str, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        # Keyed on everything KMS would check, so a changed context or key ARN is not served from the cache.
        cache_key = (ctx.principal.arn, _digest(ciphertext), key_arn, tuple(sorted(context.items())))
        now = self._clock()
        with self._lock:
            cached = self._reading.get(cache_key)
        if cached is not None and cached.expires > now:
            return cached.plaintext
        opened = self._kms.decrypt(self._kms.on_behalf_of(ctx), ciphertext, context, key_arn)
        with self._lock:
            _bounded(self._reading)[cache_key] = BucketKey(key_arn, opened.plaintext, ciphertext, now + self._lifetime)
        return opened.plaintext


def _digest(ciphertext: bytes) -> bytes:
    return hashlib.sha256(ciphertext).digest()


def _bounded(cache: dict[K, V]) -> dict[K, V]:
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    return cache
