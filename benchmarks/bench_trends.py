"""Trend-detection benchmark: planted-campaign streams, the detector vs a BERTopic baseline.

``python -m benchmarks trends`` (full run, recorded in RESULTS.md) or
``python -m benchmarks.bench_trends --quick`` (2 seeds, 3 scenarios, no 100k run; for iterating).

Streams: a stationary background (~500 items per daily window, i.i.d. over Davidson, OLID,
HatEval and the ToxiGen seeds) plus a campaign that starts at window 6 of 10 and grows
(20, 40, 60, 80 items). Scenario 1: each ToxiGen target group with >= 20 hateful statements,
held out of the background and injected. Scenario 2: HatEval aggressive individual-directed
hate (HS=1, TR=1, AG=1), held out and injected. Embeddings come from the shared content-hash
cache (``TRENDML_HOME/cache/embeddings.db``).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

N_WINDOWS = 10
PER_WINDOW = 500
START = 6
SEEDS = (0, 1, 2, 3, 4)
MIN_GROUP_HATE = 20


@dataclass
class Scenario:
    name: str
    background: pd.DataFrame
    campaign: pd.DataFrame


def load_scenarios() -> list[Scenario]:
    from trendml.config import Settings
    from trendml.datasets import load_davidson, load_hateval, load_olid, load_toxigen_seeds

    shared = Settings.from_env().shared_data
    dav, olid, hat, tox = load_davidson(), load_olid(shared), load_hateval(shared), load_toxigen_seeds()
    cols = ["id", "text", "severity"]
    out: list[Scenario] = []
    hate = tox[tox["severity"] >= 2]
    counts = hate.drop_duplicates(["target_group", "text"])["target_group"].value_counts()
    for group in sorted(g for g, c in counts.items() if c >= MIN_GROUP_HATE):
        camp = hate[hate["target_group"] == group].drop_duplicates("text")
        held = set(tox.loc[tox["target_group"] == group, "text"])
        bg = pd.concat(
            [dav[cols], olid[cols], hat[cols], tox[~tox["text"].isin(held)].drop_duplicates("text")[cols]]
        )
        out.append(Scenario(f"toxigen:{group}", bg.reset_index(drop=True), camp[cols].reset_index(drop=True)))
    aggr = (hat["HS"] == 1) & (hat["TR"] == 1) & (hat["AG"] == 1)
    camp = hat[aggr].drop_duplicates("text")
    held = set(camp["text"])
    bg = pd.concat(
        [dav[cols], olid[cols], hat[~hat["text"].isin(held)][cols], tox.drop_duplicates("text")[cols]]
    )
    out.append(
        Scenario(
            "hateval:aggressive-individual", bg.reset_index(drop=True), camp[cols].reset_index(drop=True)
        )
    )
    return out


def build_stream(sc: Scenario, seed: int):
    from trendml.datasets import plant_campaign

    return plant_campaign(
        sc.background,
        sc.campaign,
        n_windows=N_WINDOWS,
        per_window=PER_WINDOW,
        start_window=START,
        seed=seed,
        prefix=f"b{seed}",
        description=sc.name,
    )


def make_cached_embedder():
    from trendml.config import Settings
    from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder

    cfg = Settings.from_env()
    return CachedEmbedder(SentenceTransformerEmbedder(), EmbeddingCache(cfg.embedding_cache_path))


# ---------------------------------------------------------------------------------- scoring
@dataclass
class StreamScore:
    detected: bool = False
    delay: int | None = None
    purity: float | None = None
    coverage: float | None = None
    false_alarms: int = 0
    stationary_windows: int = 0
    other_alarms_after: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def score_flags(flags: list[list[set[str]]], stream, *, min_purity: float = 0.5) -> StreamScore:
    """``flags[w]`` = member-id sets of the trends flagged emerging in window ``w``."""
    sc = StreamScore()
    camp = stream.campaign_ids
    camp_by_w = [set() for _ in range(stream.n_windows)]
    for it in stream.items:
        if it.id in camp:
            camp_by_w[stream.window_of(it)].add(it.id)
    for w, sets in enumerate(flags):
        if w < stream.campaign_start:
            if w >= 1:  # window 0 has no history: nothing can emerge there
                sc.stationary_windows += 1
                sc.false_alarms += len(sets)
            continue
        hits = [s for s in sets if len(s & camp) / max(len(s), 1) >= min_purity]
        sc.other_alarms_after += len(sets) - len(hits)
        if hits and not sc.detected:
            best = max(hits, key=lambda s: len(s & camp))
            sc.detected = True
            sc.delay = w - stream.campaign_start
            sc.purity = len(best & camp) / len(best)
            sc.coverage = len(best & camp) / max(len(camp_by_w[w]), 1)
    return sc


def run_detector(stream, x, **params) -> tuple[StreamScore, Any]:
    from trendml.trends import TrendDetector

    t0 = time.perf_counter()
    res = TrendDetector(**params).detect(stream.items, x)
    secs = time.perf_counter() - t0
    starts = [w.start for w in res.windows]
    flags: list[list[set[str]]] = [[] for _ in range(stream.n_windows)]
    for w in res.windows:
        k = stream.window_starts.index(w.start) if w.start in stream.window_starts else starts.index(w.start)
        flags[k] = [set(t["member_ids"]) for t in w.trends if t["emerging"]]
    sc = score_flags(flags, stream)
    sc.seconds = secs
    return sc, res


def run_bertopic(stream, x, *, emerging_z: float = 4.0, emerging_ratio: float = 3.0, min_size: int = 10):
    """BERTopic's default pipeline (UMAP + HDBSCAN, fitted once on the whole stream) and its
    topics over time by counting; a topic is flagged in a window by the same burst rule the
    detector uses (count vs the topic's counts in the earlier windows)."""
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    from trendml.trends.scoring import burst_z, density_ratio

    t0 = time.perf_counter()
    docs = [it.content for it in stream.items]
    model = BERTopic(
        umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42),
        hdbscan_model=HDBSCAN(
            min_cluster_size=10, metric="euclidean", cluster_selection_method="eom", prediction_data=True
        ),
        vectorizer_model=CountVectorizer(stop_words="english"),
        calculate_probabilities=False,
    )
    topics, _ = model.fit_transform(docs, embeddings=x)
    topics = np.asarray(topics)
    win = np.array([stream.window_of(it) for it in stream.items])
    ids = np.array([it.id for it in stream.items])
    n_w = np.bincount(win, minlength=stream.n_windows)
    flags: list[list[set[str]]] = [[] for _ in range(stream.n_windows)]
    for t in sorted(set(topics.tolist()) - {-1}):
        counts = np.bincount(win[topics == t], minlength=stream.n_windows)
        for w in range(1, stream.n_windows):
            past_k, past_n = counts[:w].sum(), n_w[:w].sum()
            k = counts[w]
            if (
                k >= min_size
                and burst_z(k, past_k, n_w[w], past_n) >= emerging_z
                and density_ratio(k, past_k, n_w[w], past_n) >= emerging_ratio
            ):
                flags[w].append(set(ids[(topics == t) & (win == w)].tolist()))
    sc = score_flags(flags, stream)
    sc.seconds = time.perf_counter() - t0
    return sc


