"""Search on 100k stored items (issue 16): keyword (SQLite FTS5; PostgreSQL full-text when
``TRENDML_BENCH_POSTGRES_URL`` is set) and semantic (hnswlib on disk), p50/p95 per query through
:class:`trendml.search.Searcher`, each against a baseline measured in the same run: the LIKE scan for
keyword search, exact brute-force cosine (numpy) for semantic search, with hnswlib's recall@20.

Synthetic from real, nothing embedded 100k times: the vectors are mixtures of real MiniLM vectors from
the embedding cache (``TRENDML_HOME/cache/embeddings.db``; when it holds fewer than 1000, 2000 Davidson
texts are embedded once into it) plus noise; the texts are 12 words drawn (Zipf) from the Davidson
vocabulary. No text is printed. Query texts for ``q=`` semantic search are embedded by the real model
(its cost is in the figure).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

N_ITEMS = int(os.environ.get("BENCH_SEARCH_N", 100_000))
N_QUERIES = 200
POOL_MIN = 1000
REGIONS = ["US", "GB", "DE", "FR", "IN", "BR", "NG", "CA", "AU", "ES"]


def _pool() -> np.ndarray:
    from trendml.config import Settings

    path = Settings.from_env().embedding_cache_path
    vecs: list[np.ndarray] = []
    if path.exists():
        conn = sqlite3.connect(path)
        for _dim, blob in conn.execute("SELECT dim, vector FROM embeddings WHERE dim = 384 LIMIT 5000"):
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        conn.close()
    if len(vecs) < POOL_MIN:
        from trendml.datasets import load_davidson
        from trendml.embed import embedder_from_settings

        texts = list(load_davidson().drop_duplicates("text")["text"].iloc[:2000])
        return np.asarray(embedder_from_settings(Settings.from_env()).encode(texts), dtype=np.float32)
    return np.stack(vecs)


def _vocab() -> list[str]:
    import re
    from collections import Counter

    from trendml.datasets import load_davidson

    counts = Counter(w for t in load_davidson()["text"] for w in re.findall(r"[a-z]{3,}", t.lower()))
    return [w for w, _ in counts.most_common(5000)]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _pcts(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _fill(engine, vocab: list[str], rng) -> tuple[list[str], dict[str, str]]:
    from trendml.store.items import StoredItem

    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    ids, hashes = [], {}
    rows = []
    words = rng.choice(len(vocab), size=(N_ITEMS, 12), p=zipf)
    for i in range(N_ITEMS):
        iid = f"b{i:06d}"
        h = hashlib.sha256(iid.encode()).hexdigest()
        ids.append(iid)
        hashes[iid] = h
        rows.append(
            {
                "id": iid,
                "text": " ".join(vocab[k] for k in words[i]),
                "created_at": t0 + timedelta(minutes=int(i * 43_200 / N_ITEMS) * 1),
                "region": REGIONS[i % len(REGIONS)],
                "content_hash": h,
                "received_at": t0,
                "severity": int(rng.integers(0, 4)),
            }
        )
    with engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            conn.execute(StoredItem.__table__.insert(), rows[k : k + 5000])
    return ids, hashes


def _keyword(engine, label: str, vocab: list[str], rng) -> list[dict]:
    from trendml.search import Searcher, SearchFilters
    from trendml.search.keyword import LIKE

    s = Searcher(engine, Path(tempfile.mkdtemp()) / "search")
    t0 = time.perf_counter()
    s.ensure()
    build_s = time.perf_counter() - t0
    queries = [
        " ".join(rng.choice(vocab[20:2000], size=int(rng.integers(1, 3)), replace=False))
        for _ in range(N_QUERIES)
    ]
    s.search(queries[0], limit=20)  # warm (trend map, statements)
    ms = []
    for q in queries:
        t = time.perf_counter()
        s.search(q, limit=20, filters=SearchFilters(region="US") if len(ms) % 4 == 3 else None)
        ms.append((time.perf_counter() - t) * 1000)
    base = Searcher(engine, Path(tempfile.mkdtemp()) / "search")
    base.keyword_engine = LIKE  # the fallback scan, same code path
    bms = []
    for q in queries[:20]:
        t = time.perf_counter()
        base.search(q, limit=20)
        bms.append((time.perf_counter() - t) * 1000)
    p50, p95 = _pcts(ms)
    b50, b95 = _pcts(bms)
    return [
        {
            "what": f"keyword, {s.keyword_engine} ({label})",
            "p50": p50,
            "p95": p95,
            "n": len(ms),
            "note": f"index built in {build_s:.1f}s",
        },
        {
            "what": f"keyword, LIKE scan baseline ({label})",
            "p50": b50,
            "p95": b95,
            "n": len(bms),
            "note": f"{b95 / p95:.0f}x slower at p95",
        },
    ]


def run() -> str:
    from trendml.schema import create_all
    from trendml.search import Searcher, SearchFilters
    from trendml.store.base import make_engine

    rng = np.random.default_rng(16)
    pool = _unit(_pool())
    vocab = _vocab()
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    engine = make_engine(f"sqlite:///{tmp / 'trendml.db'}")
    create_all(engine)
    ids, hashes = _fill(engine, vocab, rng)
    a = pool[rng.integers(0, len(pool), N_ITEMS)]
    b = pool[rng.integers(0, len(pool), N_ITEMS)]
    mix = rng.uniform(0.5, 1.0, size=(N_ITEMS, 1)).astype(np.float32)
    x = _unit(mix * a + (1 - mix) * b + rng.normal(scale=0.02, size=a.shape).astype(np.float32)).astype(
        np.float32
    )
    by_hash = {hashes[i]: x[k] for k, i in enumerate(ids)}
    rows = _keyword(engine, "SQLite", vocab, rng)

    import torch

    from trendml.embed import SentenceTransformerEmbedder

    torch.set_num_threads(1)  # as the service runs its embedder (TRENDML_TORCH_THREADS, default 1)
    model = SentenceTransformerEmbedder()
    s = Searcher(
        engine,
        tmp / "search",
        model="bench",
        vectors_for=lambda hs: {h: by_hash[h] for h in hs if h in by_hash},
        embed_query=lambda q: model.encode([q])[0],
        check_every_s=2.0,  # as the service
    )
    t0 = time.perf_counter()
    s.refresh_index()
    build_s = time.perf_counter() - t0
    size_mb = sum(f.stat().st_size for f in (tmp / "search").iterdir()) / 1e6
    probe = rng.choice(N_ITEMS, size=N_QUERIES, replace=False)
    ms, recall = [], []
    for k, p in enumerate(probe):
        t = time.perf_counter()
        out = s.search(
            None,
            mode="semantic",
            like=ids[p],
            limit=20,
            filters=SearchFilters(min_severity=1) if k % 4 == 3 else None,
        )
        ms.append((time.perf_counter() - t) * 1000)
        if k % 4 != 3:
            sims = x @ x[p]
            sims[p] = -2
            exact = set(np.asarray(ids)[np.argpartition(-sims, 20)[:20]])
            recall.append(len(exact & {i["id"] for i in out["items"]}) / 20)
    kms = []
    for p in probe[:50]:
        vec = s.index.vector_of(ids[p])
        t = time.perf_counter()
        s.index.query(vec, 21)
        kms.append((time.perf_counter() - t) * 1000)
    bms = []
    for p in probe[:50]:
        t = time.perf_counter()
        sims = x @ x[p]
        np.argpartition(-sims, 21)[:21]
        bms.append((time.perf_counter() - t) * 1000)
    model.encode(["warm up"])
    qms = []
    for _ in range(50):
        q = " ".join(rng.choice(vocab[:3000], size=8))
        t = time.perf_counter()
        s.search(q, mode="semantic", limit=20)
        qms.append((time.perf_counter() - t) * 1000)
    # incremental upkeep: 1000 new items
    with engine.begin() as conn:
        from trendml.store.items import StoredItem

        new = [
            {
                "id": f"n{i:05d}",
                "text": "fresh",
                "content_hash": f"n{i:05d}",
                "received_at": datetime.now(UTC),
                "created_at": datetime.now(UTC),
            }
            for i in range(1000)
        ]
        conn.execute(StoredItem.__table__.insert(), new)
    by_hash.update({f"n{i:05d}": _unit(rng.normal(size=384)).astype(np.float32) for i in range(1000)})
    t = time.perf_counter()
    upd = s.refresh_index(force=True)  # now, not at the next 2 s check
    upd_s = time.perf_counter() - t
    p50, p95 = _pcts(ms)
    b50, b95 = _pcts(bms)
    q50, q95 = _pcts(qms)
    k50, k95 = _pcts(kms)
    rows += [
        {
            "what": "semantic, hnswlib, like=ITEM (SQLite)",
            "p50": p50,
            "p95": p95,
            "n": len(ms),
            "note": f"recall@20 vs exact {np.mean(recall):.3f}; index {size_mb:.0f} MB, built in {build_s:.0f}s",
        },
        {
            "what": "semantic, hnswlib k-NN alone (k 21, no filters, no database)",
            "p50": k50,
            "p95": k95,
            "n": len(kms),
            "note": f"{b95 / max(k95, 1e-9):.0f}x faster than exact at p95",
        },
        {
            "what": "semantic, exact numpy cosine baseline (search only)",
            "p50": b50,
            "p95": b95,
            "n": len(bms),
            "note": "no filters, no database",
        },
        {
            "what": "semantic, hnswlib, q=TEXT (query embedded by MiniLM)",
            "p50": q50,
            "p95": q95,
            "n": len(qms),
            "note": f"+1000 items synced in {upd_s:.1f}s ({upd['added']} added)",
        },
    ]
    engine.dispose()
    pg = os.environ.get("TRENDML_BENCH_POSTGRES_URL")
    if pg:
        from sqlalchemy import text

        pengine = make_engine(pg)
        with pengine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        create_all(pengine)
        _fill(pengine, vocab, np.random.default_rng(16))
        rows += _keyword(pengine, "PostgreSQL", vocab, rng)
        pengine.dispose()
    lines = [
        "## Search (issue 16)\n",
        f"`python -m benchmarks search`: {N_ITEMS:,} stored items, {N_QUERIES} queries each unless noted, "
        "latency of `Searcher.search` (limit 20; every 4th query with a filter) in ms. Goal: p95 < 300 ms "
        "on 100k items on 2 cores. Vectors: real MiniLM vectors (embedding cache) mixed pairwise plus "
        "noise; texts: 12 Davidson-vocabulary words (Zipf). Measured on a shared 2-core machine.\n",
        "| query | p50 ms | p95 ms | n | note |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['what']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['n']} | {r['note']} |")
    return "\n".join(lines) + "\n"
