"""Assignment acceptance test (issue #12, item 3): do held-out members of a trend get its id, and do
unrelated items stay out? Also part of ``python -m benchmarks trends``; standalone:

    python -m benchmarks.experiments.trends_assign [--quantiles 0.95,0.99,1.0] [--per-window 500]

A Davidson-only trend state (4 daily windows of Davidson tweets) is built with ``TrendDetector``.
- *Held-out members*: the last window's clusters, 5-fold over each cluster's members: the regions
  are fitted without the fold (``trends.assign.fit_regions``) and the fold is predicted; the share
  that gets its own cluster's label.
- *Unrelated*: ToxiGen neutral statements, OLID ``NOT`` rows and short generic sentences
  (``tests/trends/data/generic_sentences.txt``), through ``trendml.trends.assign`` on the state;
  the share that gets any trend id. The same for the old rule (``hdbscan.approximate_predict`` of
  the window's clusterer, still in memory right after the fit) as a reference.
Prints numbers only, never texts.
"""

from __future__ import annotations

import argparse
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

GENERIC = Path(__file__).resolve().parents[2] / "tests" / "trends" / "data" / "generic_sentences.txt"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def generic_sentences() -> list[str]:
    return [ln.strip() for ln in GENERIC.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def unrelated_sets(n_olid: int = 600, n_toxigen: int = 400) -> dict[str, list[str]]:
    from trendml.config import Settings
    from trendml.datasets import load_olid, load_toxigen_seeds

    tox = load_toxigen_seeds()
    neutral = tox[tox["label"] == "neutral"].drop_duplicates("text")
    olid = load_olid(Settings.from_env().shared_data)
    olid_not = olid[olid["subtask_a"] == "NOT"]
    return {
        "toxigen neutral": neutral.sample(min(n_toxigen, len(neutral)), random_state=0)["text"].tolist(),
        "olid NOT": olid_not.sample(min(n_olid, len(olid_not)), random_state=0)["text"].tolist(),
        "generic sentences": generic_sentences(),
    }


def davidson_items(n_windows: int, per_window: int, seed: int = 0):
    from trendml.datasets import load_davidson
    from trendml.items import Item

    dav = load_davidson().sample(n_windows * per_window, random_state=seed)
    items = []
    for k, (i, text) in enumerate(zip(dav["id"], dav["text"], strict=True)):
        w, j = divmod(k, per_window)
        items.append(Item(id=str(i), text=str(text), created_at=T0 + timedelta(days=w, seconds=60 * j)))
    return items


def heldout_share(x: np.ndarray, labels: np.ndarray, params: Any, folds: int = 5) -> dict[str, float]:
    """5-fold over each cluster's members: share of held-out members that get their own cluster,
    over all members and over the core members (those the regions keep as exemplars)."""
    from trendml.trends.assign import _core, predict_regions

    rng = np.random.default_rng(0)
    fold = np.full(len(labels), -1)
    core = np.zeros(len(labels), dtype=bool)
    for c in sorted({int(v) for v in labels if v >= 0}):
        m = np.flatnonzero(labels == c)
        fold[m] = rng.permutation(len(m)) % folds
        core[m[_core(x[m], params.assign_core)]] = True
    hit = np.zeros(len(labels), dtype=bool)
    for f in range(folds):
        train = np.where(fold == f, -1, labels)
        regions = params.fit_regions(x, train)
        test = np.flatnonzero(fold == f)
        got, _ = predict_regions(regions, x[test])
        hit[test] = got == labels[test]
    members = labels >= 0
    return {
        "all": float(hit[members].mean()) if members.any() else float("nan"),
        "n_all": int(members.sum()),
        "core": float(hit[core].mean()) if core.any() else float("nan"),
        "n_core": int(core.sum()),
    }


def evaluate(
    embedder,
    quantiles=(0.99,),
    slack: float = 1.0,
    n_windows: int = 4,
    per_window: int = 500,
    cores=(0.35,),
    caps=(0.4,),
):
    from trendml.embed.base import embed_items
    from trendml.items import Item
    from trendml.trends import TrendDetector, TrendState, assign
    from trendml.trends.clustering import fit_window_model

    items = davidson_items(n_windows, per_window)
    x = embed_items(items, embedder)
    sets = unrelated_sets()
    ux = {k: embedder.encode(v) for k, v in sets.items()}
    rows = []
    settings = [(q, core, cap) for q in quantiles for core in cores for cap in caps]
    for q, core, cap in settings:
        det = TrendDetector(assign_quantile=q, assign_slack=slack, assign_core=core, assign_max_radius=cap)
        state = TrendState.in_memory()
        res = det.detect(items, x, state=state)
        params = det._cluster_params()
        held = {"all": 0.0, "n_all": 0, "core": 0.0, "n_core": 0}
        ws = []
        for w in range(n_windows):  # every window's clustering as the detector's fit makes it
            pos = np.arange(w * per_window, (w + 1) * per_window)
            model, labels, _ = fit_window_model(x[pos], params)
            h = heldout_share(x[pos], labels, params)
            for key in ("all", "core"):
                held[key] += h[key] * h["n_" + key]
                held["n_" + key] += h["n_" + key]
            ws.append(model)
        model = ws[-1]
        row = {
            "quantile": q,
            "slack": slack,
            "core": core,
            "cap": cap,
            "trends_last_window": len(res.windows[-1].trends),
            "heldout": held["all"] / max(held["n_all"], 1),
            "n_heldout": held["n_all"],
            "heldout_core": held["core"] / max(held["n_core"], 1),
            "n_heldout_core": held["n_core"],
        }
        for name, v in ux.items():
            got = assign([Item(id=f"u{k}", text=t) for k, t in enumerate(sets[name])], v, state)
            row[name] = sum(g is not None for g in got) / len(got)
            import hdbscan

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", module="hdbscan")  # its numeric warnings on tiny windows
                old, _ = hdbscan.approximate_predict(model.clusterer, model.transform(v))
            row[name + " (old rule)"] = float((np.asarray(old) >= 0).mean())
        rows.append(row)
    return rows, {k: len(v) for k, v in sets.items()}


def table(rows: list[dict[str, Any]], sizes: dict[str, int]) -> str:
    names = list(sizes)
    head = (
        "| quantile | core | cap | trends (last window) | held-out members get their trend: all / core | "
        + " | ".join(f"{n} (n={sizes[n]}) get a trend: new / old rule" for n in names)
        + " |"
    )
    lines = [head, "|" + "---|" * (5 + len(names))]
    for r in rows:
        cells = [f"{100 * r[n]:.1f}% / {100 * r[n + ' (old rule)']:.1f}%" for n in names]
        lines.append(
            f"| {r['quantile']} | {r['core']} | {r['cap']} | {r['trends_last_window']} | "
            f"{100 * r['heldout']:.1f}% (n={r['n_heldout']}) / {100 * r['heldout_core']:.1f}% "
            f"(n={r['n_heldout_core']}) | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    from benchmarks.bench_trends import make_cached_embedder

    ap = argparse.ArgumentParser()
    ap.add_argument("--quantiles", default="0.95,0.99")
    ap.add_argument("--cores", default="0.35,0.4,2")
    ap.add_argument("--caps", default="0.4,1")
    ap.add_argument("--slack", type=float, default=1.0)
    ap.add_argument("--per-window", type=int, default=500)
    a = ap.parse_args()
    rows, sizes = evaluate(
        make_cached_embedder(),
        [float(q) for q in a.quantiles.split(",")],
        a.slack,
        per_window=a.per_window,
        cores=[float(c) for c in a.cores.split(",")],
        caps=[float(c) for c in a.caps.split(",")],
    )
    print(table(rows, sizes))
