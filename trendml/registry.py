"""The registry's read side: the one library module that talks to MLflow (imported lazily).

Resolves a model reference into a loaded :class:`SeverityModel`: ``models:/trendml-severity@champion``
(an alias), ``models:/trendml-severity/3`` (a version), or a local directory (one written by
``SeverityModel.save``, or a downloaded MLflow model that holds one). Registry downloads are cached
under ``TRENDML_HOME/models/registry/NAME/`` (``VERSION-RUNID``) so a hot-swap reload is a local read.
Also: the champion's version, the registered versions and the alias history, and the connection to
the store named by :class:`~trendml.config.Settings` (re-pointing a moved home's artifact locations).

The write side (register, promote, rollback) is the ``training`` shell's (``training/registry.py``);
it re-uses this module. Both shells (``cli``, ``service``) read models through here, so neither
imports the other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from trendml.config import Settings
from trendml.errors import ModelNotFoundError, StateError
from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)

MODEL_NAME = "trendml-severity"
CHAMPION = "champion"
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
DEFAULT_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
HISTORY_TAG = "alias_history."
ARTIFACT_HASH_TAG = "trendml.artifact_sha256"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[^/@]+))$")
_MODEL_FILE = "severity_model.json"


# -- the store ---------------------------------------------------------------------------------
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
    creating an empty one (a read must not leave a database behind). MLflow's download progress bar is
    switched off by the entry points (``config.offline_environment``), not here."""
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


# -- models ------------------------------------------------------------------------------------
def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of a ``models:/`` URI; :class:`ModelNotFoundError` if malformed."""
    m = _URI.match(uri.strip())
    if not m:
        raise ModelNotFoundError(
            f'model URI "{uri}" is not understood; expected models:/NAME@ALIAS, models:/NAME/VERSION '
            "or a local model directory"
        )
    return m["name"], m["alias"], m["version"]


def _find_model_dir(root: Path) -> Path | None:
    if (root / _MODEL_FILE).is_file():
        return root
    found = sorted(root.rglob(_MODEL_FILE))
    return found[0].parent if found else None


def _resolve_version(client, name: str, alias: str | None, version: str | None) -> str:  # noqa: ANN001
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            return str(client.get_model_version_by_alias(name, alias).version)
        return str(client.get_model_version(name, str(version)).version)
    except MlflowException:
        pass
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise ModelNotFoundError(
            f'the registry has no model "{name}"; expected {MODEL_NAME} registered by training; '
            "run `trendml train severity`"
        ) from None
    if alias == CHAMPION:
        raise ModelNotFoundError(
            f'"{name}" has no {CHAMPION} version yet; expected one set by training or promotion; '
            f"run `trendml train severity` or `trendml models promote {name} --version N`"
        )
    what = f"alias @{alias}" if alias is not None else f"version {version}"
    raise ModelNotFoundError(
        f'"{name}" has no {what}; expected an existing version or alias; see `trendml models list`'
    )


def champion_version(settings: Settings, name: str = MODEL_NAME) -> str | None:
    """The champion's version string, or ``None`` when there is no registry, model or champion."""
    if not store_exists(settings):
        return None
    from mlflow.exceptions import MlflowException

    client = connect(settings, create=False)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def artifact_sha256(model_dir: Path) -> str:
    """SHA-256 over every file of a saved severity model directory (relative names and contents)."""
    h = hashlib.sha256()
    for p in sorted(q for q in Path(model_dir).rglob("*") if q.is_file()):
        h.update(p.relative_to(model_dir).as_posix().encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _cached_ok(target: Path, expected: str | None) -> bool:
    model_dir = _find_model_dir(target) if target.is_dir() else None
    if model_dir is None:
        return False
    return expected is None or artifact_sha256(model_dir) == expected


def _download(client, settings: Settings, name: str, version: str) -> Path:  # noqa: ANN001
    """The version's artifacts in the local cache, verified against the hash recorded at registration
    (tag ``trendml.artifact_sha256``): a cached copy that does not match is re-downloaded (logged as a
    warning); a registry artifact that does not match is refused."""
    import mlflow.artifacts

    # keyed by version *and* run id: a registry rebuilt from scratch reuses version numbers
    mv = client.get_model_version(name, version)
    run_id = mv.run_id or "norun"
    expected = (mv.tags or {}).get(ARTIFACT_HASH_TAG)
    target = settings.models_dir / "registry" / name / f"{version}-{run_id[:12]}"
    if _cached_ok(target, expected):
        return target
    if target.exists():
        logger.warning(
            "the cached copy of %s version %s does not match the hash recorded at registration: "
            "downloading it again from the registry",
            name,
            version,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        with mlflow_store(settings):
            source = client.get_model_version_download_uri(name, version)
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp))
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        logger.warning("reading the artifacts of %s version %s failed: %s", name, version, exc)
        raise StateError(
            f"the artifacts of {name} version {version} could not be read ({type(exc).__name__}); "
            "expected them in the store's mlartifacts/ under TRENDML_HOME; "
            "retrain with `trendml train severity`"
        ) from None
    if expected is not None and not _cached_ok(tmp, expected):
        shutil.rmtree(tmp, ignore_errors=True)
        raise StateError(
            f"the registry's artifacts of {name} version {version} do not match the hash recorded at "
            f"registration; expected an intact artifact; retrain with `trendml train severity` or promote "
            "another version"
        )
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target


