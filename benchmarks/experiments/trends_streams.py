"""Per-stream runs of the trend benchmark (issue #12), for when a full `python -m benchmarks trends` does not fit:

    python -m benchmarks.experiments.trends_streams realistic|control SEEDS VARIANTS
    e.g. python -m benchmarks.experiments.trends_streams realistic 1,2 density,no-density

One line per stream (scenario, seed, grid point, items, then per variant: detected, delay, purity,
coverage, false alarms / stationary windows, other alarms after onset, seconds). Numbers only.
"""

import sys

from benchmarks import bench_trends as bt
from trendml.embed.base import embed_items

emb = bt.make_cached_embedder()
kinds = tuple(sys.argv[1].split(","))
seeds = [int(s) for s in sys.argv[2].split(",")]
allv = {"density": {}, "no-density": {"density": False}}
variants = {k: allv[k] for k in sys.argv[3].split(",")}
scs = bt.load_scenarios(kinds)
real = [s.name for s in scs if s.kind == "realistic"]
for sc in scs:
    for seed in seeds:
        grid = bt.grid_point(real.index(sc.name), seed) if sc.kind == "realistic" else None
        stream = bt.build_stream(sc, seed, grid)
        x = embed_items(stream.items, emb)
        out = []
        for name, p in variants.items():
            p = dict(p)
            if grid:
                p["window"] = grid.length
            s, res = bt.run_detector(stream, x, **p)
            out.append(
                f"{name}: det={s.detected} d={s.delay} pur={s.purity and round(s.purity, 2)} cov={s.coverage and round(s.coverage, 2)} fa={s.false_alarms}/{s.stationary_windows} other={s.other_alarms_after} {s.seconds:.1f}s"
            )
        print(
            sc.name,
            seed,
            grid.label() if grid else "control",
            len(stream.items),
            "|",
            " | ".join(out),
            flush=True,
        )
