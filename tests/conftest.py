"""Fixtures shared by every test: real Keyhold servers and a throwaway PostgreSQL database."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.server import KeyholdServer

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyholdServer]:
    """One server shared by the session's tests (each test makes its own keys)."""
    instance = KeyholdServer(tmp_path_factory.mktemp("shared") / "data").start()
    yield instance
    assert instance.stop() == 0, instance.log()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., KeyholdServer]]:
    """A factory for servers of a test's own (restarts, other settings); all stopped afterwards."""
    started: list[KeyholdServer] = []

    def make(name: str = "data", **kwargs: Any) -> KeyholdServer:
        instance = KeyholdServer(tmp_path / name, **kwargs).start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.stop()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server (started by `make test` if it was not running)."""
    name = f"keyhold_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create_database() -> str:
    name = f"keyhold_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (servers with their own root keys cannot share one)."""
    name = _create_database()
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _drop_database(name)


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test module's own."""
    name = _create_database()
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    _drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata database with the schema created and every table but the change counters empty:
    a fresh SQLite file, or the module's PostgreSQL database emptied."""
    from sqlalchemy import delete

    from keyhold.storage.sql.db import create_schema, open_engine
    from keyhold.storage.sql.schema import generations, metadata

    url = f"sqlite:///{tmp_path / 'keyhold.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("module_pg_url")
    engine = open_engine(url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table is not generations:
                    conn.execute(delete(table))
    finally:
        engine.dispose()
    return url
