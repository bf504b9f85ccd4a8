"""A store per test on SQLite (tmp) and PostgreSQL (``TRENDML_TEST_POSTGRES_URL``, emptied): the
``store_url`` fixture of tests/conftest.py, with the application schema created."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(store_url):
    """``(engine, Session)`` on an empty application schema."""
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker

    engine = make_engine(store_url)
    create_all(engine)
    yield engine, make_sessionmaker(engine)
    engine.dispose()