def summarise(scores: list[StreamScore]) -> dict[str, Any]:
    det = [s for s in scores if s.detected]
    fa = sum(s.false_alarms for s in scores)
    stat = sum(s.stationary_windows for s in scores)
    return {
        "streams": len(scores),
        "recall": len(det) / max(len(scores), 1),
        "median_delay": statistics.median([s.delay for s in det]) if det else None,
        "mean_delay": statistics.mean([s.delay for s in det]) if det else None,
        "purity": statistics.mean([s.purity for s in det]) if det else None,
        "coverage": statistics.mean([s.coverage for s in det]) if det else None,
        "false_alarms_per_10": 10 * fa / max(stat, 1),
        "other_alarms_after_start_per_stream": sum(s.other_alarms_after for s in scores)
        / max(len(scores), 1),
        "seconds_per_stream": statistics.mean([s.seconds for s in scores]),
    }


# ---------------------------------------------------------------------------------- 100k
SCALE_CODE = r"""
import json, sys, time
from datetime import UTC, datetime, timedelta
import numpy as np
from trendml.items import Item
from trendml.trends import TrendDetector
# warm imports: a running service has them loaded
import hdbscan, scipy.stats, sklearn.decomposition, sklearn.feature_extraction.text, sklearn.neighbors


def status_kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


src = np.load(sys.argv[1]); n = int(sys.argv[2]); reducer = sys.argv[3]; ncomp = int(sys.argv[4])
rng = np.random.default_rng(0)
pick = rng.integers(0, len(src), n)
x = np.empty((n, src.shape[1]), dtype=np.float32)
for a in range(0, n, 10_000):  # in chunks, so generating the data does not set the memory peak
    b = min(n, a + 10_000)
    x[a:b] = src[pick[a:b]] + rng.normal(0, 0.02, (b - a, src.shape[1])).astype(np.float32)
n_planted = 200  # a small, tight group inside the big window: is it still one trend?
centre = rng.normal(size=src.shape[1]); centre /= np.linalg.norm(centre)
x[:n_planted] = centre + rng.normal(0, 0.02, (n_planted, src.shape[1]))
x /= np.linalg.norm(x, axis=1, keepdims=True)
del src
t0 = datetime(2026, 3, 1, tzinfo=UTC)
items = [Item(id=f"i{k:06d}", text=f"tok{pick[k] % 500} word{pick[k] % 37}",
              created_at=t0 + timedelta(seconds=k % 80000), region="US" if k % 3 else "GB") for k in range(n)]
try:  # reset the peak-RSS mark (Linux >= 4.0), so VmHWM afterwards is the peak during detect
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
base = status_kb("VmRSS")
t1 = time.perf_counter()
res = TrendDetector(reducer=reducer, n_components=ncomp, n_jobs=2).detect(items, x)
secs = time.perf_counter() - t1
peak = status_kb("VmHWM")
planted = {f"i{k:06d}" for k in range(n_planted)}
best = max(res.windows[0].trends, key=lambda t: len(planted & set(t["member_ids"])))
hit = len(planted & set(best["member_ids"]))
print(json.dumps({"n": n, "seconds": secs, "clusters": len(res.windows[0].trends),
                  "noise": 1 - sum(t["size"] for t in res.windows[0].trends) / n,
                  "planted_coverage": hit / n_planted, "planted_purity": hit / best["size"],
                  "peak_rss_mb": peak / 1024, "base_rss_mb": base / 1024,
                  "delta_rss_kb_per_item": (peak - base) / n}))
"""


