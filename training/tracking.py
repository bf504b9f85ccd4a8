"""MLflow connection for the training shell: the store itself lives in :mod:`trendml.registry`
(tracking + registry at ``settings.mlflow_tracking_uri``, SQLite under ``TRENDML_HOME`` by default,
artifacts under ``settings.mlflow_artifact_root``); this module adds what only training needs."""

from __future__ import annotations

import os

from trendml.config import Settings
from trendml.registry import (
    CHAMPION,
    MODEL_NAME,
    _rebased,
    check_server,
    mlflow_store,
    rebase_store,
    store_exists,
)
from trendml.registry import connect as _connect

__all__ = [
    "CHAMPION",
    "MODEL_NAME",
    "_rebased",
    "check_server",
    "connect",
    "ensure_experiment",
    "mlflow_store",
    "rebase_store",
    "store_exists",
]


def connect(settings: Settings, *, create: bool = True):  # noqa: ANN201 - MlflowClient
    """:func:`trendml.registry.connect`, with MLflow's artifact progress bar off (training logs
    artifacts from library calls and tests that do not go through an entry point)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return _connect(settings, create=create)


def ensure_experiment(client, settings: Settings, name: str) -> str:  # noqa: ANN001
    """The experiment id, creating it with its artifacts under ``mlflow_artifact_root``."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        # a tracking server keeps the artifacts (its --artifacts-destination, proxied over HTTP), so
        # replicas and training jobs on other machines read the same files
        return client.create_experiment(name)
    location = (settings.mlflow_artifact_root / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)
