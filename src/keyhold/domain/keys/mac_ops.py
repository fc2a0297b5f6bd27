"""Operations on HMAC keys: GenerateMac and VerifyMac (primitives: crypto/mac.py).

An HMAC key's material is its raw key bytes, unwrapped once and cached by the keyring. HMAC keys take no
encryption context; a MAC that does not verify raises KMSInvalidMacException.
"""

from keyhold.crypto import mac
from keyhold.domain.context import RequestContext
from keyhold.domain.keys.authz import Authorizer, request_alias
from keyhold.domain.keys.cryptoops import DRY_RUN_MESSAGE
from keyhold.domain.keys.errors import DryRunSucceeded, InvalidMac
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.model import Key, KeyUsage
from keyhold.domain.keys.specs import incompatible_algorithm, mac_algorithms, require_usage
from keyhold.domain.quotas import NO_QUOTAS, QuotaMeter, key_bucket


class MacOps:
    def __init__(self, keyring: Keyring, authz: Authorizer, quotas: QuotaMeter = NO_QUOTAS) -> None:
        self._keyring = keyring
        self._authz = authz
        self._quotas = quotas

    def generate_mac(
        self, ctx: RequestContext, key_ref: str, message: bytes, algorithm: str, *, dry_run: bool = False
    ) -> tuple[Key, bytes]:
        key = self._mac_key(ctx, key_ref, "GenerateMac", algorithm)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        return key, mac.generate_mac(self._keyring.secret(key), algorithm, message)

    def verify_mac(
        self, ctx: RequestContext, key_ref: str, message: bytes, algorithm: str, tag: bytes, *, dry_run: bool = False
    ) -> Key:
        """The key, if ``tag`` is the MAC of ``message``; KMSInvalidMacException if not."""
        key = self._mac_key(ctx, key_ref, "VerifyMac", algorithm)
        if dry_run:
            raise DryRunSucceeded(DRY_RUN_MESSAGE)
        if not mac.verify_mac(self._keyring.secret(key), algorithm, message, tag):
            raise InvalidMac("")
        return key

    def _mac_key(self, ctx: RequestContext, key_ref: str, action: str, algorithm: str) -> Key:
        key = self._keyring.resolve(ctx, key_ref)
        self._quotas.charge(ctx, key_bucket(key))
        facts: dict[str, str] = {"kms:MacAlgorithm": algorithm}
        alias = request_alias(key_ref)
        if alias is not None:
            facts["kms:RequestAlias"] = alias
        self._authz.check(ctx, key, action, dict(facts))
        self._keyring.require_enabled(key)
        require_usage(key, KeyUsage.GENERATE_VERIFY_MAC, action)
        if algorithm not in mac_algorithms(key):
            raise incompatible_algorithm(key, algorithm)
        return key
