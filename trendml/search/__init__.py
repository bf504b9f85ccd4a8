"""Search over the stored items (issue 16; docs/search.md): keyword search in the database
(:mod:`.keyword`: SQLite FTS5, PostgreSQL full-text, else a LIKE scan) and semantic nearest
neighbours from an hnswlib index on disk kept in step with the embedding cache (:mod:`.vector`);
:class:`.searcher.Searcher` puts them together with the filters and the item -> trend map."""

from __future__ import annotations

from trendml.search.searcher import Searcher, SearchFilters

__all__ = ["SearchFilters", "Searcher"]
