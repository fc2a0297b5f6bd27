"""The engine every storage contract test runs on: SQLite or PostgreSQL (see ``sql_url`` in tests/conftest.py)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from keyhold.storage.sql.db import open_engine


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    engine = open_engine(sql_url)
    yield engine
    engine.dispose()
