"""Scratch A/B behind docs/severity.md, "Fourth pass": leave-one-dataset-out with one binary head per
boundary (severity >= 1, >= 2) instead of the 4-class LR, each head fitted only on the rows whose
dataset says which side of that boundary they are on. HatEval's ``HS=0`` tweets say nothing about
offensiveness (HatEval labels hate against immigrants and women only; many of its non-hateful tweets
are insults or profanity), so they leave the ``>= 1`` head.

    TRENDML_HOME=<home with a warm cache> python -m benchmarks.experiments.severity_lodo_masks [uncapped]

Columns: ``4-class`` (the recipe of ``training/lodo.py``), ``heads, no mask`` (binary heads on every
row: isolates the head change), ``heads, masked`` and ``heads, masked, datasets weighted alike`` (each
training dataset the same total weight, its two classes balanced inside). Prints one markdown table of
AUCs; texts are never printed.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

HELD_OUT = ("olid", "hateval", "toxic_spans", "toxigen_seeds")


def _weights(t: np.ndarray, ds: np.ndarray, by_dataset: bool) -> np.ndarray:
    w = np.ones(len(t))
    groups = [ds == name for name in np.unique(ds)] if by_dataset else [np.ones(len(t), bool)]
    for g in groups:
        for c in (0, 1):
            sel = g & (t == c)
            if sel.any():
                w[sel] = 1.0 / sel.sum()
    return w * len(w) / w.sum()


def main(argv: list[str]) -> None:
    from benchmarks.experiments.severity_lodo_rows import lodo_frame
    from training.lodo import LODO_MAX_TRAIN_ROWS, lodo_rows

    frame, lookup = lodo_frame()
    frame = frame.reset_index(drop=True)
    cap = None if "uncapped" in argv else LODO_MAX_TRAIN_ROWS
    kept = lodo_rows(frame.assign(_row=np.arange(len(frame))), cap)["_row"].to_numpy()
    f = frame.iloc[kept].reset_index(drop=True)
    x = np.stack([lookup[t] for t in f["text"]])
    y = f["severity"].to_numpy()
    ds = f["dataset"].to_numpy()
    train = (f["split"] == "train").to_numpy()

    def head(rows: np.ndarray, k: int, masked: bool, by_dataset: bool) -> LogisticRegression:
        m = rows.copy()
        if masked and k == 1:
            m &= ~((ds == "hateval") & (y == 0))
        t = (y[m] >= k).astype(int)
        return LogisticRegression(max_iter=2000).fit(x[m], t, sample_weight=_weights(t, ds[m], by_dataset))

    variants = {
        "4-class": None,
        "heads, no mask": (False, False),
        "heads, masked": (True, False),
        "heads, masked, datasets weighted alike": (True, True),
    }
    table: dict[str, dict[str, float]] = {}
    for label, spec in variants.items():
        row = table.setdefault(label, {})
        for held in HELD_OUT:
            rows, test = train & (ds != held), (~train) & (ds == held)
            if spec is None:
                lr = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x[rows], y[rows])
                proba = np.zeros((test.sum(), 4))
                proba[:, lr.classes_] = lr.predict_proba(x[test])
            for k in (1, 2):
                yt = (y[test] >= k).astype(int)
                if yt.min() == yt.max():
                    continue
                score = (
                    proba[:, k:].sum(axis=1)
                    if spec is None
                    else head(rows, k, *spec).predict_proba(x[test])[:, 1]
                )
                row[f"{held} >= {k}"] = roc_auc_score(yt, score)
    cols = list(next(iter(table.values())))
    print(f"training rows: {'uncapped' if cap is None else f'capped at {cap} per dataset'}")
    print("| recipe | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, row in table.items():
        print(f"| {label} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
