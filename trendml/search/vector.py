"""The semantic index: hnswlib (cosine, HNSW graph) on disk under ``TRENDML_HOME/search/``.

Files: ``items.hnsw`` (the graph), ``items.ids.json`` (label -> item id, the embedder id, the
dimension), both replaced atomically (write then rename), so a reader never loads half a file.
:meth:`VectorIndex.sync` keeps it in step with the store: items stored since the last sync are added
with their vector from the embedding cache (content hash -> vector; items not embedded yet wait for
the next sync, nothing is embedded here), items no longer stored are marked deleted (an erased item
never comes back as a neighbour). The same files serve SQLite and PostgreSQL deployments: the index
holds vectors and item ids only; filters and texts come from the database.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from trendml.errors import StateError

logger = logging.getLogger(__name__)

M, EF_CONSTRUCTION, EF_SEARCH = 16, 200, 128


class VectorIndex:
    def __init__(self, directory: str | Path, *, dim: int = 384, model: str = "") -> None:
        self.dir = Path(directory)
        self.dim = dim
        self.model = model
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.deleted: set[int] = set()
        self.hashes: dict[int, str] = {}  # label -> content hash it was indexed with
        self._index = None
        self._mtime: float | None = None

    @property
    def graph_path(self) -> Path:
        return self.dir / "items.hnsw"

    @property
    def meta_path(self) -> Path:
        return self.dir / "items.ids.json"

    def __len__(self) -> int:
        return len(self.ids) - len(self.deleted)

    # ----------------------------------------------------------------------------- files
    def _new(self, capacity: int):  # noqa: ANN202
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=self.dim)
        index.init_index(
            max_elements=max(capacity, 1024),
            ef_construction=EF_CONSTRUCTION,
            M=M,
            allow_replace_deleted=False,
        )
        index.set_ef(EF_SEARCH)
        return index

    def load(self) -> VectorIndex:
        """Read the files when they changed since the last load (cheap when they did not)."""
        import hnswlib

        if not self.meta_path.exists() or not self.graph_path.exists():
            return self
        mtime = self.meta_path.stat().st_mtime
        if self._mtime == mtime and self._index is not None:
            return self
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if self.model and meta.get("model") not in ("", self.model):
                logger.info("search index was built for %s; rebuilding for %s", meta.get("model"), self.model)
                self.ids, self.pos, self.deleted, self._index = [], {}, set(), None
                return self
            index = hnswlib.Index(space="cosine", dim=int(meta["dim"]))
            index.load_index(str(self.graph_path), max_elements=max(len(meta["ids"]), 1024))
            index.set_ef(EF_SEARCH)
        except Exception as exc:  # noqa: BLE001 - a damaged index is rebuilt, never fatal
            logger.warning(
                "search index in %s unreadable (%s); it will be rebuilt", self.dir, type(exc).__name__
            )
            self.ids, self.pos, self.deleted, self._index = [], {}, set(), None
            return self
        self.dim = int(meta["dim"])
        self.ids = [str(i) for i in meta["ids"]]
        self.pos = {i: k for k, i in enumerate(self.ids)}
        self.deleted = {int(k) for k in meta.get("deleted", [])}
        self.hashes = {k: str(h) for k, h in enumerate(meta.get("hashes") or []) if h}
        self._index = index
        self._mtime = mtime
        return self

    def save(self) -> None:
        if self._index is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp_graph = self.graph_path.with_suffix(".hnsw.tmp")
        tmp_meta = self.meta_path.with_suffix(".json.tmp")
        self._index.save_index(str(tmp_graph))
        tmp_meta.write_text(
            json.dumps(
                {
                    "model": self.model,
                    "dim": self.dim,
                    "ids": self.ids,
                    "deleted": sorted(self.deleted),
                    "hashes": [self.hashes.get(k, "") for k in range(len(self.ids))],
                }
            ),
            encoding="utf-8",
        )
        os.replace(tmp_graph, self.graph_path)
        os.replace(tmp_meta, self.meta_path)
        self._mtime = self.meta_path.stat().st_mtime

    # ----------------------------------------------------------------------------- updates
    def add(self, ids: Sequence[str], vectors: np.ndarray, hashes: Sequence[str] | None = None) -> int:
        """Add items (ids already indexed are skipped); returns how many were added."""
        hash_of = dict(zip(ids, hashes, strict=True)) if hashes is not None else {}
        new = [(i, v) for i, v in zip(ids, vectors, strict=True) if i not in self.pos]
        if not new:
            return 0
        vecs = np.asarray([v for _, v in new], dtype=np.float32)
        if vecs.shape[1] != self.dim:
            if self.ids:
                raise StateError(
                    f"search index holds {self.dim}-d vectors, got {vecs.shape[1]}-d; expected one embedder; "
                    f"delete {self.dir} to rebuild it"
                )
            self.dim = int(vecs.shape[1])
        if self._index is None:
            self._index = self._new(len(new) * 2)
        need = len(self.ids) + len(new)
        if need > self._index.get_max_elements():
            self._index.resize_index(max(need, int(self._index.get_max_elements() * 1.5)))
        labels = np.arange(len(self.ids), need)
        self._index.add_items(vecs, labels)
        for (i, _), lab in zip(new, labels, strict=True):
            self.ids.append(i)
            self.pos[i] = int(lab)
            if i in hash_of:
                self.hashes[int(lab)] = hash_of[i]
        return len(new)

    def remove(self, ids: Sequence[str]) -> int:
        n = 0
        for i in ids:
            lab = self.pos.get(i)
            if lab is not None and lab not in self.deleted:
                self._index.mark_deleted(lab)
                self.deleted.add(lab)
                n += 1
        return n

    def sync(
        self, stored: Sequence[tuple[str, str]], vectors_for: Callable[[list[str]], dict[str, np.ndarray]]
    ) -> dict[str, int]:
        """Bring the index in step with ``stored`` (``(item id, content hash)`` of every stored item):
        add the new ones whose vector ``vectors_for(hashes)`` knows, mark the gone ones deleted, save
        when anything changed. Returns ``{"added", "removed", "waiting"}``."""
        self.load()
        live = {i for i, _ in stored}
        gone = [i for i, lab in self.pos.items() if i not in live and lab not in self.deleted]
        # an item whose content changed in place (an erasure that blanks the text) leaves with its old
        # vector and comes back with the new content's, if the cache has one
        changed = [
            i
            for i, h in stored
            if i in self.pos and self.pos[i] not in self.deleted and self.hashes.get(self.pos[i], h) != h
        ]
        self.remove(changed)
        todo = [(i, h) for i, h in stored if i not in self.pos or self.pos[i] in self.deleted]
        # an id erased and stored again gets a fresh label: drop the old one from the map
        for i, _ in todo:
            if i in self.pos:
                self.pos.pop(i)
        found = vectors_for([h for _, h in todo]) if todo else {}
        ready = [(i, h, found[h]) for i, h in todo if h in found]
        added = (
            self.add([i for i, _, _ in ready], np.asarray([v for _, _, v in ready]), [h for _, h, _ in ready])
            if ready
            else 0
        )
        removed = self.remove(gone) + len(changed)
        if added or removed:
            self.save()
        return {"added": added, "removed": removed, "waiting": len(todo) - len(ready)}

    # ----------------------------------------------------------------------------- queries
    def vector_of(self, item_id: str) -> np.ndarray | None:
        lab = self.pos.get(item_id)
        if lab is None or lab in self.deleted or self._index is None:
            return None
        return np.asarray(self._index.get_items([lab])[0], dtype=np.float32)

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """``(item id, cosine similarity)`` of the ``k`` nearest live items, nearest first."""
        if self._index is None or len(self) == 0:
            return []
        k = min(k, len(self))
        labels, dist = self._index.knn_query(np.asarray(vector, dtype=np.float32).reshape(1, -1), k=k)
        return [(self.ids[int(lab)], float(1.0 - d)) for lab, d in zip(labels[0], dist[0], strict=True)]


def forget_ids(directory: str | Path, ids: Sequence[str]) -> int:
    """Mark ``ids`` deleted in the index files under ``directory`` (when there are any) and save;
    returns how many were there. Erasure calls it so an erased item leaves semantic search at once,
    not at the index's next sync. hnswlib keeps a deleted element's vector in the graph file until
    the index is rebuilt (docs/items.md)."""
    index = VectorIndex(directory).load()
    removed = index.remove(ids)
    if removed:
        index.save()
    return removed

