"""The Keyhold-owned key behind SSE-S3: customers never see it, and it rotates.

Each generation is 256 random bits wrapped by the root key and stored in the metadata database. New objects are
sealed under the newest generation; a new generation is made when the newest is older than the rotation period.
Older generations stay, because objects sealed under them name them (``Envelope.s3_key_id``).
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
    ) -> None:
        self._repo = repo
        self._root_key = root_key
        self._clock = clock
        self._random = random
        self._rotation_seconds = rotation_seconds
        self._sealers: dict[str, DataKeySealer] = {}
        self._newest: SseS3Key | None = None
        self._lock = threading.Lock()

    def current(self) -> tuple[str, DataKeySealer]:
        """The newest generation (made first if there is none, or if the newest is due for rotation)."""
        with self._lock:
            newest = self._newest
            if newest is None or self._clock() - newest.created_at >= self._rotation_seconds:
                self._load()
                newest = self._newest
                if newest is None or self._clock() - newest.created_at >= self._rotation_seconds:
                    newest = self._create()
            return newest.key_id, self._sealers[newest.key_id]

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
            if self._newest is None or key.created_at >= self._newest.created_at:
                self._newest = key

    def _create(self) -> SseS3Key:
        key_id = str(uuid.uuid4())
        material = new_data_key(self._random)
        key = SseS3Key(key_id, self._clock(), self._root_key.wrap(material, _PURPOSE, key_id.encode()))
        self._repo.add_sse_s3_key(key)
        self._sealers[key_id] = DataKeySealer(material, random=self._random)
        self._newest = key
        return key
