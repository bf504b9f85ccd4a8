"""Severity-burst variants on the streams written by ``trends_severity_prepare`` (issue #12).

Runs ``trendml.trends.sevburst.severity_groups`` window by window (history = the previous 7
windows, every item, weight 1) and scores the groups that pass the emergence thresholds as the
bench does (a detection = a flagged group >= 50 % campaign; delay, purity, coverage; false alarms
in stationary windows 1..start-1; other alarms after onset). One line per stream, then totals.

    python -m benchmarks.experiments.trends_severity_eval DIR [threshold=0.5 k=10 alpha=0.01
        min_size=6 z=4 ratio=3 quantile=0.99 diag=0]

Numbers only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from trendml.trends.scoring import burst_z, density_ratio
from trendml.trends.sevburst import SeverityBurstParams, hateful_mass, severity_groups


def main() -> None:
    d = Path(sys.argv[1])
    kv = dict(a.split("=") for a in sys.argv[2:])
    p = SeverityBurstParams(
        threshold=float(kv.get("threshold", 0.5)),
        k=int(kv.get("k", 10)),
        alpha=float(kv.get("alpha", 0.01)),
        min_size=int(kv.get("min_size", 6)),
        quantile=float(kv.get("quantile", 0.99)),
    )
    z_min, r_min = float(kv.get("z", 4)), float(kv.get("ratio", 3))
    diag = kv.get("diag", "0") == "1"
    only = kv.get("only")
    print(p, f"z>={z_min} ratio>={r_min}")
    tot = {"realistic": [0, 0, [], 0, 0, 0], "control": [0, 0, [], 0, 0, 0]}
    t_all = time.process_time()
    for f in sorted(d.glob("*.npz"), key=lambda f: tuple(int(v) for v in f.stem.split("-"))):
        z = np.load(f)
        name, kind = str(z["name"]), str(z["kind"])
        if only and only not in name:
            continue
        x = z["x"] / np.linalg.norm(z["x"], axis=1, keepdims=True)
        h = hateful_mass(z["probs"])
        win, camp, start, nw = z["win"], z["camp"], int(z["start"]), int(z["n_windows"])
        det = delay = pur = cov = None
        fa = stat = other = 0
        info = []
        for w in range(1, nw):
            cur = np.flatnonzero(win == w)
            past = np.flatnonzero((win < w) & (win >= w - 7))
            groups = severity_groups(x[cur], h[cur], x[past], np.ones(len(past)), h[past], params=p)
            flagged = [
                g for g in groups
                if burst_z(g.k, g.m, g.n, g.big_m) >= z_min and density_ratio(g.k, g.m, g.n, g.big_m) >= r_min
                and len(g.members) >= p.min_size
            ]
            if diag and w >= start:
                hc = (h[cur] >= p.threshold)
                info.append(
                    f"w{w}: hot {hc.sum()} (camp {(hc & camp[cur]).sum()}/{camp[cur].sum()}) groups "
                    + " ".join(
                        f"[{len(g.members)} pur={camp[cur][g.members].mean():.2f} k={g.k:.0f} m={g.m:.0f} "
                        f"z={burst_z(g.k, g.m, g.n, g.big_m):.1f} r={density_ratio(g.k, g.m, g.n, g.big_m):.1f}]"
                        for g in groups
                    )
                )
            if w < start:
                stat += 1
                fa += len(flagged)
                continue
            hits = [g for g in flagged if camp[cur][g.members].mean() >= 0.5]
            other += len(flagged) - len(hits)
            if hits and det is None:
                best = max(hits, key=lambda g: camp[cur][g.members].sum())
                det, delay = True, w - start
                pur = camp[cur][best.members].mean()
                cov = camp[cur][best.members].sum() / max(camp[cur].sum(), 1)
        t = tot[kind]
        t[0] += 1
        t[1] += bool(det)
        if det:
            t[2].append(delay)
        t[3] += fa
        t[4] += stat
        t[5] += other
        print(
            f"{name} | {str(z['grid'])} | det={bool(det)} d={delay} pur={pur and round(pur, 2)} "
            f"cov={cov and round(cov, 2)} fa={fa}/{stat} other={other}",
            flush=True,
        )
        for line in info:
            print("   ", line)
    for kind, t in tot.items():
        if t[0]:
            print(
                f"{kind}: detected {t[1]}/{t[0]}, delays {sorted(t[2])}, false alarms {t[3]}/{t[4]} stationary "
                f"windows, other alarms after onset {t[5]}"
            )
    print(f"cpu {time.process_time() - t_all:.0f}s")


if __name__ == "__main__":
    main()
