"""Splits are deterministic, stratified, duplicate-safe and keep official splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trendml.datasets import load_davidson
from trendml.severity.splits import assign_splits, hashed_stratified_split, split_digest


def test_hashed_split_is_stratified_deterministic_and_order_free():
    df = load_davidson().iloc[:3000]
    mask = hashed_stratified_split(df["text"], df["severity"], test_fraction=0.2)
    for cls, part in df.groupby("severity"):
        share = mask[part.index].mean()
        assert abs(share - 0.2) < 0.02, (cls, share)
    shuffled = df.sample(frac=1.0, random_state=3)
    mask2 = hashed_stratified_split(shuffled["text"], shuffled["severity"], test_fraction=0.2)
    assert set(shuffled["id"][mask2]) == set(df["id"][mask])
    other_seed = hashed_stratified_split(df["text"], df["severity"], test_fraction=0.2, seed=1)
    assert set(df["id"][other_seed]) != set(df["id"][mask])


def test_duplicates_land_on_the_same_side():
    texts = pd.Series([f"text {i % 50}" for i in range(200)])  # each text 4 times
    labels = pd.Series(np.zeros(200, dtype=int))
    mask = hashed_stratified_split(texts, labels, test_fraction=0.3)
    sides = pd.Series(mask).groupby(texts).nunique()
    assert (sides == 1).all()
    assert 0.2 < mask.mean() < 0.4


def test_official_split_kept():
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["w", "x", "y", "z"],
            "severity": [0, 2, 0, 3],
            "dataset": ["hateval"] * 4,
            "split": ["train", "test", "dev", "test"],
        }
    )
    assert assign_splits(df).tolist() == ["train", "test", "train", "test"]
    assert split_digest(df["id"]) == split_digest(df["id"][::-1])
