"""A small real subset of Davidson + ToxiGen seeds, embedded once per session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trendml.datasets import load_davidson, load_toxigen_seeds
from trendml.severity.splits import assign_splits
from trendml.text import normalise_text


@pytest.fixture(scope="session")
def small_data() -> pd.DataFrame:
    """~500 rows: every Davidson hate row in a hashed slice plus offensive/neither, and ToxiGen seeds."""
    dav = load_davidson()
    tox = load_toxigen_seeds()
    parts = [
        dav[dav["severity"] == 2].iloc[::8],
        dav[dav["severity"] == 1].iloc[::120],
        dav[dav["severity"] == 0].iloc[::30],
        tox.iloc[::4],
    ]
    df = pd.concat(parts, ignore_index=True)
    df["text"] = df["text"].map(normalise_text)
    df["split"] = assign_splits(df).values
    return df


@pytest.fixture(scope="session")
def small_vectors(small_data, cached_embedder) -> np.ndarray:
    return cached_embedder.encode(small_data["text"].tolist())


@pytest.fixture(scope="session")
def fitted_small(small_data, small_vectors, cached_embedder):
    from trendml.embed.base import embedder_id
    from trendml.severity import SeverityModel

    train = (small_data["split"] == "train").to_numpy()
    model = SeverityModel(embedder_id=embedder_id(cached_embedder), n_folds=2)
    texts = small_data["text"].tolist()
    return model.fit(
        [t for t, m in zip(texts, train, strict=True) if m],
        small_vectors[train],
        small_data["severity"].to_numpy()[train],
    )