def load_severity_model(uri: str | None, settings: Settings) -> tuple[SeverityModel, str, str]:
    """``(model, name, version)`` for a ``models:/`` URI (default: the champion) or a local directory."""
    ref = uri or DEFAULT_URI
    if not ref.startswith("models:/"):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFoundError(
                f'model "{ref}" is neither a models:/ URI nor an existing directory; expected '
                f"{DEFAULT_URI} or a model directory; run `trendml train severity` to make one"
            )
        model_dir = _find_model_dir(path) if path.is_dir() else None
        if model_dir is None:
            raise StateError(
                f"{path} holds no severity model; expected a directory with {_MODEL_FILE}; "
                "pass a directory written by training or a models:/ URI"
            )
        return SeverityModel.load(model_dir), path.resolve().name, "local"
    name, alias, version = parse_model_uri(ref)
    client = connect(settings, create=False)
    resolved = _resolve_version(client, name, alias, version)
    root = _download(client, settings, name, resolved)
    model_dir = _find_model_dir(root)
    if model_dir is None:
        raise StateError(
            f"{name} version {resolved} holds no severity model files; "
            f"expected {_MODEL_FILE} in its artifacts; "
            "retrain with `trendml train severity`"
        )
    try:
        return SeverityModel.load(model_dir), name, resolved
    except StateError as exc:  # a version registered without a hash: its cached copy may be damaged
        logger.warning(
            "the cached copy of %s version %s does not load (%s): downloading it again", name, resolved, exc
        )
        shutil.rmtree(root, ignore_errors=True)
        model_dir = _find_model_dir(_download(client, settings, name, resolved))
        if model_dir is None:
            raise
        return SeverityModel.load(model_dir), name, resolved


def alias_history(settings: Settings, name: str = MODEL_NAME) -> list[dict[str, object]]:
    """Every move of the champion alias, oldest first; ``[]`` when there is no registry or model."""
    if not store_exists(settings):
        return []
    from mlflow.exceptions import MlflowException

    client = connect(settings, create=False)
    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        return []
    events = []
    for k, v in sorted(tags.items()):
        if k.startswith(HISTORY_TAG):
            try:
                events.append(json.loads(v))
            except ValueError:
                logger.warning("unreadable alias history tag %s of %s", k, name)
    return sorted(events, key=lambda e: int(e.get("seq", 0)))


def list_versions(settings: Settings, name: str = MODEL_NAME) -> list[dict[str, object]]:
    """Registered versions with their run's headline metrics and the champion flag."""
    client = connect(settings, create=False)
    champ = champion_version(settings, name)
    rows = []
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)):
        metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
        rows.append(
            {
                "version": str(mv.version),
                "run_id": mv.run_id,
                "champion": str(mv.version) == champ,
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                "tags": dict(mv.tags),
                "metrics": metrics,
            }
        )
    return rows
