"""Content-hash embedding cache.

Abuse waves repeat the same content many times; each distinct normalised text is embedded
once per embedder. Vectors live in a SQLite file keyed by (embedder id, SHA-256 of the
normalised text). We use the standard library's ``sqlite3`` here rather than SQLAlchemy: the
cache is a local key/blob store private to one machine, not part of the application schema.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trendml.embed.base import Embedder, embedder_id
from trendml.errors import StateError
from trendml.text import content_hash

logger = logging.getLogger(__name__)

_CHUNK = 500  # keys per SELECT ... IN (...)


class EmbeddingCache:
    """SQLite-backed map ``(embedder id, content hash) -> float32 vector``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " model TEXT NOT NULL, hash TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, hash))"
            )
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"embedding cache {self.path} is unreadable ({exc}); expected a SQLite file; "
                "delete it (it is rebuilt on demand)"
            ) from None

    def get_many(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT hash, dim, vector FROM embeddings WHERE model = ? AND hash IN ({marks})",
                [model, *chunk],
            )
            for h, dim, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == dim:
                    found[h] = vec
        return found

    def put_many(self, model: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (model, h, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for h, v in zip(hashes, vectors, strict=True)
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def delete_hashes(self, hashes: Sequence[str]) -> int:
        """Remove the vectors of these content hashes, for every embedder (erasure); returns the rows
        removed."""
        removed = 0
        unique = list(dict.fromkeys(hashes))
        with self._conn:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                cur = self._conn.execute(f"DELETE FROM embeddings WHERE hash IN ({marks})", chunk)
                removed += cur.rowcount
        return removed

    def count(self, model: str | None = None) -> int:
        if model is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
        return int(
            self._conn.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0]
        )

    def close(self) -> None:
        self._conn.close()


class CachedEmbedder:
    """Wraps an :class:`Embedder`: identical texts are embedded once, ever, per embedder.

    Duplicates inside one call are embedded once too. ``hits``/``misses`` count texts.
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def version(self) -> str:
        return self.embedder.version

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return self.embedder.encode([], show_progress=False)
        model = embedder_id(self.embedder)
        hashes = [content_hash(t) for t in texts]
        found = self.cache.get_many(model, hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found and h not in missing:
                missing[h] = t
        if missing:
            new = self.embedder.encode(list(missing.values()), show_progress=show_progress)
            self.cache.put_many(model, list(missing), new)
            found.update(zip(missing, new, strict=True))
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        logger.debug(
            "embedded %d texts: %d from cache, %d new", len(texts), len(texts) - len(missing), len(missing)
        )
        return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)
