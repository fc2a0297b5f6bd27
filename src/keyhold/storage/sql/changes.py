"""Cross-process cache invalidation through the change counters in the ``generations`` table.

Every worker polls the counters once per request on a connection of its own (one indexed read of a few rows);
when a counter moved since the last poll, the caches subscribed to that domain are dropped. A write in any process
therefore takes effect in every process from the next request on.
"""

import threading
from collections.abc import Callable

from sqlalchemy import Engine

_QUERY = "SELECT name, value FROM generations"


class ChangeFeed:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._seen: dict[str, int] = {}
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, domain: str, listener: Callable[[], None]) -> None:
        self._listeners.setdefault(domain, []).append(listener)

    def poll(self) -> None:
        current = self._read()
        with self._lock:
            changed = [name for name, value in current.items() if self._seen.get(name) != value]
            self._seen.update(current)
        for name in changed:
            for listener in self._listeners.get(name, ()):
                listener()

    def close(self) -> None:
        """Close this thread's polling connection (each thread's closes when the thread's state is freed)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def _read(self) -> dict[str, int]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._engine.raw_connection()
            self._local.conn = conn
        try:
            cursor = conn.cursor()
            cursor.execute(_QUERY)
            rows = cursor.fetchall()
            cursor.close()
            conn.commit()  # end the read transaction: the next poll must see newer commits
        except Exception:
            self._local.conn = None
            conn.close()
            raise
        return {name: int(value) for name, value in rows}