def run_scale(pool: np.ndarray, n: int, reducer: str = "pca", n_components: int = 10, timeout: int = 900):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pool.npy")
        np.save(path, pool)
        env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
        out = subprocess.run(
            [sys.executable, "-c", SCALE_CODE, path, str(n), reducer, str(n_components)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    if out.returncode != 0:
        return {"n": n, "error": out.stderr.strip().splitlines()[-1][:200] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- main
def evaluate(
    quick: bool = False,
    params: dict[str, Any] | None = None,
    baseline: bool = True,
    scenarios: list[str] | None = None,
) -> dict[str, Any]:
    from trendml.embed.base import embed_items

    params = params or {}
    emb = make_cached_embedder()
    scs = load_scenarios()
    if scenarios:
        scs = [s for s in scs if s.name in scenarios]
    elif quick:
        scs = [
            s for s in scs if s.name in ("toxigen:lgbtq", "toxigen:women", "hateval:aggressive-individual")
        ]
    seeds = SEEDS[:2] if quick else SEEDS
    ours: dict[str, list[StreamScore]] = {}
    base: dict[str, list[StreamScore]] = {}
    stability: list[float] = []
    perturbed: list[dict[str, float]] = []
    pool: list[np.ndarray] = []
    for sc in scs:
        for seed in seeds:
            stream = build_stream(sc, seed)
            x = embed_items(stream.items, emb)
            s, res = run_detector(stream, x, **params)
            ours.setdefault(sc.name, []).append(s)
            logger.info(
                "%s seed %d: detected=%s delay=%s fa=%d (%.1fs)",
                sc.name,
                seed,
                s.detected,
                s.delay,
                s.false_alarms,
                s.seconds,
            )
            if seed == seeds[0]:
                pool.append(x)
                # refit on the same data (input shuffled, fresh state): share of items keeping their trend id
                perm = np.random.default_rng(seed).permutation(len(stream.items))
                _, res2 = run_detector(_Reordered(stream, perm), x[perm], **params)
                a, b = res.item_trends(), res2.item_trends()
                keys = set(a) | set(b)
                stability.append(sum(a.get(k) == b.get(k) for k in keys) / max(len(keys), 1))
                perturbed.append(perturbed_stability(stream, x, a, params))
            if baseline:
                base.setdefault(sc.name, []).append(run_bertopic(stream, x))
            gc.collect()
    out: dict[str, Any] = {
        "params": params,
        "ours": {k: summarise(v) for k, v in ours.items()},
        "ours_all": summarise([s for v in ours.values() for s in v]),
        "scores": ours,
        "stability": min(stability) if stability else None,
        "perturbed": perturbed,
        "pool": np.concatenate(pool) if pool else None,
    }
    if baseline:
        out["baseline"] = {k: summarise(v) for k, v in base.items()}
        out["baseline_all"] = summarise([s for v in base.values() for s in v])
    return out


def perturbed_stability(stream, x, before: dict[str, str], params: dict[str, Any]) -> dict[str, float]:
    """A fresh detection with 1% of the items dropped, without and with ``previous_ids`` (what a
    restart passes): the share of items clustered in both runs that keep their trend id, and how
    often an earlier id comes back on a group whose items mostly held another id."""
    from trendml.trends import TrendDetector

    keep = np.random.default_rng(7).random(len(stream.items)) >= 0.01
    items = [it for it, k in zip(stream.items, keep, strict=True) if k]
    out: dict[str, float] = {}
    for name, prev in (("plain", None), ("carried", before)):
        after = TrendDetector(**params).detect(items, x[keep], previous_ids=prev).item_trends()
        both = [i for i in after if i in before]
        out[name] = sum(before[i] == after[i] for i in both) / max(len(both), 1)
        # reused ids: an id of the earlier run now naming a group most of whose items it did not hold
        groups: dict[str, list[str]] = {}
        for i in both:
            groups.setdefault(after[i], []).append(before[i])
        old_ids = set(before.values())
        out[name + "_misattributed"] = sum(
            1 for t, olds in groups.items() if t in old_ids and 2 * olds.count(t) < len(olds)
        )
    return out


class _Reordered:
    """The same stream with its items in another order (for the refit-stability check)."""

    def __init__(self, stream, perm):
        self.__dict__.update(stream.__dict__)
        self.items = [stream.items[i] for i in perm]

    @property
    def n_windows(self):
        return len(self.window_starts)

    def window_of(self, item):
        return int((item.created_at - self.window_starts[0]) // self.window)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:.0f}%"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _row(name: str, s: dict[str, Any]) -> str:
    return (
        f"| {name} | {s['streams']} | {_fmt(s['recall'], True)} | {_fmt(s['median_delay'])} | "
        f"{_fmt(s['purity'], True)} | {_fmt(s['coverage'], True)} | {_fmt(s['false_alarms_per_10'])} | "
        f"{_fmt(s['other_alarms_after_start_per_stream'])} | {_fmt(s['seconds_per_stream'])} |"
    )


HEADER = (
    "| scenario | streams | recall | median delay (windows) | purity | coverage | false alarms / 10 "
    "stationary windows | other alarms after start / stream | s / stream |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def run(quick: bool = False) -> str:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    t0 = time.perf_counter()
    res = evaluate(quick=quick)
    scale = []
    if not quick and res["pool"] is not None:
        for n in (10_000, 100_000):
            scale.append(run_scale(res["pool"], n))
            logger.info("scale %s", scale[-1])
    lines = ["## Trends: planted-campaign detection (`python -m benchmarks trends`)", ""]
    lines.append(
        f"{N_WINDOWS} daily windows of ~{PER_WINDOW} background items; campaign from window {START} "
        f"(20, 40, 60, 80 items); seeds {list(SEEDS[:2] if quick else SEEDS)}. A campaign is detected "
        "in the first window where a trend flagged `emerging` is >= 50% campaign items; delay = that "
        "window - start; purity/coverage of that trend then. False alarms: emerging trends in "
        "stationary windows 1-5 (window 0 has no history)."
    )
    lines += ["", "### trendml TrendDetector (defaults)", "", HEADER]
    for k, v in res["ours"].items():
        lines.append(_row(k, v))
    lines.append(_row("**all**", res["ours_all"]))
    if "baseline" in res:
        lines += [
            "",
            "### Baseline: BERTopic 0.17.4 (UMAP+HDBSCAN on the whole stream at once, topics over time "
            "by counting, same burst rule)",
            "",
            HEADER,
        ]
        for k, v in res["baseline"].items():
            lines.append(_row(k, v))
        lines.append(_row("**all**", res["baseline_all"]))
    s1 = summarise([x for k, v in res["scores"].items() if k.startswith("toxigen:") for x in v])
    s2 = summarise([x for k, v in res["scores"].items() if k.startswith("hateval:") for x in v])
    allv = res["ours_all"]
    lines += [
        "",
        "Floors (issue): recall >= 0.9 — scenario 1 (ToxiGen groups) "
        f"**{_fmt(s1['recall'], True)}**, scenario 2 (HatEval) **{_fmt(s2['recall'], True)}**, all "
        f"**{_fmt(allv['recall'], True)}**; median delay <= 1 window — **{_fmt(allv['median_delay'])}**; "
        f"<= 1 false alarm per 10 stationary windows — **{_fmt(allv['false_alarms_per_10'])}**.",
    ]
    if "baseline" in res:
        ratio = res["baseline_all"]["seconds_per_stream"] / max(allv["seconds_per_stream"], 1e-9)
        lines.append(
            f"Time per stream, BERTopic / trendml: **{ratio:.1f}x** "
            "(same process, same streams, given embeddings)."
        )
    lines += [
        "",
        f"Trend-id stability after a refit on the same data (input order shuffled, fresh state), "
        f"worst stream: **{_fmt(res['stability'], True)}** of items keep their trend id.",
    ]
    if res["perturbed"]:
        pt = res["perturbed"]

        def _mean(key: str) -> float:
            return statistics.mean(p[key] for p in pt)

        lines.append(
            f"A fresh detection with 1% of the items dropped (first seed of each scenario, {len(pt)} streams): "
            f"items keeping their trend id, mean (worst) **{_fmt(_mean('plain'), True)}** "
            f"({_fmt(min(p['plain'] for p in pt), True)}) with plain rank ids, "
            f"**{_fmt(_mean('carried'), True)}** ({_fmt(min(p['carried'] for p in pt), True)}) with the "
            "earlier ids carried over (`previous_ids`, what a restart does); earlier ids that came back "
            "on a group mostly not theirs: "
            f"**{sum(p['plain_misattributed'] for p in pt):.0f}** plain, "
            f"**{sum(p['carried_misattributed'] for p in pt):.0f}** carried."
        )
    if scale:
        lines += [
            "",
            "### One window, given embeddings: full `TrendDetector.detect` (PCA + HDBSCAN, keywords, "
            "state), 2 cores, real vectors resampled with noise, plus a planted tight group of 200",
            "",
            "| items | seconds | trends | noise | planted group coverage / purity | RSS before → peak (MB) | "
            "peak growth per item (KB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in scale:
            if "error" in s:
                lines.append(f"| {s['n']} | error: {s['error']} | | | | | |")
            else:
                lines.append(
                    f"| {s['n']:,} | {s['seconds']:.1f} | {s['clusters']} | {s['noise']:.0%} | "
                    f"{s['planted_coverage']:.0%} / {s['planted_purity']:.0%} | "
                    f"{s['base_rss_mb']:.0f} → {s['peak_rss_mb']:.0f} | {s['delta_rss_kb_per_item']:.2f} |"
                )
    lines.append(f"\nTotal {time.perf_counter() - t0:.0f}s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(run(quick=args.quick))
