"""The Keyhold-owned key behind SSE-S3: customers never see it, and it rotates.

Each generation is 256 random bits wrapped by the root key and stored in the metadata database. New objects are
sealed under the newest generation; a new generation is made when the newest is older than the rotation period,
or when this process has sealed ``max_seals`` data keys under it. Seals use random 96-bit nonces, which NIST
SP 800-38D allows 2^32 times per key: with at most 2^26 seals per process and generation, up to 64 processes
sealing under one generation stay within that, whatever the write rate. Older generations stay, because objects
sealed under them name them (``Envelope.s3_key_id``).
"""

import threading
import time
import uuid
from collections.abc import Callable

from keyhold.crypto.keywrap import RootKey
from keyhold.crypto.object_keys import DataKeySealer, new_data_key
from keyhold.crypto.rand import RandomSource, system_random
from keyhold.domain.objects.model import SseS3Key
from keyhold.domain.objects.ports import ObjectRepo

ROTATION_SECONDS = 90 * 86400
MAX_SEALS = 1 << 26  # per process and generation
_PURPOSE = b"sse-s3-key"


class SseS3Keyring:
    def __init__(
        self,
        repo: ObjectRepo,
        root_key: RootKey,
        *,
        clock: Callable[[], float] = time.time,
        random: RandomSource = system_random,
        rotation_seconds: float = ROTATION_SECONDS,
        max_seals: int = MAX_SEALS,
    ) -> None:
        self._repo = repo
        self._root_key = root_key
        self._clock = clock
        self._random = random
        self._rotation_seconds = rotation_seconds
        self._max_seals = max_seals
        self._seals = 0  # sealed by this process under the newest generation
        self._sealers: dict[str, DataKeySealer] = {}
        self._newest: SseS3Key | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[str, DataKeySealer]:
        """The generation to seal one new data key under: the newest, unless it is due for rotation (by age, or by
        this process's seal count), in which case a new one is made first."""
        with self._lock:
            newest = self._newest
            if newest is None or self._due(newest):
                self._load()
                newest = self._newest
                if newest is None or self._due(newest):
                    newest = self._create()
            self._seals += 1
            return newest.key_id, self._sealers[newest.key_id]

    def _due(self, key: SseS3Key) -> bool:
        return self._clock() - key.created_at >= self._rotation_seconds or self._seals >= self._max_seals

    def get(self, key_id: str) -> DataKeySealer:
        """The generation an object names; KeyError if there is no such generation."""
        with self._lock:
            sealer = self._sealers.get(key_id)
            if sealer is None:
                self._load()
                sealer = self._sealers[key_id]
            return sealer

    def _load(self) -> None:
        for key in self._repo.sse_s3_keys():
            if key.key_id not in self._sealers:
                material = self._root_key.unwrap(key.wrapped, _PURPOSE, key.key_id.encode())
                self._sealers[key.key_id] = DataKeySealer(material, random=self._random)
            if self._newest is None or key.created_at > self._newest.created_at:  # strictly newer: never back
                self._seals = 0
                self._newest = key

    def _create(self) -> SseS3Key:
        key_id = str(uuid.uuid4())
        material = new_data_key(self._random)
        key = SseS3Key(key_id, self._clock(), self._root_key.wrap(material, _PURPOSE, key_id.encode()))
        self._repo.add_sse_s3_key(key)
        self._sealers[key_id] = DataKeySealer(material, random=self._random)
        self._newest = key
        self._seals = 0
        return key
