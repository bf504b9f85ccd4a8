"""Density-signal diagnostics on one realistic stream (issue #12): per window after onset, the AUC of
the kNN "now" share (campaign vs background), how many items burst, and the groups among them
with their region counts (k now, m before), burst z and density ratio. Numbers only.

    python -m benchmarks.experiments.trends_density_diag SCENARIO_PREFIX SEED K ALPHA MIN_GROUP
    e.g. python -m benchmarks.experiments.trends_density_diag hateval:group-immigrants 2 20 0.05 5
"""

import sys

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks import bench_trends as bt
from benchmarks.experiments.trends_stream_arrays import realistic_stream
from trendml.trends.density import burst_groups, bursting, now_share, region_counts
from trendml.trends.scoring import burst_z, density_ratio

emb = bt.make_cached_embedder()
name, seed = sys.argv[1], int(sys.argv[2])
scs = bt.load_scenarios(("realistic",))
real = [s.name for s in scs]
sc = next(s for s in scs if s.name.startswith(name))
sa = realistic_stream(sc, seed, real, emb)
grid, st, x, win, camp = sa.grid, sa.stream, sa.vectors, sa.window, sa.campaign
print(sc.name, grid.label(), "sizes", grid.sizes)
for w in range(bt.REAL_START, st.n_windows):
    cur = np.flatnonzero(win == w)
    past = np.flatnonzero((win < w) & (win >= w - 7))
    n, M = len(cur), len(past)
    K = int(sys.argv[3])
    A = float(sys.argv[4])
    MS = int(sys.argv[5])
    sh = now_share(x[cur], np.arange(n), x[cur], 1.0, x[past], np.ones(M), k=K)
    p0 = n / (n + M)
    b = bursting(sh, p0, k=K, alpha=A)
    c = camp[cur]
    auc = roc_auc_score(c, sh) if c.any() else float("nan")
    cand = cur[b]
    groups = burst_groups(x[cand], min_size=MS, min_samples=3)
    info = []
    for g in groups:
        mem = cand[g]
        _, inside, k, m = region_counts(x[mem], x[cur], x[past], np.ones(M), quantile=0.99)
        info.append(
            f"[{len(mem)} pur={camp[mem].mean():.2f} k={k:.0f} m={m:.0f} z={burst_z(k, m, n, M):.1f} dr={density_ratio(k, m, n, M):.1f} inside_camp={camp[cur][inside].sum()}]"
        )
    print(
        f"w{w} n={n} camp={c.sum()} p0={p0:.3f} auc={auc:.2f} bursting={b.sum()} (camp {(b & c).sum()}) groups={len(groups)} {' '.join(info)}"
    )
