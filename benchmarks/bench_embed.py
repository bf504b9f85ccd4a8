"""Embedding throughput: trendml's path vs raw ``SentenceTransformer.encode``, and the cache.

Same texts, same process, alternating runs; reports ratios (goal: trendml/raw >= 0.9).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from trendml.datasets import load_davidson
from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
from trendml.embed.base import embed_items
from trendml.items import Item

N_TEXTS = 2000
REPEATS = 3
REPEAT_SHARE = 0.30


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run() -> str:
    df = load_davidson().drop_duplicates("text")
    rng = np.random.default_rng(0)
    rows = df.iloc[rng.choice(len(df), size=N_TEXTS, replace=False)]
    items = [Item(id=str(i), text=t) for i, t in zip(rows["id"], rows["text"], strict=True)]
    contents = [it.content for it in items]
    embedder = SentenceTransformerEmbedder()
    model = embedder.model
    model.encode(contents[:128], batch_size=embedder.batch_size)  # warm-up

    def raw() -> np.ndarray:
        return model.encode(contents, batch_size=embedder.batch_size, normalize_embeddings=True)

    raw_times, ours_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(REPEATS):
            raw_times.append(_timed(raw))
            cached = CachedEmbedder(
                embedder, EmbeddingCache(Path(tmp) / f"cold{r}.db")
            )  # cold cache each time
            ours_times.append(_timed(lambda c=cached: embed_items(items, c)))
        raw_s, ours_s = statistics.median(raw_times), statistics.median(ours_times)

        # A stream where 30% of items repeat earlier content (abuse waves): cold cache, then warm.
        n_unique = int(N_TEXTS * (1 - REPEAT_SHARE))
        uniq = items[:n_unique]
        repeats = [uniq[i] for i in rng.integers(0, n_unique, size=N_TEXTS - n_unique)]
        stream = [Item(id=f"s{k}", text=it.text) for k, it in enumerate(uniq + repeats)]
        stream_texts = [it.content for it in stream]
        no_cache_s = _timed(
            lambda: model.encode(stream_texts, batch_size=embedder.batch_size, normalize_embeddings=True)
        )
        cached = CachedEmbedder(embedder, EmbeddingCache(Path(tmp) / "stream.db"))
        cold_s = _timed(lambda: embed_items(stream, cached))
        warm_s = _timed(lambda: embed_items(stream, cached))

    return f"""## Embedding (`python -m benchmarks embed`)

{N_TEXTS} distinct Davidson texts, all-MiniLM-L6-v2 on the CPU, batch size {embedder.batch_size}, median of {REPEATS} alternating runs.

| path | seconds | texts/s | ratio vs raw |
|---|---:|---:|---:|
| raw `SentenceTransformer.encode` | {raw_s:.2f} | {N_TEXTS / raw_s:.0f} | 1.00 |
| trendml `embed_items` (normalise + hash + cold SQLite cache) | {ours_s:.2f} | {N_TEXTS / ours_s:.0f} | **{raw_s / ours_s:.2f}** (goal >= 0.9) |

Stream of {N_TEXTS} items in which {REPEAT_SHARE:.0%} repeat earlier content:

| path | seconds | speed-up vs no cache |
|---|---:|---:|
| raw encode, no cache | {no_cache_s:.2f} | 1.00 |
| trendml, cold cache (repeats inside the stream embedded once) | {cold_s:.2f} | **{no_cache_s / cold_s:.2f}x** |
| trendml, warm cache (same stream again) | {warm_s:.3f} | **{no_cache_s / warm_s:.0f}x** |
"""
