"""Dashboard page load times with 10k stored items (goal: every page < 1 s on 2 cores).

Builds a real SQLite store: a 10-window demo stream of ~10k items (shipped data), severities
from the ground truth, trends detected by the real engine on real (cached) embeddings. Pages are
requested through the ASGI app in-process (no network), after one warm-up request each; the
baseline is the cheapest page (the sign-in form), so the ratio shows the cost of each page's data.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from service.dashboard import create_app
from trendml.config import Settings
from trendml.datasets import build_demo_stream
from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder, embed_items
from trendml.schema import create_all
from trendml.store.base import make_engine
from trendml.store.feedback import add_feedback
from trendml.store.items import add_items, count_items, record_scores
from trendml.store.keys import create_key
from trendml.store.qa import sample_for_review
from trendml.trends import TrendDetector
from trendml.trends.state import TrendState

REPEATS = 5


def _build(home: Path) -> tuple[Settings, str, int, str]:
    settings = Settings(home=home)
    settings.ensure_home()
    engine = make_engine(settings.db_url)
    create_all(engine)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    stream = build_demo_stream(n_windows=10, per_window=960, start_window=6, seed=0, start=start)
    embedder = CachedEmbedder(
        SentenceTransformerEmbedder(), EmbeddingCache(Settings.from_env().embedding_cache_path)
    )
    vectors = embed_items(stream.items, embedder)
    sev = np.array([stream.severity[it.id] for it in stream.items])
    with Session(engine) as s:
        add_items(s, stream.items)
        record_scores(
            s,
            [
                {
                    "id": it.id,
                    "severity": int(v),
                    "severity_probs": np.eye(4)[v].tolist(),
                    "model": {"version": "bench"},
                }
                for it, v in zip(stream.items, sev, strict=True)
            ],
        )
        s.commit()
        key, _ = create_key(s, "analyst", "bench")
        n = count_items(s)
    result = TrendDetector("1d").detect(
        stream.items, vectors, severity=np.eye(4)[sev], state=TrendState(engine)
    )
    trend_id = next(
        (t["trend_id"] for w in reversed(result.windows) for t in w.trends if t["emerging"]),
        result.windows[-1].trends[0]["trend_id"],
    )
    with Session(engine) as s:
        add_feedback(s, trend_id, "confirm", "bench", "bench")
        sample_for_review(s, 0.05, seed=0)
    return settings, key, n, trend_id


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        settings, key, n_items, trend_id = _build(Path(tmp) / "home")
        app = create_app(settings, root_path="")
        pages = {
            "sign-in form (baseline)": "/login",
            "trends": "/trends",
            "trends, filtered (status=growing, severity>=2)": "/trends?status=growing&severity=2",
            "trend detail": f"/trends/{trend_id}",
            "queue (first 100 by priority)": "/queue",
            "QA (5% sample pending)": "/qa",
        }
        rows = []
        with TestClient(app, base_url="http://testserver") as client:
            form = client.get("/login").text  # sign in as a browser does (server-side session)
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            signed = client.post(
                "/login",
                data={"key": key, "csrf": token},
                headers={"Origin": "http://testserver"},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.status_code
            for label, path in pages.items():
                assert client.get(path).status_code == 200, path
                times = []
                for _ in range(REPEATS):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200
                rows.append((label, statistics.median(times), max(times), len(r.content)))
    base = rows[0][1]
    table = "\n".join(
        f"| {label} | {med * 1000:.0f} | {worst * 1000:.0f} | {med / base:.1f} | {size / 1024:.0f} |"
        for label, med, worst, size in rows
    )
    worst_page = max(r[2] for r in rows)
    return f"""## Dashboard page loads (`python -m benchmarks dashboard`)

{n_items:,} stored items (10 daily windows of the demo stream), real trend state, in-process ASGI requests, median of {REPEATS} after a warm-up.

| page | median ms | worst ms | ratio vs sign-in page | KiB |
|---|---:|---:|---:|---:|
{table}

Slowest single load: **{worst_page * 1000:.0f} ms** (goal < 1000 ms).
"""
