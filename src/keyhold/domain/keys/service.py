"""KmsService: the KMS domain's one entry point, grouping its operations by area."""

import os
import time
from collections.abc import Callable, Sequence

from keyhold.crypto.keywrap import RootKey
from keyhold.crypto.rand import RandomSource
from keyhold.domain.identity.model import Principal
from keyhold.domain.keys.aliases import Aliases
from keyhold.domain.keys.asymmetric_ops import AsymmetricOps
from keyhold.domain.keys.authz import Authorizer
from keyhold.domain.keys.cryptoops import CryptoOps
from keyhold.domain.keys.grants import Grants
from keyhold.domain.keys.imports import Imports
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.lifecycle import Lifecycle
from keyhold.domain.keys.mac_ops import MacOps
from keyhold.domain.keys.model import KeyEvent
from keyhold.domain.keys.policies import Policies
from keyhold.domain.keys.ports import KeyRepo
from keyhold.domain.keys.rotation import Rotation
from keyhold.domain.keys.tags import Tags
from keyhold.domain.quotas import NO_QUOTAS, QuotaMeter


class KmsService:
    def __init__(
        self,
        repo: KeyRepo,
        root_key: RootKey,
        *,
        clock: Callable[[], float] = time.time,
        random: RandomSource = os.urandom,
        identity_policies: Callable[[Principal], Sequence[str]] = lambda _principal: (),
        quotas: QuotaMeter = NO_QUOTAS,
        on_event: Callable[[KeyEvent], None] = lambda _event: None,
    ) -> None:
        """``identity_policies`` gives the caller's IAM policy documents (none: only key policies decide);
        ``quotas`` the request quotas (none by default): the operations whose quota depends on their key charge it
        themselves, the protocol charges the others through ``self.quotas`` (see domain/quotas.py); ``on_event``
        hears what KMS does to keys on its own (deletions when due, automatic rotations, expired imported material).
        """
        self.quotas = quotas
        self.keyring = Keyring(repo, root_key, clock=clock, random=random, on_event=on_event)
        self.grants = Grants(self.keyring)
        self.authz = Authorizer(self.grants.for_key, identity_policies, clock)
        self.keys = Lifecycle(self.keyring, self.authz)
        self.aliases = Aliases(self.keyring, self.authz)
        self.crypto = CryptoOps(self.keyring, self.authz, quotas)
        self.asymmetric = AsymmetricOps(self.keyring, self.authz, quotas)
        self.macs = MacOps(self.keyring, self.authz, quotas)
        self.rotation = Rotation(self.keyring, self.authz)
        self.policies = Policies(self.keyring, self.authz)
        self.tags = Tags(self.keyring, self.authz)
        self.imports = Imports(self.keyring, self.authz, root_key)

    def invalidate(self) -> None:
        """Another process changed KMS data: forget cached keys, materials, aliases and grants."""
        self.keyring.invalidate()
        self.grants.invalidate()

    def run_due_jobs(self) -> tuple[int, int]:
        """Deletions, expiry of imported material and automatic rotations whose time has come: (deleted, rotated).

        (Keys whose imported material expired are counted by ``imports.expire_due`` alone.)"""
        deleted = self.keys.purge_due()
        self.imports.expire_due()
        return deleted, self.rotation.rotate_due()
