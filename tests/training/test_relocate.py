"""A relocatable store (issue #21.2), with real MLflow: copy a home, train and score in the copy and the
original stays byte-for-byte untouched; move the copy, and scoring, the service's model loader and a real
``trendml serve`` on the moved home (one server start, scoring over HTTP) work."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from mlflow import MlflowClient

from tests.service.harness import make_keys, start_server
from tests.training.conftest import TINY_DATA, TINY_ROWS
from training.registry import champion_version, load_severity_model
from trendml.config import Settings


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _db_text(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "\n".join(
            str(v)
            for table, col in (
                ("experiments", "artifact_location"),
                ("runs", "artifact_uri"),
                ("logged_models", "artifact_location"),
                ("model_versions", "storage_location"),
            )
            for (v,) in con.execute(f"SELECT {col} FROM {table}")  # noqa: S608
        )
    finally:
        con.close()


def test_copy_then_move_a_home(first_run, registry_home, cached_embedder, tmp_path):
    from service.models import ModelManager
    from training.train import train_severity

    before = _snapshot(registry_home)
    copy = tmp_path / "copy"
    shutil.copytree(registry_home, copy)
    settings = Settings(home=copy)

    trained = train_severity(
        settings,
        datasets=TINY_DATA,
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config={"model": {"n_folds": 2, "n_repeats": 1}, "baseline": False},
        run_name="tiny-in-copy",
        register=True,
    )
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )
    assert client.get_run(trained.run_id).info.artifact_uri.startswith((copy / "mlartifacts").as_uri())
    # MLflow's Default experiment (created under the current directory's mlruns/) points into the home too
    assert client.get_experiment("0").artifact_location == (copy / "mlartifacts" / "0").as_uri()
    model, _, version = load_severity_model(f"models:/trendml-severity/{trained.version}", settings)
    assert (
        version == trained.version
        and model.embedder_id == cached_embedder.name + "@" + cached_embedder.version
    )
    assert str(registry_home) not in _db_text(copy / "mlflow.db")
    assert _snapshot(registry_home) == before  # the original home is untouched

    # move the copy; drop its download cache so scoring must read the moved artifacts
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(copy), str(moved))
    shutil.rmtree(moved / "models" / "registry")
    msettings = Settings(home=moved)
    champ = champion_version(msettings)
    _, _, v = load_severity_model(None, msettings)
    assert v == champ
    _, _, v = load_severity_model(f"models:/trendml-severity/{trained.version}", msettings)
    assert v == trained.version
    assert str(copy) not in _db_text(moved / "mlflow.db")
    manager = ModelManager(msettings, cached_embedder, interval_s=0)  # what `trendml serve` runs
    assert manager.refresh() and manager.active.version == champ and manager.last_error is None

    # ... and a real `trendml serve` on the moved home loads the champion and scores over HTTP
    shutil.rmtree(moved / "models" / "registry")  # again: the server reads the moved artifacts itself
    key = make_keys(moved, "relocated")["triage"]
    server = start_server(moved, keys={"triage": key}, TRENDML_RELOAD_INTERVAL_S="0")
    try:
        body = {"items": [{"id": "moved-1", "text": "hello"}]}
        r = server.request("POST", "/v1/score", "triage", json=body)
        assert r.status_code == 200, r.text
        assert r.json()[0]["model"]["version"] == champ and 0 <= r.json()[0]["severity"] <= 3
        status = server.request("GET", "/v1/model", "triage").json()
        assert status["ready"] and status["last_error"] is None
    finally:
        server.stop()
    assert str(copy) not in _db_text(moved / "mlflow.db")
    assert _snapshot(registry_home) == before
