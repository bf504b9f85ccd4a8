"""Issue 13: a real ``mlflow server`` (SQL backend, artifact root, loopback, its own process group)
and two ``trendml serve`` replicas sharing it and one store (PostgreSQL when
``TRENDML_TEST_POSTGRES_URL`` names a disposable database, else one SQLite file):

- train -> register -> promote against the server over HTTP; both replicas serve the champion;
- an alias move (train v2, promote) while both are scored continuously: no failed request, and both
  end up serving v2 without a restart;
- feedback written through one replica is read through the other;
- a tracking URI where no server answers: the CLI says so in one line (exit 2) at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.service.harness import (
    cli,
    free_port,
    make_keys,
    shared_store_url,
    start_servers,
    train_and_register,
)

_ROOTS: dict = {}


def mlflow_server_root(url: str):  # noqa: ANN201
    return _ROOTS[url]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "mlflow")
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: gunicorn/uvicorn workers die with it
        env={
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            # no GenAI job runner: one process less, and no job store left in /dev/shm (docs/scale.md)
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not come up"
            time.sleep(1)
        _ROOTS[url] = root
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def store_url(tmp_path) -> str:
    return shared_store_url(tmp_path)


def test_replicas_on_one_mlflow_server_and_one_store(
    mlflow_server, store_url, service_home, tmp_path, cached_embedder, seeded_cache, small_stream
):
    from trendml.config import Settings

    train_home = tmp_path / "trainer"  # a training machine: its own home, the shared server
    settings = Settings(home=train_home, tracking_uri=mlflow_server)
    v1 = train_and_register(settings, n_rows=200, promote=True, embedder=cached_embedder)
    server_root = mlflow_server_root(mlflow_server)
    on_server = list((server_root / "artifacts").rglob("severity_model.skops"))
    assert on_server, "the model files are not on the server"
    assert not list(train_home.rglob("severity_model.skops")), "the trainer kept the model files locally"
    env = {"TRENDML_DATABASE_URL": store_url, "MLFLOW_TRACKING_URI": mlflow_server}
    keys = make_keys(service_home, "mlsrv", store_url)
    # each replica its own TRENDML_HOME (model downloads, cache), as on separate machines; the
    # embedding cache is copied from the session's service home so the stream is not re-embedded
    homes = [tmp_path / "replica-a", tmp_path / "replica-b"]
    for h in homes:
        h.mkdir()
        (h / "cache").mkdir()
        src = service_home / "cache" / "embeddings.db"
        (h / "cache" / "embeddings.db").write_bytes(src.read_bytes())
    a, b = start_servers(homes, keys=keys, **env)
    try:
        for srv in (a, b):
            assert srv.request("GET", "/v1/model", "triage").json()["model"]["version"] == v1
        # feedback written through one replica is read through the other
        payload = [it.model_dump(mode="json", exclude_none=True) for it in small_stream.items]
        for start in range(0, len(payload), 250):
            r = a.request("POST", "/v1/items", "triage", json={"items": payload[start : start + 250]})
            assert r.status_code == 200, r.text
        r = b.request("POST", "/v1/detect", "admin", json={"reset": True}, timeout=600)
        assert r.status_code == 200, r.text
        tid = a.request("GET", "/v1/trends?limit=1", "analyst").json()["items"][0]["trend_id"]
        r = a.request("POST", f"/v1/trends/{tid}/feedback", "analyst", json={"action": "escalate"})
        assert r.status_code == 201, r.text
        got = b.request("GET", f"/v1/trends/{tid}/feedback", "analyst").json()
        assert [(f["action"], f["analyst"]) for f in got] == [("escalate", "mlsrv-analyst")], got
        # an alias move while both replicas are scored: no failed request; both follow
        answers: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def hammer(srv) -> None:  # noqa: ANN001
            k = 0
            with srv.client("triage", timeout=300) as c:
                while not stop.is_set():
                    r = c.post(
                        "/v1/score", json={"items": [{"id": f"h-{srv.port}-{k}", "text": "hello there"}]}
                    )
                    answers.append(
                        (r.status_code, r.json()[0]["model"]["version"] if r.status_code == 200 else r.text)
                    )
                    k += 1

        threads = [threading.Thread(target=hammer, args=(srv,), daemon=True) for srv in (a, b)]
        for t in threads:
            t.start()
        try:
            v2 = train_and_register(settings, n_rows=200, promote=True, embedder=cached_embedder)
            assert v2 != v1
            deadline = time.monotonic() + 120  # the watchers poll every TRENDML_RELOAD_INTERVAL_S=1
            while time.monotonic() < deadline:
                now = [srv.request("GET", "/v1/model", "triage").json()["model"]["version"] for srv in (a, b)]
                if now == [v2, v2]:
                    break
                time.sleep(1)
            assert now == [v2, v2]
            n_before_stop = len(answers)
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=300)
        bad = [x for x in answers if x[0] != 200]
        assert not bad, bad[:5]
        assert len(answers) > n_before_stop and {v for _, v in answers} <= {v1, v2}
        assert answers[-1][1] == v2
    finally:
        for srv in (b, a):
            if srv is not None:
                srv.stop()


def test_missing_mlflow_server_is_one_line(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "text": "hello"}\n')
    dead = f"http://127.0.0.1:{free_port()}"
    proc = cli(
        tmp_path / "home", "score", str(items), "-o", str(tmp_path / "s.jsonl"), MLFLOW_TRACKING_URI=dead
    )
    assert proc.returncode == 2, proc.stderr[-1000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "MLflow server" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.jsonl").exists()
