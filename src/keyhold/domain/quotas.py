"""KMS request quotas: AWS's default requests-per-second limits as token buckets per account and region.

Off by default (``NO_QUOTAS``); ``keyhold serve --enforce-quotas`` turns them on. Each quota is a bucket that
holds up to ``capacity`` requests (the per-second rate, at least 1) and refills at ``rate`` per second; a request
takes one token or is refused with ThrottlingException. AWS counts every request of an account in a Region,
whoever makes it (every IAM user of the account, and AWS services acting on its behalf), against the caller's
account, not the key owner's; so buckets are kept per (account, region, bucket).

Which bucket a request takes from (docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html):

    Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),   "symmetric", "rsa" or "ecc": the type of the
    GenerateRandom, GenerateMac, VerifyMac, Sign, Verify,             key the request uses (HMAC keys are
    DeriveSharedSecret                                                symmetric; GenerateRandom always symmetric)
    GenerateDataKeyPair(WithoutPlaintext)                             "GenerateDataKeyPair:<KeyPairSpec>"
    every other operation                                             its own, named after the operation

The buckets that depend on the key are charged by the domain once the key is resolved (``key_bucket``), so calls
made in process by Keyhold's own services count too; the others by the protocol router before the operation runs.
"""

import threading
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from keyhold.domain.context import RequestContext
from keyhold.domain.keys.errors import Throttled
from keyhold.domain.keys.model import Key

THROTTLED_MESSAGE: Final = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."

SYMMETRIC: Final = "symmetric"
RSA: Final = "rsa"
ECC: Final = "ecc"

