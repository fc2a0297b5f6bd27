"""KmsService: the KMS domain's one entry point, grouping its operations by area."""

import os
import time
from collections.abc import Callable

from keyhold.crypto.keywrap import RootKey
from keyhold.crypto.rand import RandomSource
from keyhold.domain.keys.aliases import Aliases
from keyhold.domain.keys.cryptoops import CryptoOps
from keyhold.domain.keys.keyring import Keyring
from keyhold.domain.keys.lifecycle import Lifecycle
from keyhold.domain.keys.policies import Policies
from keyhold.domain.keys.ports import KeyRepo
from keyhold.domain.keys.rotation import Rotation
from keyhold.domain.keys.tags import Tags


class KmsService:
    def __init__(
        self,
        repo: KeyRepo,
        root_key: RootKey,
        *,
        clock: Callable[[], float] = time.time,
        random: RandomSource = os.urandom,
    ) -> None:
        self.keyring = Keyring(repo, root_key, clock=clock, random=random)
        self.keys = Lifecycle(self.keyring)
        self.aliases = Aliases(self.keyring)
        self.crypto = CryptoOps(self.keyring)
        self.rotation = Rotation(self.keyring)
        self.policies = Policies(self.keyring)
        self.tags = Tags(self.keyring)

    def invalidate(self) -> None:
        """Another process changed KMS data: forget cached keys and materials."""
        self.keyring.invalidate()

    def run_due_jobs(self) -> tuple[int, int]:
        """Deletions and automatic rotations whose time has come: (deleted, rotated)."""
        return self.keys.purge_due(), self.rotation.rotate_due()
