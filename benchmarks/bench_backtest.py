"""Backtest of alert rules on the trends benchmark's scenarios (issue 16; docs/backtest.md).

``python -m benchmarks backtest``: the streams of ``bench_trends`` (its realistic planted campaigns,
seeds 0-2, and the ToxiGen control, seed 0; scenario machinery reused from ``benchmarks.bench_trends``), replayed
window by window with :func:`trendml.backtest.replay` under one alert rule, ``trend_emerging`` with
``min_size`` 5 (no severity: no champion is assumed), scored with :func:`trendml.backtest.score`
(time to first alert from the campaign's onset; precision@5 from the onset on; an alert is the
campaign's when >= 50 % of its members are campaign items). Shadow mode: the same streams under a
candidate detector config (``min_cluster_size: 15``) beside the default, with the alerts only one
of them raised. Embeddings come from the content-hash cache (``TRENDML_HOME``).
``BENCH_BACKTEST_CONTROL`` caps the number of ToxiGen groups (default 4); ``BENCH_BACKTEST_SEEDS`` the
realistic seeds (default 3: 200, 500 and 1,000 items per window).
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.bench_trends import build_stream, grid_point, load_scenarios, make_cached_embedder

K = 5
SHADOW = {"window": "1d", "min_cluster_size": 15}
CONTROL_CAP = int(os.environ.get("BENCH_BACKTEST_CONTROL", "4"))
#: realistic streams: seeds 0.. (seed s has the trends benchmark's window size GRID_WINDOW_SIZES[s])
REAL_SEEDS = tuple(range(int(os.environ.get("BENCH_BACKTEST_SEEDS", "3"))))


def run() -> str:
    from trendml.backtest import TruthScenario, compare, replay, score
    from trendml.config import Settings
    from trendml.embed.base import embed_items
    from trendml.policy import AlertRule

    rules = [AlertRule(name="emerging", when="trend_emerging", min_size=5)]
    shared = Settings.from_env().shared_data
    kinds = ("realistic", "control") if (shared / "olid").exists() else ("control",)
    scenarios = load_scenarios(kinds)
    control = [s for s in scenarios if s.kind == "control"][:CONTROL_CAP]
    scenarios = [s for s in scenarios if s.kind != "control"] + control
    emb = make_cached_embedder()
    rows = []
    runs = [
        (i, sc, seed)
        for i, sc in enumerate(scenarios)
        for seed in (REAL_SEEDS if sc.kind == "realistic" else (0,))
    ]
    for i, sc, seed in runs:
        grid = grid_point(i, seed) if sc.kind == "realistic" else None
        stream = build_stream(sc, seed, grid)
        x = np.asarray(embed_items(stream.items, emb), dtype=np.float32)
        length = grid.length if grid is not None else "1d"
        truth = [
            TruthScenario(
                sc.name, frozenset(stream.campaign_ids), stream.window_starts[stream.campaign_start]
            )
        ]
        t0 = time.perf_counter()
        live, starts, wlen = replay(stream.items, x, rules, detector={"window": length})
        secs = time.perf_counter() - t0
        shadow, s_starts, s_len = replay(stream.items, x, rules, detector={**SHADOW, "window": length})
        rep = score(live, starts, wlen, truth, k=K)["scenarios"][0]
        srep = score(shadow, s_starts, s_len, truth, k=K)["scenarios"][0]
        diff = compare(live, shadow)
        rows.append(
            {
                "scenario": sc.name,
                "stream": (grid.label() if grid is not None else "500/1d, control")
                + f", {len(stream.items)} items",
                "ttfa": rep["time_to_first_alert_windows"],
                "hours": rep["time_to_first_alert_hours"],
                "p": rep[f"precision_at_{K}"],
                "n": rep["alerts_from_onset"],
                "s_ttfa": srep["time_to_first_alert_windows"],
                "s_p": srep[f"precision_at_{K}"],
                "only_live": len(diff["only_live"]),
                "only_shadow": len(diff["only_shadow"]),
                "secs": secs,
            }
        )

    def f(v, fmt="{}"):
        return "never" if v is None else fmt.format(v)

    lines = [
        "## Alert backtest (issue 16)\n",
        "`python -m benchmarks backtest`: trends-benchmark streams (realistic: seeds 0-2, i.e. 200 / 500 / "
        "1,000 items per window; control: seed 0) replayed window by window "
        "(`trendml.backtest.replay`, as `trendml backtest` does) under the rule `trend_emerging`, "
        "`min_size` 5, no severity. TTFA: windows (hours) from the campaign's onset to the first alert "
        f"whose members are >= 50 % campaign; P@{K}: of the first {K} alerts from the onset on, the share "
        "that are the campaign's (n: alerts from the onset on). Shadow: `min_cluster_size: 15` beside the "
        "default (10); only-live / only-shadow: alerts one config raised and the other did not (same rule, "
        "member Jaccard >= 0.5).\n",
        f"| scenario | stream | TTFA windows (h) | P@{K} (n) | shadow TTFA | shadow P@{K} | only live / only shadow | replay s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['stream']} | {f(r['ttfa'])} ({f(r['hours'])}) | {f(r['p'])} ({r['n']}) | "
            f"{f(r['s_ttfa'])} | {f(r['s_p'])} | {r['only_live']} / {r['only_shadow']} | {r['secs']:.1f} |"
        )
    hit = [r for r in rows if r["ttfa"] is not None]
    lines.append(
        f"\nAlerted on {len(hit)} of {len(rows)} campaigns; median TTFA "
        f"{np.median([r['ttfa'] for r in hit]) if hit else float('nan'):.1f} windows; mean P@{K} "
        f"{np.mean([r['p'] for r in rows if r['p'] is not None]):.2f}.\n"
    )
    return "\n".join(lines)
