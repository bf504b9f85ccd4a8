"""The application schema: every table of the one trendml database, created in one call.

The store's tables (``trendml/store/``) and the trend state's (``trendml/trends/state.py``) all sit
on :class:`trendml.store.base.Base`. This module sits above both, so ``store`` never imports the
trend engine (``store.base.create_all`` takes the tables it creates).
"""

from __future__ import annotations

from sqlalchemy import Engine, Table

from trendml.store.base import Base, import_table_modules
from trendml.store.base import create_all as _create_tables


def all_tables() -> list[Table]:
    """Every table of the application schema (store tables and trend-state tables)."""
    import_table_modules()
    import trendml.alerts.outbox  # noqa: F401 - declares the alert outbox tables on Base
    import trendml.curation  # noqa: F401 - declares the trend curation log on Base
    import trendml.trends.state  # noqa: F401 - declares the trend tables on Base

    return list(Base.metadata.sorted_tables)


def create_all(engine: Engine) -> None:
    """Create every table of the application schema (idempotent), adding nullable columns a newer
    trendml declares to tables an older one made."""
    _create_tables(engine, all_tables())
