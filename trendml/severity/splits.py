"""Fixed, seeded, stratified test splits, derived from the data itself (no stored id lists).

Rule (written down so every run compares on the same rows):

- datasets with an official split column (OLID ``train``/``test``, HatEval ``train``/``dev``/``test``,
  ToxicSpans ``train``/``test`` = SemEval-2021 Task 5 test) keep it; HatEval ``dev`` is used for training.
- the others (Davidson, ToxiGen seeds) are split by content: each row gets
  ``u = sha256(f"{seed}:{content_hash(normalise_text(text))}")`` read as a fraction in [0, 1); within
  each severity class the rows with the smallest ``u`` (a ``test_fraction`` share, rounded) are the
  test set. Identical texts get the same ``u`` and so land on the same side (no train/test leakage of
  duplicates), the split is stratified by class, and it does not depend on row order.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from trendml.text import content_hash, normalise_text

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20260301
DEFAULT_TEST_FRACTION = 0.2
OFFICIAL_TEST = {"olid": "test", "hateval": "test", "toxic_spans": "test"}


def split_key(text: str, seed: int = DEFAULT_SEED) -> float:
    """A deterministic pseudo-uniform number in [0, 1) for a text (its place in the split order)."""
    digest = hashlib.sha256(f"{seed}:{content_hash(normalise_text(text))}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hashed_stratified_split(
    texts: pd.Series,
    labels: pd.Series,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """Boolean mask of test rows: per class, the ``test_fraction`` share with the smallest split key."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction is {test_fraction}; expected a number strictly between 0 and 1")
    keys = np.array([split_key(t, seed) for t in texts], dtype=np.float64)
    labels_arr = np.asarray(labels)
    mask = np.zeros(len(keys), dtype=bool)
    for cls in np.unique(labels_arr):
        idx = np.flatnonzero(labels_arr == cls)
        n_test = int(round(test_fraction * len(idx)))
        # ties between duplicates are kept together by giving the cut at a key value, not a count
        order = idx[np.argsort(keys[idx], kind="stable")]
        if n_test == 0:
            continue
        cut = keys[order[n_test - 1]]
        mask[idx[keys[idx] <= cut]] = True
    return mask


def assign_splits(
    df: pd.DataFrame, *, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = DEFAULT_SEED
) -> pd.Series:
    """``"train"`` or ``"test"`` for every row of a loaded dataset table (columns ``text, severity,
    dataset`` and, where official, ``split``)."""
    out = pd.Series("train", index=df.index, dtype=object)
    for name, part in df.groupby("dataset", sort=False):
        official = OFFICIAL_TEST.get(str(name))
        if official is not None and "split" in part.columns:
            out.loc[part.index] = np.where(part["split"] == official, "test", "train")
        else:
            mask = hashed_stratified_split(
                part["text"], part["severity"], test_fraction=test_fraction, seed=seed
            )
            out.loc[part.index] = np.where(mask, "test", "train")
    return out


def split_digest(ids: pd.Series) -> str:
    """A short fingerprint of a set of row ids (logged so two runs can prove they used the same test set)."""
    h = hashlib.sha256()
    for i in sorted(map(str, ids)):
        h.update(i.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
