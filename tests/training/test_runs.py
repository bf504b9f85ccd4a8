"""Interrupted trainings (issue #21.3), with real `trendml train severity` processes and real signals:
SIGTERM ends the run KILLED (exit 143, one line, nothing registered); after SIGKILL the run is RUNNING
until the next training start marks it FAILED. Runs record pid, host, git commit and the config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from training.runs import END_REASON_TAG, GIT_TAG, HOST_TAG, PID_TAG, fail_stale_runs, training_run
from training.tracking import connect
from trendml.config import Settings

REPO = Path(__file__).resolve().parents[2]


def _start(home: Path, run_name: str) -> subprocess.Popen:
    env = dict(os.environ, TRENDML_HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trendml.cli.main",
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


def _wait_running(client_for, proc: subprocess.Popen, run_name: str, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        client = client_for()
        if client is not None:
            exp = client.get_experiment_by_name("trendml-severity")
            if exp is not None:
                runs = client.search_runs(
                    [exp.experiment_id], filter_string=f"attributes.run_name = '{run_name}'"
                )
                if runs and runs[0].info.status == "RUNNING":
                    return exp.experiment_id, runs[0]
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"no RUNNING run {run_name} within {timeout}s")


def test_sigterm_and_sigkill(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    db = home / "mlflow.db"

    def client_for():
        if not db.is_file():
            return None
        return MlflowClient(
            tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
        )

    # SIGTERM: the run ends KILLED, the process exits 128+15 with one line, no version is registered
    proc = _start(home, "to-be-terminated")
    exp_id, run = _wait_running(client_for, proc, "to-be-terminated")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "interrupted by SIGTERM: the run was ended KILLED" in err and "Traceback" not in err
    client = client_for()
    killed = client.get_run(run.info.run_id)
    assert killed.info.status == "KILLED"
    tags = killed.data.tags
    assert tags[PID_TAG] == str(proc.pid) and tags[HOST_TAG] and tags[GIT_TAG]
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.yaml" in arts
    cfg = yaml.safe_load(
        Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))).read_text()
    )
    assert cfg["model"]["features"] and cfg["promotion"]["floors"]
    assert not client.search_model_versions("name='trendml-severity'")

    # SIGKILL: nothing can end the run, so it stays RUNNING ...
    proc = _start(home, "to-be-killed")
    _, run = _wait_running(client_for, proc, "to-be-killed")
    proc.kill()
    proc.communicate(timeout=60)
    assert client.get_run(run.info.run_id).info.status == "RUNNING"
    # ... until the next training start marks it FAILED, with the reason
    with training_run(connect(settings), exp_id, "next-start", {}) as live:
        dead = client.get_run(run.info.run_id)
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
