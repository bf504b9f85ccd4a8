"""Scratch A/B behind docs/severity.md, "Third pass": the leave-one-dataset-out recipe
(``training/lodo.py``) with its training rows capped at 2,000 per dataset (the default) against
uncapped, in one process, on the same frame and cached embeddings (needs OLID and HatEval under the
shared data directory; their texts are embedded once through the cache).

    python -m benchmarks.experiments.severity_lodo_rows

Prints one markdown table; texts are never printed.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


def lodo_frame() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every dataset's rows on the default split (``TRENDML_HOME``'s settings) and each text's
    embedding through the configured (cached) embedder: what the LODO experiments share."""
    from training.config import load_config
    from training.data import load_training_data
    from trendml.config import Settings
    from trendml.embed import embedder_from_settings

    settings = Settings.from_env()
    cfg = load_config(None)
    data = load_training_data(
        settings,
        ["davidson", "toxigen_seeds", "toxic_spans", "olid", "hateval"],
        explicit=True,
        seed=int(cfg["split"]["seed"]),
        test_fraction=dict(cfg["split"]["test_fraction"]),
    )
    frame = data.frame
    texts = list(dict.fromkeys(frame["text"].tolist()))
    return frame, dict(zip(texts, embedder_from_settings(settings).encode(texts), strict=True))


def main() -> None:
    from training.lodo import LODO_MAX_TRAIN_ROWS, leave_one_dataset_out

    frame, lookup = lodo_frame()

    def embed(t):  # noqa: ANN001, ANN202
        return np.stack([lookup[x] for x in t])

    rows = {}
    for label, cap in (("capped 2,000 per dataset (default)", LODO_MAX_TRAIN_ROWS), ("uncapped", None)):
        c0 = time.process_time()
        rows[label] = leave_one_dataset_out(frame, embed, max_train_rows=cap)
        rows[label]["cpu_s"] = time.process_time() - c0
    keys = [
        "lodo.olid.auc_ge1",
        "lodo.hateval.auc_ge2",
        "lodo.toxic_spans.auc_ge2",
        "lodo.toxigen_seeds.auc_ge2",
        "lodo_in.olid.auc_ge1",
        "lodo_in.hateval.auc_ge2",
        "lodo_base.olid.auc_ge1",
        "lodo_base.hateval.auc_ge2",
        "cpu_s",
    ]
    print("| | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, m in rows.items():
        print(f"| {label} | " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in keys) + " |")
    print(
        "training rows per dataset:",
        pd.Series(frame[frame["split"] == "train"]["dataset"]).value_counts().to_dict(),
    )


if __name__ == "__main__":
    main()
