"""Declarative base and engine factory shared by every table module."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every trendml table."""


def make_engine(url: str) -> Engine:
    """Engine for ``url``. SQLite gets WAL, ``synchronous=FULL`` (nothing acknowledged is lost
    if the process is killed), foreign keys and a busy timeout."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def import_table_modules() -> None:
    """Import every table module of ``trendml.store`` (each declares its tables on :class:`Base`)."""
    import importlib
    import pkgutil

    import trendml.store as store_pkg

    for mod in pkgutil.iter_modules(store_pkg.__path__):
        if mod.name != "base":
            importlib.import_module(f"{store_pkg.__name__}.{mod.name}")


def create_all(engine: Engine, tables: Iterable[Table]) -> None:
    """Create ``tables`` where missing and add the nullable columns they gained (idempotent). The
    caller names the tables: :func:`trendml.schema.create_all` passes the store's and the trend
    state's, so the store never imports the trend engine."""
    tables = list(tables)
    Base.metadata.create_all(engine, tables=tables)
    add_missing_columns(engine, tables)


def add_missing_columns(engine: Engine, tables: Iterable[Table] | None = None) -> list[str]:
    """Add the nullable columns a newer trendml declares to tables an older one created (the only
    schema change made in place; e.g. ``score_audit.trend_status``). Returns ``table.column`` added."""
    from sqlalchemy import inspect, text

    insp = inspect(engine)
    added: list[str] = []
    for table in Base.metadata.sorted_tables if tables is None else tables:
        if not insp.has_table(table.name):
            continue
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have or not col.nullable or col.primary_key:
                continue
            ddl = f"ALTER TABLE {table.name} ADD COLUMN {col.name} {col.type.compile(dialect=engine.dialect)}"
            try:
                with engine.begin() as conn:
                    conn.execute(text(ddl))
                added.append(f"{table.name}.{col.name}")
                logger.info("added column %s.%s to an existing database", table.name, col.name)
            except Exception:  # noqa: BLE001 - another process added it first
                logger.debug("column %s.%s not added (already there?)", table.name, col.name)
    return added


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
