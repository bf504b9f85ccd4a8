"""Density groups under relaxed settings, and which items a group should report (issue #12): on every
realistic stream of the benchmark, in the stationary windows and the onset window plus the two after
it, the bursting items (``k`` nearest neighbours, ``alpha``) are grouped (groups of ``min size``); a
group whose region passes the detector's emergence thresholds (burst z >= 4, density ratio >= 3)
counts as a detection when its members are >= 50 % campaign items, under three member rules: the
group itself, every window item in its region (what the detector does), and the region items whose
own "now" share exceeds p0. Any passing group in a stationary window is a false alarm. Numbers only.

    python -m benchmarks.experiments.trends_density_members SEEDS K ALPHA MIN_SIZE
    e.g. python -m benchmarks.experiments.trends_density_members 0,1,2,3,4 20 0.05 5
"""

import sys

import numpy as np

from benchmarks import bench_trends as bt
from benchmarks.experiments.trends_stream_arrays import realistic_stream
from trendml.trends.density import burst_groups, bursting, now_share, region_counts
from trendml.trends.scoring import burst_z, density_ratio

emb = bt.make_cached_embedder()
seeds = [int(s) for s in sys.argv[1].split(",")]
K, A, MS = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
scs = bt.load_scenarios(("realistic",))
real = [s.name for s in scs]
tot = {"group": 0, "region": 0, "filtered": 0}
n_streams = 0
for sc in scs:
    for seed in seeds:
        sa = realistic_stream(sc, seed, real, emb)
        grid, st, x, win, camp = sa.grid, sa.stream, sa.vectors, sa.window, sa.campaign
        det = {"group": None, "region": None, "filtered": None}
        fa = 0
        for w in range(1, bt.REAL_START + 3):
            cur = np.flatnonzero(win == w)
            past = np.flatnonzero((win < w) & (win >= w - 7))
            n, M = len(cur), len(past)
            sh = now_share(x[cur], np.arange(n), x[cur], 1.0, x[past], np.ones(M), k=K)
            p0 = n / (n + M)
            b = bursting(sh, p0, k=K, alpha=A)
            cand = cur[b]
            if len(cand) < MS:
                continue
            for g in burst_groups(x[cand], min_size=MS, min_samples=3):
                mem = cand[g]
                _, inside, k, m = region_counts(x[mem], x[cur], x[past], np.ones(M), quantile=0.99)
                if not (burst_z(k, m, n, M) >= 4 and density_ratio(k, m, n, M) >= 3):
                    continue
                reg = cur[inside]
                filt = cur[inside & (sh > p0)]
                if w < bt.REAL_START:
                    fa += 1
                    continue
                for rule, members in (("group", mem), ("region", reg), ("filtered", filt)):
                    if len(members) and camp[members].mean() >= 0.5 and det[rule] is None:
                        cov = camp[members].sum() / camp[cur].sum()
                        det[rule] = (
                            w - bt.REAL_START,
                            round(float(camp[members].mean()), 2),
                            round(float(cov), 2),
                        )
        n_streams += 1
        for r in det:
            tot[r] += det[r] is not None
        print(sc.name, seed, grid.label(), det, "false alarms (stationary)", fa, flush=True)
print("detected within 2 windows of", n_streams, tot)
