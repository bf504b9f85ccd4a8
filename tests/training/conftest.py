"""A real MLflow store (SQLite + local artifacts) in a tmp TRENDML_HOME, with a tiny model trained
and registered once per session: version 1 (the champion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendml.config import Settings

TINY = {"model": {"n_folds": 2}}
TINY_ROWS = 300
TINY_DATA = ["davidson", "toxigen_seeds"]


@pytest.fixture(scope="session")
def registry_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry_home")


@pytest.fixture(scope="session")
def registry_settings(registry_home) -> Settings:
    return Settings(home=registry_home)


@pytest.fixture(scope="session")
def first_run(registry_settings, cached_embedder):
    """Version 1 of trendml-severity, trained on a ~300-row-per-dataset subsample."""
    from training.train import train_severity

    return train_severity(
        registry_settings,
        datasets=TINY_DATA,
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config=TINY,
        run_name="tiny-v1",
    )
