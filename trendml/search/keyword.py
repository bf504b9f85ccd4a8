"""Keyword search in the database: which engine answers depends on the dialect.

- SQLite: an FTS5 table ``items_fts`` (its own copy of each item's text and caption, keyed by the
  item id), kept in step with ``items`` by triggers (insert, delete, update of the text), ranked by
  BM25. Created (and filled) on first use.
- PostgreSQL: ``to_tsvector('simple', text || ' ' || caption)`` with a GIN expression index, ranked
  by ``ts_rank``. Created on first use.
- Anything else: every word must occur (``LIKE``, case-insensitive), score 1.

Query words are the ``\\w+`` tokens of ``q`` (all must match); operators in ``q`` are not
interpreted, so no user input reaches a query language.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

FTS5, POSTGRES, LIKE = "sqlite-fts5", "postgresql-fulltext", "like"
_WORD = re.compile(r"\w+", re.UNICODE)
_PG_DOC = "to_tsvector('simple', coalesce(i.text, '') || ' ' || coalesce(i.caption, ''))"
_PG_INDEX_DOC = "to_tsvector('simple', coalesce(text, '') || ' ' || coalesce(caption, ''))"


def words(q: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(q or "")][:32]


def _sqlite_has_fts5(conn) -> bool:  # noqa: ANN001
    try:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp._fts5_probe USING fts5(x)")
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp._fts5_probe")
        return True
    except Exception:  # noqa: BLE001 - an SQLite built without FTS5
        return False


def ensure_keyword_index(engine: Engine) -> str:
    """Create the keyword index for the engine's dialect if missing; returns which one answers."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with engine.begin() as conn:
            if not _sqlite_has_fts5(conn):
                return LIKE
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items_fts'"
            ).first()
            if exists is None:
                conn.exec_driver_sql(
                    "CREATE VIRTUAL TABLE items_fts USING fts5(item_id UNINDEXED, text, caption, "
                    "tokenize = 'unicode61 remove_diacritics 2')"
                )
                conn.exec_driver_sql(
                    "INSERT INTO items_fts (item_id, text, caption) SELECT id, text, caption FROM items"
                )
            conn.exec_driver_sql(
                "CREATE TRIGGER IF NOT EXISTS items_fts_ai AFTER INSERT ON items BEGIN "
                "INSERT INTO items_fts (item_id, text, caption) VALUES (new.id, new.text, new.caption); END"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER IF NOT EXISTS items_fts_ad AFTER DELETE ON items BEGIN "
                "DELETE FROM items_fts WHERE item_id = old.id; END"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER IF NOT EXISTS items_fts_au AFTER UPDATE OF text, caption ON items BEGIN "
                "DELETE FROM items_fts WHERE item_id = old.id; "
                "INSERT INTO items_fts (item_id, text, caption) VALUES (new.id, new.text, new.caption); END"
            )
        return FTS5
    if dialect == "postgresql":
        with engine.begin() as conn:
            conn.execute(
                text(f"CREATE INDEX IF NOT EXISTS ix_items_fulltext ON items USING gin ({_PG_INDEX_DOC})")
            )
        return POSTGRES
    return LIKE


def match_clause(kind: str, q: str) -> tuple[str, str, str, dict]:
    """``(from/join sql, where sql, score expression, params)`` for the keyword match of ``q``
    over ``items i``."""
    ws = words(q)
    if kind == FTS5:
        fts_q = " ".join('"' + w.replace('"', '""') + '"' for w in ws)
        return (
            "items_fts f JOIN items i ON i.id = f.item_id",
            "items_fts MATCH :fts_q",
            "-bm25(items_fts)",
            {"fts_q": fts_q},
        )
    if kind == POSTGRES:
        return (
            "items i",
            f"{_PG_DOC} @@ plainto_tsquery('simple', :pg_q)",
            f"ts_rank({_PG_DOC}, plainto_tsquery('simple', :pg_q))",
            {"pg_q": " ".join(ws)},
        )
    params = {f"w{k}": f"%{w}%" for k, w in enumerate(ws)}
    where = " AND ".join(
        f"(lower(coalesce(i.text, '')) LIKE :w{k} OR lower(coalesce(i.caption, '')) LIKE :w{k})"
        for k in range(len(ws))
    )
    return "items i", where or "1 = 1", "1.0", params
