"""A read-through cache that a stale loader cannot repopulate after an invalidation.

Worker processes share one database; each keeps hot rows in memory. When another process changes them, the
composition root calls ``invalidate()`` (see storage/sql/changes.py). A loader that started before the
invalidation may return an old row after it; the epoch check drops that row instead of caching it.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Cache(Generic[K, V]):
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: dict[K, V] = {}
        self._epoch = 0
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """The cached value, or load(key) (None results are not cached)."""
        try:
            return self._entries[key]
        except KeyError:
            pass
        epoch = self._epoch
        value = load(key)
        if value is not None:
            with self._lock:
                if epoch == self._epoch:
                    if len(self._entries) >= self._max_entries:
                        self._entries.clear()
                    self._entries[key] = value
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries = {}
