"""Severity-burst variants on the streams written by ``trends_severity_prepare`` (issue #12).

Runs ``trendml.trends.sevburst.severity_groups`` window by window (history = the previous 7
windows, every item, weight 1) and scores the groups that pass the emergence thresholds as the
bench does (a detection = a flagged group >= 50 % campaign; delay, purity, coverage; false alarms
in stationary windows 1..start-1; other alarms after onset). One line per stream, then totals.

    python -m benchmarks.experiments.trends_severity_eval DIR [threshold=0.5 k=20 alpha=0.05
        min_size=5 z=4 ratio=3 quantile=0.99 prefilter=1 soft=0 oracle=0 only=NAME diag=0]
    python -m benchmarks.experiments.trends_severity_eval DIR knn=1     # kNN campaign purity only

Numbers only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from trendml.trends.density import bursting, now_share
from trendml.trends.scoring import burst_z, density_ratio
from trendml.trends.sevburst import SeverityBurstParams, hateful_mass, severity_groups


def knn_purity(d: Path) -> None:
    """Per stream, in the campaign's first, third and last window: the campaign's share of the window
    (base) and of a campaign item's 10 nearest neighbours in the window (knn), among all items, among
    the items the model scores P(sev >= 2) >= 0.5, and among the items labelled severity >= 2."""
    for f in sorted(d.glob("*.npz"), key=lambda f: tuple(int(v) for v in f.stem.split("-"))):
        z = np.load(f)
        x = z["x"] / np.linalg.norm(z["x"], axis=1, keepdims=True)
        h, lab = hateful_mass(z["probs"]) >= 0.5, z["true_severity"] >= 2
        win, camp, start = z["win"], z["camp"], int(z["start"])
        out = []
        for w in (start, start + 2, int(z["n_windows"]) - 1):
            cur = np.flatnonzero(win == w)
            cells = []
            for sel in (cur, cur[h[cur]], cur[lab[cur]]):
                c = camp[sel]
                if c.sum() < 2:
                    cells.append("-")
                    continue
                s = x[sel] @ x[sel].T
                np.fill_diagonal(s, -9)
                nn = np.argsort(-s, axis=1)[:, :10]
                cells.append(f"{c.mean():.2f}/{c[nn[c]].mean():.2f} ({c.sum()})")
            out.append(f"w{w}: " + " ".join(cells))
        print(f"{z['name']} | {z['grid']} | " + " | ".join(out), flush=True)


def main() -> None:
    d = Path(sys.argv[1])
    kv = dict(a.split("=") for a in sys.argv[2:])
    if kv.get("knn") == "1":
        knn_purity(d)
        return
    p = SeverityBurstParams(
        threshold=float(kv.get("threshold", 0.5)),
        k=int(kv.get("k", 20)),
        alpha=float(kv.get("alpha", 0.05)),
        min_size=int(kv.get("min_size", 5)),
        quantile=float(kv.get("quantile", 0.99)),
        prefilter=kv.get("prefilter", "1") == "1",
        soft=kv.get("soft", "0") == "1",
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
        # oracle=1: the items' dataset labels instead of the model (an upper bound, not a detector)
        h = (z["true_severity"] >= 2).astype(float) if kv.get("oracle") == "1" else hateful_mass(z["probs"])
        win, camp, start, nw = z["win"], z["camp"], int(z["start"]), int(z["n_windows"])
        det = delay = pur = cov = None
        fa = stat = other = 0
        info = []
        for w in range(1, nw):
            cur = np.flatnonzero(win == w)
            past = np.flatnonzero((win < w) & (win >= w - 7))
            groups = severity_groups(x[cur], h[cur], x[past], np.ones(len(past)), h[past], params=p)
            flagged = [
                g
                for g in groups
                if burst_z(g.k, g.m, g.n, g.big_m) >= z_min
                and density_ratio(g.k, g.m, g.n, g.big_m) >= r_min
                and len(g.members) >= p.min_size
            ]
            if diag and w >= start:
                hc = h[cur] >= p.threshold
                hp = h[past] >= p.threshold
                hot = cur[hc]
                sh = now_share(
                    x[hot], np.arange(len(hot)), x[hot], 1.0, x[past[hp]], np.ones(hp.sum()), k=p.k
                )
                b = bursting(sh, len(hot) / (len(hot) + hp.sum()), k=p.k, alpha=p.alpha)
                auc = roc_auc_score(camp[hot], sh) if 0 < camp[hot].sum() < len(hot) else float("nan")
                info.append(
                    f"w{w}: hot {hc.sum()} (camp {(hc & camp[cur]).sum()}/{camp[cur].sum()}) auc {auc:.2f} "
                    f"bursting {b.sum()} (camp {camp[hot][b].sum()}) groups "
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
