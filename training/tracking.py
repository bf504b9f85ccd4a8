"""MLflow connection for trendml: tracking + registry at ``settings.mlflow_tracking_uri`` (SQLite
under ``TRENDML_HOME`` by default), artifacts under ``settings.mlflow_artifact_root``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trendml.config import Settings
from trendml.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

MODEL_NAME = "trendml-severity"
CHAMPION = "champion"
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


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
    from mlflow import MlflowClient

    uri = settings.mlflow_tracking_uri
    if not create and not store_exists(settings):
        raise ModelNotFoundError(
            f"there is no model registry at {uri}; expected one made by training; "
            "run `trendml train severity` first"
        )
    if create:
        settings.ensure_home()
    return MlflowClient(tracking_uri=uri, registry_uri=settings.registry_uri or uri)


@contextmanager
def mlflow_store(settings: Settings) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``) at the configured store for the
    duration of the block, then restore the previous URIs *and* the ``MLFLOW_*_URI`` environment
    variables MLflow sets as a side effect (so nothing leaks into later ``Settings.from_env()``)."""
    import mlflow

    saved_env = {k: os.environ.get(k) for k in _URI_ENV}
    old_tracking = mlflow.get_tracking_uri() if saved_env["MLFLOW_TRACKING_URI"] else None
    old_registry = saved_env["MLFLOW_REGISTRY_URI"]
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.mlflow_tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(old_tracking)
        mlflow.set_registry_uri(old_registry)  # type: ignore[arg-type]
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ensure_experiment(client, settings: Settings, name: str) -> str:  # noqa: ANN001
    """The experiment id, creating it with its artifacts under ``mlflow_artifact_root``."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (settings.mlflow_artifact_root / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)
