"""A store per test on SQLite (tmp) and PostgreSQL (``TRENDML_TEST_POSTGRES_URL``, emptied)."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("TRENDML_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'trendml.db'}"
    if not PG_URL:
        pytest.skip("TRENDML_TEST_POSTGRES_URL is not set")
    from tests.service.harness import empty_postgres

    return empty_postgres(PG_URL)


@pytest.fixture
def store(store_url):
    """``(engine, Session)`` on an empty application schema."""
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker

    engine = make_engine(store_url)
    create_all(engine)
    yield engine, make_sessionmaker(engine)
    engine.dispose()
