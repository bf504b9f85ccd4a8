"""``trendml score/embed --engine ray`` on a real local Ray cluster (``ray.init(num_cpus=2)``, one per
module): the same contract as the local path, input from a directory of JSONL + Parquet files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import call

ray = pytest.importorskip("ray")

N_ITEMS = 120


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def items_dir(tmp_path, small_stream):
    """A directory with a JSONL part and a Parquet part (read in sorted name order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"id": it.id, "text": it.text, "caption": it.caption, "created_at": it.created_at.isoformat()}
        for it in small_stream.items[:N_ITEMS]
    ]
    d = tmp_path / "items"
    d.mkdir()
    (d / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:60]))
    pq.write_table(pa.Table.from_pylist(rows[60:]), d / "part-1.parquet")
    return d, [r["id"] for r in rows]


@pytest.fixture
def ray_env(first_run, registry_home, monkeypatch):
    monkeypatch.setenv("TRENDML_HOME", str(registry_home))
    # no embedding cache: each path embeds for itself, so the comparison is between two computations
    monkeypatch.setenv("TRENDML_EMBEDDING_CACHE", "0")
    return registry_home


def _scores(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# TRENDML_RAY_TEST_CRASH makes an actor process os._exit on its batch N (batch/ray_engine.py). The
# score run below loses an actor on its first batch once: Ray restarts it and retries the batch, and
# the output is still whole and equal to the local path's (the embed test runs without a fault). The
# "always" test proves the exit happens (the run fails).
CRASH_AT = 0


def test_ray_scores_match_local_after_a_worker_dies(
    ray_env, ray_cluster, items_dir, tmp_path, capsys, monkeypatch
):
    d, ids = items_dir
    local, dist = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    code, _, err = call(capsys, "score", str(d), "-o", str(local))
    assert code == 0, err
    monkeypatch.setenv("TRENDML_RAY_TEST_CRASH", f"once@{CRASH_AT}")
    monkeypatch.setenv("TRENDML_RAY_MAX_RESTARTS", "1")  # one restart is enough (each reloads the model)
    code, _, err = call(capsys, "score", str(d), "-o", str(dist), "--engine", "ray", "--ray-actors", "2")
    assert code == 0, err
    a, b = _scores(local), _scores(dist)
    assert [s["id"] for s in a] == ids == [s["id"] for s in b]
    assert [s["severity"] for s in a] == [s["severity"] for s in b]
    assert [s["model"] for s in a] == [s["model"] for s in b]
    pa_, pb = np.array([s["severity_probs"] for s in a]), np.array([s["severity_probs"] for s in b])
    assert pa_.shape == (N_ITEMS, 4)
    assert np.max(np.abs(pa_ - pb)) <= 1e-6
    assert not list(tmp_path.glob(".*.tmp"))


def test_ray_embed_matches_local(ray_env, ray_cluster, items_dir, tmp_path, capsys):
    d, ids = items_dir
    code, _, err = call(capsys, "embed", f"{d}/part-*", "-o", str(tmp_path / "local.npy"))
    assert code == 0, err
    code, _, err = call(capsys, "embed", f"{d}/part-*", "-o", str(tmp_path / "ray.npy"), "--engine", "ray")
    assert code == 0, err
    a, b = np.load(tmp_path / "local.npy"), np.load(tmp_path / "ray.npy")
    assert a.shape == b.shape == (N_ITEMS, 384) and b.dtype == np.float32
    assert np.max(np.abs(a - b)) <= 1e-5
    assert json.loads((tmp_path / "ray.ids.json").read_text()) == ids


def test_unreachable_ray_address_is_one_line(ray_env, items_dir, tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "s.jsonl"
    code, _, err = call(
        capsys,
        "score",
        str(items_dir[0]),
        "-o",
        str(out),
        "--engine",
        "ray",
        "--ray-address",
        f"127.0.0.1:{port}",
    )
    assert code == 2 and "--ray-address" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = call(capsys, "score", str(items_dir[0]), "-o", str(out), "--engine", "spark")
    assert code == 2 and "--engine" in err and not out.exists()


# ------------------------------------------------------------------ a worker that keeps dying
def test_ray_worker_that_keeps_dying_fails_in_one_line_and_writes_nothing(
    ray_env, ray_cluster, items_dir, tmp_path
):
    """A ``trendml`` process of its own (its stderr is what a user sees), joining the module's cluster."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    d, _ = items_dir
    out = tmp_path / "ray.jsonl"
    out.write_text('{"previous": "run"}\n')
    before = out.read_bytes()
    # no restart: the first death ends the run (the default 3 restarts reload the model 3 more times)
    env = dict(os.environ, TRENDML_RAY_TEST_CRASH=f"always@{CRASH_AT}", TRENDML_RAY_MAX_RESTARTS="0")
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "cli.main", "score", str(d), "-o", str(out), "--engine", "ray"]
    cmd += ["--ray-address", address, "--ray-actors", "1"]
    proc = subprocess.run(
        cmd, env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600
    )
    err = proc.stderr
    assert proc.returncode == 1, err[-2000:]
    # Ray Data's progress lines (INFO) come first, as in any run; the failure is one line, the last
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err[-2000:]
    assert "Ray run failed" in errors[0] and "ActorDiedError" in errors[0] and "Traceback" not in err
    assert out.read_bytes() == before  # the previous output is untouched
    assert not list(tmp_path.glob(".*.tmp"))
