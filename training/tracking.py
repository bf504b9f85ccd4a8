"""MLflow connection for trendml: tracking + registry at ``settings.mlflow_tracking_uri`` (SQLite
under ``TRENDML_HOME`` by default), artifacts under ``settings.mlflow_artifact_root``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from trendml.config import Settings
from trendml.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

MODEL_NAME = "trendml-severity"
CHAMPION = "champion"


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    return None


def store_exists(settings: Settings) -> bool:
    """False when the tracking store is a SQLite file that does not exist yet (never creates it)."""
    path = _sqlite_path(settings.mlflow_tracking_uri)
    return path is None or path.is_file()


def connect(settings: Settings, *, create: bool = True):  # noqa: ANN201 - MlflowClient
    """Point MLflow at the configured store and return a client.

    With ``create=False`` a missing SQLite store raises :class:`ModelNotFoundError` instead of
    creating an empty one (a read must not leave a database behind)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    uri = settings.mlflow_tracking_uri
    if not create and not store_exists(settings):
        raise ModelNotFoundError(
            f"there is no model registry at {uri}; expected one made by training; "
            "run `trendml train severity` first"
        )
    if create:
        settings.ensure_home()
    registry = settings.registry_uri or uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(registry)
    return MlflowClient(tracking_uri=uri, registry_uri=registry)


def ensure_experiment(client, settings: Settings, name: str) -> str:  # noqa: ANN001
    """The experiment id, creating it with its artifacts under ``mlflow_artifact_root``."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (settings.mlflow_artifact_root / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)
