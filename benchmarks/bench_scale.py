"""Growth table (issue 13): trend detection on one window given embeddings at 10k / 100k / 1M items,
and batch scoring throughput, ``trendml score --engine local`` vs ``--engine ray``.

``python -m benchmarks scale --no-assemble``. Detection reuses ``bench_trends.run_scale`` (a fresh
subprocess per size: real all-MiniLM-L6-v2 vectors of shipped Davidson texts resampled with noise,
the full ``TrendDetector.detect`` with a previous window of 10k items, 2 BLAS threads). Scoring runs
the real CLI in a subprocess on Davidson texts, embedding cache warm (a first local run fills it),
peak RSS summed over the process tree (Ray's raylet and workers included). Environment:
``BENCH_SCALE_SIZES`` (default ``10000,100000,1000000``), ``BENCH_SCALE_SCORE_N`` (default 10000; a
comma list, e.g. ``10000,100000``, scores each size; 0 skips scoring),
``BENCH_SCALE_HOME`` (a home kept between runs, so its embedding cache is reused; default: a
temporary one). The champion is the configured ``TRENDML_HOME``'s (copied), else a small one trained.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

POOL_TEXTS = 3000


def _texts(n: int) -> list[str]:
    from trendml.datasets import load_davidson

    df = load_davidson().drop_duplicates("text")
    rng = np.random.default_rng(13)
    return list(df["text"].iloc[rng.permutation(len(df))[:n]])  # the pool is a prefix of the scored texts


def _pool(home: Path) -> np.ndarray:
    from trendml.config import Settings
    from trendml.embed import embedder_from_settings
    from trendml.items import Item

    emb = embedder_from_settings(Settings.from_env().with_(home=home))
    contents = [Item(id=str(i), text=t).content for i, t in enumerate(_texts(POOL_TEXTS))]
    return np.asarray(emb.encode(contents), dtype=np.float32)


def _tree_peak_mb(proc: subprocess.Popen, stop: threading.Event, out: list[float]) -> None:
    """Peak RSS of the process tree (MB), then its CPU seconds (each process's last reading, summed)."""
    import psutil

    peak = 0.0
    cpu: dict[int, float] = {}
    while not stop.is_set():
        try:
            root = psutil.Process(proc.pid)
            tree = [root, *root.children(recursive=True)]
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            peak = max(peak, rss / 2**20)
        except psutil.Error:
            pass
        stop.wait(0.2)
    out.extend([peak, sum(cpu.values())])


def _score_run(items: Path, out: Path, env: dict[str, str], *extra: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "cli.main", "score", str(items), "-o", str(out), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, peak = threading.Event(), []
    watcher = threading.Thread(target=_tree_peak_mb, args=(proc, stop, peak), daemon=True)
    watcher.start()
    _, err = proc.communicate(timeout=3600)
    secs = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(extra) or 'local'} scoring failed: {err.strip().splitlines()[-1:]}")
    return {
        "seconds": secs,
        "peak_rss_mb": peak[0] if peak else float("nan"),
        "cpu_seconds": peak[1] if len(peak) > 1 else float("nan"),
        "load": os.getloadavg()[0],
    }


def _scoring(home: Path, n: int) -> list[dict]:
    from benchmarks.bench_service import _ensure_model
    from trendml.config import Settings

    configured = Settings.from_env()
    for name in ("mlflow.db", "mlartifacts"):  # reuse the configured champion (copied, never written)
        src = configured.home / name
        if src.is_dir() and not any((home / name).glob("*")):  # an empty folder may have been made already
            shutil.copytree(src, home / name, dirs_exist_ok=True)
        elif src.is_file() and not (home / name).exists():
            shutil.copy2(src, home / name)
    _ensure_model(home)
    texts = _texts(n)
    texts = (texts * -(-n // len(texts)))[:n]  # past Davidson's ~24k distinct texts, texts repeat (ids do not)
    items = home / f"items-{n}.jsonl"
    items.write_text("".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    env = dict(os.environ, TRENDML_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rows = []
    cold = _score_run(items, home / "cold.jsonl", env)
    rows.append({"engine": "local, first run (embeds what the cache lacks)", "n": len(texts), **cold})
    local = _score_run(items, home / "local.jsonl", env)
    rows.append({"engine": "local", "n": len(texts), **local})
    ray = _score_run(items, home / "ray.jsonl", env, "--engine", "ray")
    rows.append({"engine": "ray (local cluster, 1 actor per CPU)", "n": len(texts), **ray})
    a = [json.loads(x)["severity"] for x in (home / "local.jsonl").read_text().splitlines()]
    b = [json.loads(x)["severity"] for x in (home / "ray.jsonl").read_text().splitlines()]
    rows[-1]["same_severities"] = a == b
    return rows


def run() -> str:
    from benchmarks.bench_trends import run_scale

    t0 = time.perf_counter()
    sizes = [int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10000,100000,1000000").split(",") if s]
    n_score = [int(s) for s in os.environ.get("BENCH_SCALE_SCORE_N", "10000").split(",") if s and int(s)]
    keep = os.environ.get("BENCH_SCALE_HOME")
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    try:
        pool = _pool(home)
        growth = []
        for n in sizes:
            growth.append(run_scale(pool, n, timeout=1800))
            logger.info("scale %s", growth[-1])
        scoring = []
        for k in n_score:
            try:
                scoring += _scoring(home, k)
            except Exception as exc:  # a scoring failure must not lose the growth rows measured before
                logger.warning("scoring %d items failed: %s", k, exc)
                scoring.append({"engine": f"error: {str(exc)[:160]}", "n": k, "error": True})
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "## Scale (issue 13)",
        "",
        "### Growth: one window given embeddings, full `TrendDetector.detect` (PCA + HDBSCAN subsample "
        "fit + approximate assignment, density step, keywords, state), 2 BLAS threads; real vectors of "
        f"{POOL_TEXTS:,} Davidson texts resampled with noise, a planted group of 200, a previous window of "
        "10,000 items first. Goal: 1M <= 240 s and <= 6 GB.",
        "",
        "CPU seconds are the process's (both BLAS threads); wall seconds depend on the machine's load,",
        "given beside them (1-minute load average, the higher of before and after).",
        "",
        "| items | CPU seconds | wall seconds (load) | trends | noise | planted coverage / purity "
        "| RSS before → peak (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in growth:
        if "error" in s:
            lines.append(f"| {s['n']:,} | error: {s['error']} | | | | | |")
        else:
            cpu = f"{s['cpu_seconds']:.1f}" if "cpu_seconds" in s else "–"
            load = f" ({s['load']:.1f})" if "load" in s else ""
            lines.append(
                f"| {s['n']:,} | {cpu} | {s['seconds']:.1f}{load} | {s['clusters']} | {s['noise']:.0%} | "
                f"{s['planted_coverage']:.0%} / {s['planted_purity']:.0%} | "
                f"{s['base_rss_mb']:.0f} → {s['peak_rss_mb']:.0f} |"
            )
    if scoring:
        lines += [
            "",
            "### Batch scoring: `trendml score` end to end (process start, model load, Davidson texts "
            "(repeated past ~24k), output written), embedding cache warm unless noted; goal Ray >= 0.8x "
            "local on one node. CPU seconds: the whole process tree (Ray's raylet and workers included).",
            "",
            "| engine | items | wall seconds (load) | items/s | vs local | CPU seconds | "
            "peak RSS, process tree (MB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in scoring:
            if r.get("error"):
                lines.append(f"| {r['engine']} | {r['n']:,} | | | | | |")
                continue
            base = next(b for b in scoring if b["engine"] == "local" and b["n"] == r["n"])
            rate = r["n"] / r["seconds"]
            same = "" if "same_severities" not in r else (" (same severities)" if r["same_severities"] else " (severities DIFFER)")
            lines.append(
                f"| {r['engine']}{same} | {r['n']:,} | {r['seconds']:.1f} ({r.get('load', float('nan')):.1f}) | "
                f"{rate:.0f} | {base['seconds'] / r['seconds']:.2f}x | {r.get('cpu_seconds', float('nan')):.0f} | "
                f"{r['peak_rss_mb']:.0f} |"
            )
    lines.append(f"\nTotal {time.perf_counter() - t0:.0f}s.")
    return "\n".join(lines) + "\n"
