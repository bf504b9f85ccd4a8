"""Interrupted trainings (issue #21.3), with real `trendml train severity` processes and real signals:
SIGTERM ends the run KILLED (exit 143, one line, nothing registered); after SIGKILL the run is RUNNING
until the next training start marks it FAILED. Runs record pid, host, git commit and the config."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from training.compare import compare_runs
from training.runs import END_REASON_TAG, GIT_TAG, HOST_TAG, PID_TAG, fail_stale_runs, training_run
from training.tracking import connect, mlflow_store
from trendml.config import Settings

REPO = Path(__file__).resolve().parents[2]


def _start(home: Path, run_name: str) -> subprocess.Popen:
    env = dict(os.environ, TRENDML_HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "train",
            "severity",
            "--max-rows",
            "300",
            "--run-name",
            run_name,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(db: Path, proc: subprocess.Popen, run_name: str, timeout: float = 240.0) -> str:
    """The run id once ``run_name`` is RUNNING (read with sqlite3, so no MLflow client races the
    subprocess's schema migration)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if db.is_file():
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    row = con.execute(
                        "SELECT run_uuid, status FROM runs WHERE name = ?", (run_name,)
                    ).fetchone()
                finally:
                    con.close()
            except sqlite3.OperationalError:
                row = None  # tables not created yet, or locked
            if row and row[1] == "RUNNING":
                return row[0]
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"no RUNNING run {run_name} within {timeout}s")


def test_sigterm_and_sigkill(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    db = home / "mlflow.db"

    # SIGTERM: the run ends KILLED, the process exits 128+15 with one line, no version is registered
    proc = _start(home, "to-be-terminated")
    run_id = _wait_running(db, proc, "to-be-terminated")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "interrupted by SIGTERM: the run was ended KILLED" in err
    # no traceback of ours; Python prints "Exception ignored" when the signal lands in a GC callback
    # (then training.runs signals again, see _Signals)
    assert "Traceback" not in err or "Exception ignored" in err, err[-2000:]
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )
    killed = client.get_run(run_id)
    exp_id = killed.info.experiment_id
    assert killed.info.status == "KILLED"
    tags = killed.data.tags
    assert tags[PID_TAG] == str(proc.pid) and tags[HOST_TAG] and tags[GIT_TAG]
    arts = {a.path for a in client.list_artifacts(run_id)}
    assert "config.yaml" in arts
    cfg = yaml.safe_load(Path(client.download_artifacts(run_id, "config.yaml", str(tmp_path))).read_text())
    assert cfg["model"]["features"] and cfg["promotion"]["floors"]
    assert not client.search_model_versions("name='trendml-severity'")

    # SIGKILL: nothing can end the run, so it stays RUNNING ...
    proc = _start(home, "to-be-killed")
    run_id = _wait_running(db, proc, "to-be-killed")
    proc.kill()
    proc.communicate(timeout=60)
    assert client.get_run(run_id).info.status == "RUNNING"
    rows = compare_runs(settings)
    assert rows.set_index("run_id").loc[run_id, "status"] == "RUNNING (process gone)"
    # ... until the next training start marks it FAILED, with the reason
    with mlflow_store(settings), training_run(connect(settings), exp_id, "next-start", {}) as live:
        dead = client.get_run(run_id)
        assert dead.info.status == "FAILED" and str(proc.pid) in dead.data.tags[END_REASON_TAG]
        assert client.get_run(live.info.run_id).info.status == "RUNNING"
    assert client.get_run(live.info.run_id).info.status == "FINISHED"

    # a RUNNING run whose process lives is left alone; once that process is gone it is marked
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other = client.create_run(exp_id, tags={PID_TAG: str(sleeper.pid), HOST_TAG: socket.gethostname()})
        assert fail_stale_runs(client, [exp_id]) == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert fail_stale_runs(client, [exp_id]) == [other.info.run_id]
    assert client.get_run(other.info.run_id).info.status == "FAILED"
