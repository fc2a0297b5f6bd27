"""Opening the metadata database: SQLite (embedded default, WAL) or PostgreSQL (multi-node), one schema."""

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.pool import ConnectionPoolEntry

from keyhold.storage.sql.schema import generations, metadata

CACHE_DOMAINS = ("kms", "identity")


def engine_url(url: str) -> str:
    """Accept the URLs users write (postgresql://...) and pick the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: object, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so an acknowledged write survives a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(url: str, *, pool_size: int = 8) -> Engine:
    url = engine_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=pool_size, max_overflow=16, pool_pre_ping=False)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=16, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create missing tables and change counters. Runs once, in the parent process, before workers start."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        present = set(conn.scalars(select(generations.c.name)))
        missing = [{"name": name, "value": 0} for name in CACHE_DOMAINS if name not in present]
        if missing:
            conn.execute(insert(generations), missing)


def bump_generations(conn: Connection, names: Iterable[str]) -> None:
    """Mark caches of these domains stale, inside the caller's write transaction."""
    for name in names:
        conn.execute(update(generations).where(generations.c.name == name).values(value=generations.c.value + 1))


def read_generations(conn: Connection) -> dict[str, int]:
    return {row.name: row.value for row in conn.execute(select(generations.c.name, generations.c.value))}
