"""Scratch A/B behind docs/severity.md, "Fifth pass": leave-one-dataset-out for OLID and HatEval with
the default's stacked recipe (word/char TF-IDF + NB-weighted TF-IDF + embedding, stacked on
out-of-fold log-probabilities; no source gate: a held-out dataset has no source of its own) beside the
LODO recipe (the class-weighted embedding LR), on the same frame and cached embeddings
(:func:`benchmarks.experiments.severity_lodo_rows.lodo_frame`; needs OLID and HatEval under the shared
data directory).

    python -m benchmarks.experiments.severity_lodo_stacked

Prints one markdown table; texts are never printed.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.experiments.severity_lodo_rows import lodo_frame

STACKED = {
    "features": "stack_nb",
    "calibration": "vector",
    "n_folds": 3,
    "n_repeats": 1,
    "source_aware": False,
    "class_weight": "balanced",
    "tune_decision": False,
    "threat_min_precision": None,
}
KEYS = ("lodo.olid.auc_ge1", "lodo.hateval.auc_ge2", "lodo_in.olid.auc_ge1", "lodo_in.hateval.auc_ge2")


def main() -> None:
    from training.lodo import LODO_MAX_TRAIN_ROWS, leave_one_dataset_out

    frame, lookup = lodo_frame()

    def embed(t):  # noqa: ANN001, ANN202
        return np.stack([lookup[x] for x in t])

    print("| recipe | " + " | ".join(KEYS) + " | CPU s |")
    print("|---|" + "---|" * (len(KEYS) + 1))
    for label, params, cap in (
        ("embedding LR (the LODO recipe), capped", None, LODO_MAX_TRAIN_ROWS),
        ("stacked default recipe, capped", STACKED, LODO_MAX_TRAIN_ROWS),
        ("stacked default recipe, uncapped", STACKED, None),
    ):
        c0 = time.process_time()
        m = leave_one_dataset_out(
            frame,
            embed,
            held_out=("olid", "hateval"),
            model_params=params,
            max_train_rows=cap,
            baseline=False,
        )
        cells = " | ".join(f"{m.get(k, float('nan')):.3f}" for k in KEYS)
        print(f"| {label} | {cells} | {time.process_time() - c0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