CHARGED_BY_KEY: Final = frozenset(
    {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom",
     "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret",
     "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}
)  # fmt: skip
"""Operations whose bucket depends on their key or KeyPairSpec: the domain charges them, never the router."""

RATES: Final[Mapping[str, float]] = {
    # shared by the cryptographic operations on keys of one type (symmetric: region-dependent, see REGION_RATES)
    SYMMETRIC: 10_000, RSA: 1_000, ECC: 1_000,
    # shared by GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, one per KeyPairSpec
    "GenerateDataKeyPair:RSA_2048": 20, "GenerateDataKeyPair:RSA_3072": 4, "GenerateDataKeyPair:RSA_4096": 1,
    "GenerateDataKeyPair:ECC_NIST_P256": 100, "GenerateDataKeyPair:ECC_NIST_P384": 100,
    "GenerateDataKeyPair:ECC_NIST_P521": 100, "GenerateDataKeyPair:ECC_SECG_P256K1": 100,
    "GenerateDataKeyPair:ECC_NIST_EDWARDS25519": 100, "GenerateDataKeyPair:SM2": 25,
    # one per operation
    "CancelKeyDeletion": 5, "ConnectCustomKeyStore": 5, "CreateAlias": 5, "CreateCustomKeyStore": 5,
    "CreateGrant": 50, "CreateKey": 5, "DeleteAlias": 15, "DeleteCustomKeyStore": 5,
    "DeleteImportedKeyMaterial": 15, "DescribeCustomKeyStores": 5, "DescribeKey": 2_000, "DisableKey": 5,
    "DisableKeyRotation": 5, "DisconnectCustomKeyStore": 5, "EnableKey": 5, "EnableKeyRotation": 15,
    "GetKeyLastUsage": 5, "GetKeyPolicy": 1_000, "GetKeyRotationStatus": 1_000, "GetParametersForImport": 1,
    "GetPublicKey": 2_000, "ImportKeyMaterial": 15, "ListAliases": 500, "ListGrants": 100, "ListKeyPolicies": 100,
    "ListKeyRotations": 100, "ListKeys": 500, "ListResourceTags": 2_000, "ListRetirableGrants": 100,
    "PutKeyPolicy": 15, "ReplicateKey": 5, "RetireGrant": 50, "RevokeGrant": 50, "RotateKeyOnDemand": 5,
    "ScheduleKeyDeletion": 15, "TagResource": 10, "UntagResource": 5, "UpdateAlias": 5, "UpdateCustomKeyStore": 5,
    "UpdateKeyDescription": 5, "UpdatePrimaryRegion": 5,
}  # fmt: skip
"""AWS's default requests per second of each bucket."""

_SYMMETRIC_20K: Final = ("us-east-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "eu-central-1", "eu-west-2")
_SYMMETRIC_100K: Final = ("us-east-1", "us-west-2", "eu-west-1")
_CHINA_REGIONS: Final = ("cn-north-1", "cn-northwest-1")

REGION_RATES: Final[Mapping[str, Mapping[str, float]]] = {
    SYMMETRIC: {**dict.fromkeys(_SYMMETRIC_20K, 20_000), **dict.fromkeys(_SYMMETRIC_100K, 100_000)},
    "GenerateDataKeyPair:RSA_2048": dict.fromkeys(_CHINA_REGIONS, 1),
    "GenerateDataKeyPair:RSA_3072": dict.fromkeys(_CHINA_REGIONS, 0.5),
    "GenerateDataKeyPair:RSA_4096": dict.fromkeys(_CHINA_REGIONS, 0.1),
}
"""Where a Region's default differs from RATES."""

_KEY_PAIR_BUCKETS: Final = {name.split(":", 1)[1]: name for name in RATES if name.startswith("GenerateDataKeyPair:")}


def key_bucket(key: Key) -> str:
    """The bucket of the cryptographic operations on ``key``: RSA, ECC, or symmetric (encryption and HMAC keys)."""
    spec = key.key_spec
    if spec.startswith("RSA_"):
        return RSA
    if spec.startswith("ECC_"):
        return ECC
    return SYMMETRIC


def key_pair_bucket(key_pair_spec: str) -> str:
    """The bucket of GenerateDataKeyPair(WithoutPlaintext) for ``key_pair_spec``."""
    return _KEY_PAIR_BUCKETS.get(key_pair_spec) or f"GenerateDataKeyPair:{key_pair_spec}"


class QuotaMeter(Protocol):
    def charge(self, ctx: RequestContext, bucket: str) -> None:
        """Take one request from ``bucket`` of the caller's account and region (Throttled if it is empty).

        A name that is not a bucket (an operation charged by its key, such as "Encrypt") takes nothing."""


class NoQuotas:
    """Quotas off: every request passes, at the cost of one call."""

    def charge(self, ctx: RequestContext, bucket: str) -> None:
        return None


NO_QUOTAS: Final = NoQuotas()


class TokenBucket:
    """Up to ``capacity`` tokens, refilled at ``rate`` per second; ``take`` spends one if there is one."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)  # a rate below 1/s still lets one request through, then one per 1/rate s
        self.tokens = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Quotas:
    """The buckets of every account and region this process has served, created full on first use."""

    def __init__(
        self,
        *,
        rates: Mapping[str, float] | None = None,
        share: int = 1,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        """``rates`` replace the defaults of some buckets in every Region (``{SYMMETRIC: 20_000}``); ``share``
        divides every rate (one share per worker process, each holding its own buckets); beyond ``max_buckets``
        full buckets are dropped (a full bucket and a missing one behave the same)."""
        self._overrides = dict(rates or {})
        self._share = share
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def rate(self, bucket: str, region: str) -> float:
        """Requests per second of ``bucket`` in ``region`` for this process."""
        rate = self._overrides.get(bucket)
        if rate is None:
            rate = REGION_RATES.get(bucket, {}).get(region, RATES[bucket])
        return rate / self._share

    def charge(self, ctx: RequestContext, bucket: str) -> None:
        """One lock and a little arithmetic per request (handlers run on the event loop and in threads)."""
        if bucket not in RATES:
            return
        name = (ctx.principal.account_id, ctx.region, bucket)
        with self._lock:
            now = self._clock()
            found = self._buckets.get(name)
            if found is None:
                found = self._new_bucket(name, now)
            if not found.take(now):
                raise Throttled(THROTTLED_MESSAGE)

    def _new_bucket(self, name: tuple[str, str, str], now: float) -> TokenBucket:
        if len(self._buckets) >= self._max_buckets:
            self._drop_full(now)
        bucket = self._buckets[name] = TokenBucket(self.rate(name[2], name[1]), now)
        return bucket

    def _drop_full(self, now: float) -> None:
        for name, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[name]
