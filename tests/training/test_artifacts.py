"""Registered artifacts (issue #21.5, #21.6): a hash recorded at registration; a corrupt cached copy is
re-downloaded (and said so), a corrupt registry artifact is refused, the service loader recovers and its
error shows no server path; the MLflow pyfunc predicts for every registered version and honours
TRENDML_EMBEDDING_MODEL."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from training.registry import (
    ARTIFACT_HASH_TAG,
    _find_model_dir,
    artifact_sha256,
    list_versions,
    load_severity_model,
)
from trendml.config import Settings
from trendml.errors import StateError


def _damage(model_dir: Path) -> None:
    """Truncate the model's weights (every file but the JSON metadata)."""
    for p in model_dir.iterdir():
        if p.is_file() and p.suffix != ".json":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _cached_dir(settings: Settings, version: str) -> Path:
    root = settings.models_dir / "registry" / "trendml-severity"
    return _find_model_dir(next(root.glob(f"{version}-*")))


def test_corrupt_copies(first_run, registry_home, cached_embedder, tmp_path, caplog, monkeypatch, capsys):
    from service.models import ModelManager
    from tests.training.test_score_cli import run_cli

    home = tmp_path / "home"
    shutil.copytree(registry_home, home)
    settings = Settings(home=home)
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )
    load_severity_model("models:/trendml-severity/1", settings)
    cached = _cached_dir(settings, "1")
    recorded = client.get_model_version("trendml-severity", "1").tags[ARTIFACT_HASH_TAG]
    assert recorded == artifact_sha256(cached) and len(recorded) == 64

    # a damaged cached copy is verified, downloaded again, and the warning says so
    _damage(cached)
    with caplog.at_level(logging.WARNING, logger="training.registry"):
        model, _, version = load_severity_model("models:/trendml-severity/1", settings)
    assert version == "1" and "downloading it again" in caplog.text
    assert artifact_sha256(_cached_dir(settings, "1")) == recorded

    # the CLI says so too, and scores
    _damage(_cached_dir(settings, "1"))
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "text": "good morning"}\n')
    monkeypatch.setenv("TRENDML_HOME", str(home))
    code, _, err = run_cli(
        ["score", str(items), "-o", str(tmp_path / "s.jsonl"), "--model", "models:/trendml-severity/1"],
        capsys,
    )
    assert code == 0 and "downloading it again" in err

    # the service's loader (what POST /v1/reload runs) recovers from a damaged cache
    _damage(_cached_dir(settings, "1"))
    manager = ModelManager(settings, cached_embedder, uri="models:/trendml-severity/1", interval_s=0)
    assert manager.refresh() and manager.active.version == "1"

    # a damaged registry artifact is refused; the error clients see names no server path
    mv = client.get_model_version("trendml-severity", "1")
    source = Path(client.get_model_version_download_uri("trendml-severity", "1").removeprefix("file://"))
    if not source.is_dir():  # models:/m-... -> the logged model's storage location
        source = Path(mv.storage_location.removeprefix("file://"))
    _damage(_find_model_dir(source))
    _damage(_cached_dir(settings, "1"))
    with pytest.raises(StateError, match="do not match the hash recorded at registration"):
        load_severity_model("models:/trendml-severity/1", settings)
    manager = ModelManager(settings, cached_embedder, uri="models:/trendml-severity/1", interval_s=0)
    assert not manager.refresh() and manager.active is None
    assert "hash recorded at registration" in manager.last_error
    assert str(home) not in manager.last_error and str(tmp_path) not in manager.last_error


def test_pyfunc_predicts_for_every_version(first_run, registry_settings, monkeypatch):
    import mlflow.pyfunc

    from training.pyfunc import OUTPUT_COLUMNS
    from training.tracking import mlflow_store
    from trendml.embed.sentence import default_model_path

    frame = pd.DataFrame({"text": ["have a nice day", "see you at the game tonight"]})
    versions = [r["version"] for r in list_versions(registry_settings)]
    assert versions
    with mlflow_store(registry_settings):
        for v in versions:
            out = mlflow.pyfunc.load_model(f"models:/trendml-severity/{v}").predict(frame)
            assert list(out.columns) == OUTPUT_COLUMNS and len(out) == 2
            assert out["severity"].between(0, 3).all()
            assert ((out[["p0", "p1", "p2", "p3"]].sum(axis=1) - 1).abs() < 1e-6).all()
        # TRENDML_EMBEDDING_MODEL is honoured: the same MiniLM by path works, a wrong path is named
        monkeypatch.setenv("TRENDML_EMBEDDING_MODEL", str(default_model_path()))
        assert len(mlflow.pyfunc.load_model(f"models:/trendml-severity/{versions[0]}").predict(frame)) == 2
        monkeypatch.setenv("TRENDML_EMBEDDING_MODEL", str(registry_settings.home / "no-such-embedder"))
        with pytest.raises(Exception, match="no-such-embedder"):  # noqa: PT011 - MLflow wraps the error
            mlflow.pyfunc.load_model(f"models:/trendml-severity/{versions[0]}")
