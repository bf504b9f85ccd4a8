"""MLflow connection for trendml: tracking + registry at ``settings.mlflow_tracking_uri`` (SQLite
under ``TRENDML_HOME`` by default), artifacts under ``settings.mlflow_artifact_root``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trendml.config import Settings
from trendml.errors import ModelNotFoundError, StateError

logger = logging.getLogger(__name__)

MODEL_NAME = "trendml-severity"
CHAMPION = "champion"
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    return None


def check_server(uri: str, *, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when an ``http(s)://`` tracking or registry server does not answer TCP:
    MLflow's own client retries a refused connection for minutes before it gives up."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise StateError(
        f"the MLflow server at {parts.scheme}://{parts.hostname}:{port} does not answer ({reason}); "
        "expected a running `mlflow server`; start it or fix MLFLOW_TRACKING_URI"
    )


def store_exists(settings: Settings) -> bool:
    """False when the tracking store is a SQLite file that does not exist yet (never creates it)."""
    path = _sqlite_path(settings.mlflow_tracking_uri)
    return path is None or path.is_file()


# MLflow writes absolute artifact locations into its store; these columns hold them (MLflow 3).
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)
_MARKER = "/mlartifacts/"


def _rebased(value: str, root: Path) -> str | None:
    """``value`` (``file://`` URI or path) moved under ``root`` when it points into another home's
    ``mlartifacts/``; ``None`` when it needs no change."""
    scheme = "file://" if value.startswith("file://") else ""
    if scheme == "" and not value.startswith("/"):
        return None  # models:/..., runs:/..., relative: not a location in a home
    path = value[len(scheme) :]
    i = path.find(_MARKER)
    if i < 0:
        return None
    new = str(root) + path[i + len(_MARKER) - 1 :]
    return None if new == path else scheme + new


def rebase_store(settings: Settings) -> int:
    """Re-point the artifact locations of the home's own SQLite store at *this* home's ``mlartifacts/``.

    MLflow records absolute ``file://`` locations, so a copied home would write into (and read from)
    the original, and a moved home would look for artifacts where they no longer are. Every trendml
    connection to the default store (``TRENDML_HOME/mlflow.db``) first rewrites locations that point
    into another ``.../mlartifacts/`` (and the ``Default`` experiment, which MLflow creates under the
    current directory's ``mlruns/``). A store at a custom ``MLFLOW_TRACKING_URI`` is never touched.
    Returns the number of values rewritten."""
    import sqlite3

    db = _sqlite_path(settings.mlflow_tracking_uri)
    if settings.tracking_uri is not None or db is None or not db.is_file():
        return 0
    root = settings.mlflow_artifact_root.resolve()
    changed = 0
    con = sqlite3.connect(str(db), timeout=30)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        updates: list[tuple[str, str, str, int]] = []
        for table, col in _LOCATION_COLUMNS:
            if table not in tables:
                continue
            cols = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
            if col not in cols:
                continue
            rows = con.execute(
                f"SELECT rowid, {col} FROM {table} WHERE {col} LIKE '%{_MARKER}%' "  # noqa: S608
                f"AND {col} NOT LIKE ? AND {col} NOT LIKE ?",
                (f"{root}/%", f"file://{root}/%"),
            ).fetchall()
            for rowid, value in rows:
                new = _rebased(value, root)
                if new is not None:
                    updates.append((table, col, new, rowid))
        if "experiments" in tables:
            row = con.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0").fetchone()
            default = (root / "0").as_uri()
            if row and row[0] and _MARKER not in row[0] and row[0] != default:
                con.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default,)
                )
                changed += 1
        for table, col, new, rowid in updates:
            con.execute(f"UPDATE {table} SET {col} = ? WHERE rowid = ?", (new, rowid))  # noqa: S608
        changed += len(updates)
        con.commit()
    finally:
        con.close()
    if changed:
        logger.info("re-pointed %d artifact location(s) of %s at %s", changed, db, root)
    return changed


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
    check_server(uri)
    if settings.registry_uri:
        check_server(settings.registry_uri)
    if create:
        settings.ensure_home()
    rebase_store(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=settings.registry_uri or uri)


@contextmanager
def mlflow_store(settings: Settings) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``) at the configured store for the
    duration of the block, then restore the previous URIs *and* the ``MLFLOW_*_URI`` environment
    variables MLflow sets as a side effect (so nothing leaks into later ``Settings.from_env()``)."""
    import mlflow

    check_server(settings.mlflow_tracking_uri)
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
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        # a tracking server keeps the artifacts (its --artifacts-destination, proxied over HTTP), so
        # replicas and training jobs on other machines read the same files
        return client.create_experiment(name)
    location = (settings.mlflow_artifact_root / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)
