"""Registered artifacts (issue #21.5, #21.6): a hash recorded at registration; a corrupt cached copy is
re-downloaded (and said so), a corrupt registry artifact is refused, the service loader recovers and its
error shows no server path; the MLflow pyfunc predicts for every registered version and honours
TRENDML_EMBEDDING_MODEL."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
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

REPO = Path(__file__).resolve().parents[2]


def _damage(model_dir: Path) -> None:
    """Truncate the model's weights (every file but the JSON metadata)."""
    for p in model_dir.iterdir():
        if p.is_file() and p.suffix != ".json":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _cached_dir(settings: Settings, version: str) -> Path:
    root = settings.models_dir / "registry" / "trendml-severity"
    return _find_model_dir(next(root.glob(f"{version}-*")))


def test_corrupt_copies(first_run, registry_home, cached_embedder, tmp_path, caplog):
    from service.models import ModelManager

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

    # the CLI (a real process, its own logging) says so too, and scores
    _damage(_cached_dir(settings, "1"))
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "text": "good morning"}\n')
    env = dict(os.environ, TRENDML_HOME=str(home), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "score", str(items), "-o", str(tmp_path / "s.jsonl")]
        + ["--model", "models:/trendml-severity/1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "does not match the hash recorded at registration: downloading it again" in proc.stderr

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


def test_pyfunc_predicts_for_every_version(first_run, registry_settings):
    import mlflow.pyfunc

    from training.pyfunc import OUTPUT_COLUMNS
    from training.tracking import mlflow_store

    versions = [r["version"] for r in list_versions(registry_settings)]
    assert versions
    with mlflow_store(registry_settings):
        for v in versions:
            out = mlflow.pyfunc.load_model(f"models:/trendml-severity/{v}").predict(FRAME)
            assert list(out.columns) == OUTPUT_COLUMNS and len(out) == 2
            assert out["severity"].between(0, 3).all()
            assert ((out[["p0", "p1", "p2", "p3"]].sum(axis=1) - 1).abs() < 1e-6).all()


FRAME = pd.DataFrame({"text": ["have a nice day", "see you at the game tonight"]})


def test_pyfunc_with_a_non_default_embedder(tmp_path, monkeypatch):
    """Issue #21.6: trained with TRENDML_EMBEDDING_MODEL set to another model directory, the logged
    pyfunc passes its own check, registers, and predicts; the variable is honoured when loading."""
    import mlflow.pyfunc

    from training.tracking import mlflow_store
    from training.train import train_severity
    from trendml.embed.sentence import default_model_path

    other = tmp_path / "minilm-other"  # the same weights under another name: another embedder id
    other.symlink_to(default_model_path(), target_is_directory=True)
    monkeypatch.delenv("TRENDML_EMBEDDING_MODEL", raising=False)
    # no shared datasets (no cross-dataset evaluation) and no behavioural suite: this embedder has no
    # cache, so every evaluation text would be embedded again for a check this test is not about
    settings = Settings(
        home=tmp_path / "home", embedding_model=str(other), shared_data_dir=tmp_path / "no-shared-data"
    )
    result = train_severity(
        settings,
        datasets=["davidson", "toxigen_seeds"],
        max_rows_per_dataset=100,
        config={"model": {"n_folds": 2, "n_repeats": 1}, "baseline": False, "behaviour": False},
        run_name="other-embedder",
    )
    assert result.version == "1"
    uri = "models:/trendml-severity/1"
    with mlflow_store(settings):
        assert len(mlflow.pyfunc.load_model(uri).predict(FRAME)) == 2  # the recorded embedder
        monkeypatch.setenv("TRENDML_EMBEDDING_MODEL", str(other))
        assert len(mlflow.pyfunc.load_model(uri).predict(FRAME)) == 2
        monkeypatch.setenv("TRENDML_EMBEDDING_MODEL", str(tmp_path / "no-such-embedder"))
        with pytest.raises(Exception, match="no-such-embedder"):  # noqa: PT011 - MLflow wraps it
            mlflow.pyfunc.load_model(uri)
        monkeypatch.setenv("TRENDML_EMBEDDING_MODEL", str(default_model_path()))
        with pytest.raises(Exception, match="trained on minilm-other@"):  # noqa: PT011
            mlflow.pyfunc.load_model(uri)
