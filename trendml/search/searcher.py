"""Search = the keyword index or the vector index, the filters, and the item -> trend map.

:class:`Searcher` holds what a process keeps between queries (the loaded vector index, the keyword
engine in use, the item -> trend map of the current trend-state generation); the service and the
dashboard each own one. Nothing is global.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, text

from trendml.errors import InputError
from trendml.search.keyword import ensure_keyword_index, match_clause, words
from trendml.search.vector import VectorIndex
from trendml.store.items import StoredItem

logger = logging.getLogger(__name__)

MODES = ("keyword", "semantic")
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class SearchFilters:
    since: datetime | None = None
    until: datetime | None = None
    region: str | None = None
    min_severity: int | None = None
    trend_id: str | None = None


class Searcher:
    def __init__(
        self,
        engine: Engine,
        index_dir: str | Path,
        *,
        model: str = "",
        vectors_for: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
        embed_query: Callable[[str], np.ndarray] | None = None,
        trend_redirects: Callable[[], dict[str, str]] | None = None,
        check_every_s: float = 0.0,
    ) -> None:
        self.engine = engine
        self.index = VectorIndex(index_dir, model=model)
        self.vectors_for = vectors_for
        self.embed_query = embed_query
        self.trend_redirects = trend_redirects
        self.keyword_engine: str | None = None
        self._fingerprint: Any = None
        self._trend_map: tuple[int, dict[str, str]] | None = None
        self._lock = threading.Lock()
        #: look at the items table for changes at most this often (0: before every semantic query)
        self.check_every_s = check_every_s
        self._checked_at: float | None = None

    # ----------------------------------------------------------------------------- upkeep
    def ensure(self) -> None:
        if self.keyword_engine is None:
            self.keyword_engine = ensure_keyword_index(self.engine)

    def refresh_index(self, *, force: bool = False) -> dict[str, int]:
        """Sync the vector index with the store when items were added or removed since the last sync
        (needs ``vectors_for``; a reader without it only reloads the files another process wrote)."""
        with self._lock:
            if self.vectors_for is None:
                self.index.load()
                return {"added": 0, "removed": 0, "waiting": 0}
            import time

            now = time.monotonic()
            if not force and self._checked_at is not None and now - self._checked_at < self.check_every_s:
                return {"added": 0, "removed": 0, "waiting": 0}
            self._checked_at = now
            with self.engine.connect() as conn:
                fp = tuple(conn.execute(text("SELECT count(*), max(received_at) FROM items")).one())
            if fp == self._fingerprint and not force:
                return {"added": 0, "removed": 0, "waiting": 0}
            with self.engine.connect() as conn:
                stored = [
                    (str(i), str(h)) for i, h in conn.execute(text("SELECT id, content_hash FROM items"))
                ]
            out = self.index.sync(stored, self.vectors_for)
            if out["waiting"] == 0:
                self._fingerprint = fp  # items still waiting for a vector: look again next time
            if out["added"] or out["removed"]:
                logger.info("search index: %s", out)
            return out

    def trend_map(self) -> dict[str, str]:
        """Item id -> trend id (the latest trend it was a member of; merged trends -> survivor),
        cached per generation of the trend state."""
        from trendml.trends.queries import item_trends
        from trendml.trends.state import consistent_read, read_generation

        gen = read_generation(self.engine)
        if self._trend_map is not None and self._trend_map[0] == gen:
            return self._trend_map[1]

        def read() -> dict[str, str]:
            from sqlalchemy.orm import Session

            with Session(self.engine) as s:
                return item_trends(s)[0]

        mapping, gen = consistent_read(self.engine, read)
        if self.trend_redirects is not None:
            redirects = self.trend_redirects()
        else:
            from trendml.curation import redirects as curated

            redirects = curated(self.engine)
        if redirects:
            mapping = {i: redirects.get(t, t) for i, t in mapping.items()}
        self._trend_map = (gen, mapping)
        return mapping

    # ----------------------------------------------------------------------------- queries
    def _filters(self, f: SearchFilters, ids_in: list[str] | None) -> tuple[list[str], dict[str, Any], list]:
        where: list[str] = []
        params: dict[str, Any] = {}
        binds: list = []
        col_type = StoredItem.__table__.c.created_at.type
        if f.since is not None:
            where.append("i.created_at >= :since")
            params["since"] = f.since
            binds.append(bindparam("since", type_=col_type))
        if f.until is not None:
            where.append("i.created_at < :until")
            params["until"] = f.until
            binds.append(bindparam("until", type_=col_type))
        if f.region is not None:
            where.append("i.region = :region")
            params["region"] = f.region
        if f.min_severity is not None:
            where.append("i.severity >= :min_sev")
            params["min_sev"] = f.min_severity
        if ids_in is not None:
            where.append("i.id IN :ids_in")
            params["ids_in"] = ids_in
            binds.append(bindparam("ids_in", expanding=True))
        return where, params, binds

    def search(
        self,
        q: str | None,
        *,
        mode: str = "keyword",
        filters: SearchFilters | None = None,
        limit: int = 20,
        like: str | None = None,
    ) -> dict[str, Any]:
        """``{"items": [{"id", "score", "severity", "trend_id", "created_at", "region"}], "total",
        "engine"}``; :class:`InputError` names the bad parameter."""
        f = filters or SearchFilters()
        if mode not in MODES:
            raise InputError(f'mode is "{mode}"; expected keyword or semantic', field="mode")
        self.ensure()
        tmap = self.trend_map()
        members: list[str] | None = None
        if f.trend_id is not None:
            members = [i for i, t in tmap.items() if t == f.trend_id]
            if not members:
                return {
                    "items": [],
                    "total": 0,
                    "engine": self.keyword_engine if mode == "keyword" else "hnswlib",
                }
        if mode == "keyword":
            if like is not None:
                raise InputError("like is for mode=semantic; expected q with mode=keyword", field="like")
            if not words(q or ""):
                raise InputError("q has no words; expected text to search for (e.g. q=refugees)", field="q")
            found, total = self._keyword(q or "", f, members, limit)
            engine_name = self.keyword_engine
        else:
            found, total = self._semantic(q, like, f, members, limit)
            engine_name = "hnswlib"
        items = [
            {
                "id": r["id"],
                "score": round(float(r["score"]), 6),
                "severity": r["severity"],
                "trend_id": tmap.get(r["id"]),
                "created_at": _iso(r["created_at"]),
                "region": r["region"],
            }
            for r in found
        ]
        return {"items": items, "total": int(total), "engine": engine_name}

    def _keyword(
        self, q: str, f: SearchFilters, members: list[str] | None, limit: int
    ) -> tuple[list[dict], int]:
        from_sql, match_sql, score_sql, params = match_clause(self.keyword_engine or "like", q)
        where, fparams, binds = self._filters(f, members)
        cond = " AND ".join([match_sql, *where])
        params = {**params, **fparams, "limit": limit}
        rows_sql = (
            text(
                f"SELECT i.id AS id, {score_sql} AS score, i.severity AS severity, "
                f"i.created_at AS created_at, i.region AS region FROM {from_sql} WHERE {cond} "
                "ORDER BY score DESC, i.id LIMIT :limit"
            )
            .bindparams(*binds)
            .columns(created_at=StoredItem.__table__.c.created_at.type)
        )
        count_sql = text(f"SELECT count(*) FROM {from_sql} WHERE {cond}").bindparams(*binds)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(rows_sql, params)]
            total = conn.execute(count_sql, {k: v for k, v in params.items() if k != "limit"}).scalar()
        return rows, int(total or 0)

    def _semantic(
        self, q: str | None, like: str | None, f: SearchFilters, members: list[str] | None, limit: int
    ) -> tuple[list[dict], int]:
        self.refresh_index()
        if like is not None:
            with self._lock:
                vec = self.index.vector_of(like)
            if vec is None:
                raise InputError(
                    f'like is "{like[:80]}"; expected the id of a stored, embedded item', field="like"
                )
        elif q and q.strip():
            if self.embed_query is None:
                raise InputError(
                    "semantic search by text needs the service's embedder; use like=ITEM_ID here", field="q"
                )
            vec = self.embed_query(q)
        else:
            raise InputError("q is empty; expected text (or like=ITEM_ID) for a semantic search", field="q")
        k = min(MAX_CANDIDATES, max(limit * 20, 200))
        with self._lock:  # hnswlib: no query while a sync adds to the graph
            hits = self.index.query(vec, k)
        if like is not None:
            hits = [(i, s) for i, s in hits if i != like]
        if members is not None:
            allowed = set(members)
            hits = [(i, s) for i, s in hits if i in allowed]
        if not hits:
            return [], 0
        sim = dict(hits)
        where, fparams, binds = self._filters(f, [i for i, _ in hits])
        sql = (
            text(
                "SELECT i.id AS id, i.severity AS severity, i.created_at AS created_at, i.region AS region "
                f"FROM items i WHERE {' AND '.join(where)}"
            )
            .bindparams(*binds)
            .columns(created_at=StoredItem.__table__.c.created_at.type)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sql, fparams)]
        for r in rows:
            r["score"] = sim[r["id"]]
        rows.sort(key=lambda r: (-r["score"], r["id"]))
        return rows[:limit], len(rows)


def _iso(dt: Any) -> str | None:
    if dt is None:
        return None
    if isinstance(dt, str):
        return dt
    from trendml.utc import aware

    return aware(dt).isoformat()
