"""Service test harness (its fixtures are registered by tests/conftest.py, so tests/service and
tests/browser share one server per session): ONE real ``trendml serve`` (BentoML) per test
session on a free loopback port, in its own process group, killed at the end. Tests that must
restart a server (persistence, hot swap) start their own with :func:`start_server` on the same home.

The session server's home is seeded with a tiny champion model trained through the severity
package's public API (``training.registry``), API keys made with the real ``trendml keys``
CLI, and the small demo stream stored with ``POST /v1/items`` and detected with
``POST /v1/detect``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TRENDML_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "BENTOML_DO_NOT_TRACK": "true",
            "DO_NOT_TRACK": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "BENTOML_HOME": str(home / "bentoml"),
            "TRENDML_RELOAD_INTERVAL_S": "1",
            # one worker process per test server (the default, ``auto``, runs one per core): each
            # worker's start costs ~20 s of CPU on the 2 shared cores; tests/service/test_workers.py
            # runs two
            "TRENDML_WORKERS": "1",
        }
    )
    env.pop("TRENDML_DATABASE_URL", None)
    env.update(extra)
    if not env.get("TRENDML_DATABASE_URL"):
        env.pop("TRENDML_DATABASE_URL", None)
    return env


def cli(home: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``trendml`` console entry point against ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=server_env(home, **env),
        timeout=timeout,
    )


@dataclass
class Server:
    home: Path
    port: int
    proc: subprocess.Popen
    keys: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, role: str | None = None, **kw) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kw.pop("timeout", 120), **kw)

    def request(self, method: str, path: str, role: str | None = None, **kw) -> httpx.Response:
        with self.client(role) as c:
            return c.request(method, path, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server and its BentoML worker (which runs in a process group of its own)."""
        import psutil

        try:
            tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            tree = []
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGKILL:  # a crash: nothing of the server may survive
            for p in tree:
                try:
                    p.kill()
                except psutil.Error:
                    pass
        _, alive = psutil.wait_procs(tree, timeout=20)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, n: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def empty_postgres(url: str) -> str:
    """``url`` (a disposable PostgreSQL database, ``TRENDML_TEST_POSTGRES_URL``) emptied; returns it."""
    from sqlalchemy import text

    from trendml.store.base import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def shared_store_url(tmp_path: Path) -> str:
    """The store replicas share: PostgreSQL (emptied) when ``TRENDML_TEST_POSTGRES_URL`` is set, as in
    CI, else a SQLite file under ``tmp_path``."""
    pg = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    return empty_postgres(pg) if pg else f"sqlite:///{tmp_path / 'store' / 'trendml.db'}"


def _launch(home: Path, keys: dict[str, str] | None, env: dict[str, str]) -> Server:
    port = free_port()
    log = home / f"server-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=server_env(home, **env),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(home=home, port=port, proc=proc, keys=dict(keys or {}), log=log)


def _wait_ready(server: Server, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + path, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready on {path} after {READY_TIMEOUT_S}s:\n{server.log_tail()}")


def start_server(
    home: Path, *, keys: dict[str, str] | None = None, need_ready: bool = True, **env: str
) -> Server:
    """Start ``trendml serve`` on a free port; wait for /healthz (and /readyz when ``need_ready``)."""
    return start_servers([home], keys=keys, need_ready=need_ready, **env)[0]


def start_servers(
    homes: list[Path], *, keys: dict[str, str] | None = None, need_ready: bool = True, **env: str
) -> list[Server]:
    """:func:`start_server` for several homes at once (replicas): all start together, so a test
    waits for the slowest start instead of their sum. On a failure every one of them is stopped."""
    servers = [_launch(home, keys, env) for home in homes]
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        for server in servers:
            _wait_ready(server, "/readyz" if need_ready else "/healthz", deadline)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def create_key(home: Path, role: str, name: str | None = None, **env: str) -> str:
    args = ["keys", "create", "--role", role] + (["--name", name] if name else [])
    proc = cli(home, *args, **env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def make_keys(home: Path, prefix: str, database_url: str | None = None) -> dict[str, str]:
    """One key per role, made in-process through the store's public API (the session's ``keys``
    fixture and tests/service/test_auth.py make theirs with the real ``trendml keys`` CLI; a process
    per key cost the suite ~2-6 s each, two dozen times)."""
    from cli._common import open_store
    from trendml.config import Settings
    from trendml.store.keys import create_key as store_create_key

    engine, Session = open_store(Settings(home=home, database_url=database_url))  # noqa: N806
    try:
        with Session() as session:
            return {
                role: store_create_key(session, role, f"{prefix}-{role}")[0]
                for role in ("triage", "analyst", "admin")
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- model
def train_and_register(settings, *, n_rows: int = 300, promote: bool = False, embedder=None) -> str:
    """Train a small severity model through the severity package's public API, register it and
    (with ``promote``) make it the champion; return its registry version."""
    from training.config import load_config
    from training.registry import promote as promote_version
    from training.train import train_severity

    result = train_severity(
        settings,
        datasets=["davidson", "toxigen_seeds"],
        max_rows_per_dataset=n_rows,
        embedder=embedder,
        run_name="service-test",
        # models/severity.yaml without what a served test model never needs (the suite's time budget):
        # the behavioural suite and the TF-IDF baseline are evaluation only
        config=load_config(None, behaviour=False, baseline=False),
    )
    if promote and not result.champion:
        promote_version(settings, result.model_name, result.version, force=True)
    return str(result.version)


@pytest.fixture(scope="session")
def service_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service") / "home"


@pytest.fixture(scope="session")
def champion(service_home, cached_embedder) -> str:
    """A tiny champion in the service home's registry."""
    from trendml.config import Settings

    return train_and_register(Settings(home=service_home), embedder=cached_embedder)


@pytest.fixture(scope="session")
def seeded_cache(service_home, small_stream, small_stream_vectors, embedder) -> int:
    """Pre-seed the service home's embedding cache with the small stream's vectors (embedded once
    per session by the shared fixture), so the server does not embed them a second time."""
    from trendml.config import Settings
    from trendml.embed import EmbeddingCache
    from trendml.embed.base import embedder_id
    from trendml.text import content_hash

    cache = EmbeddingCache(Settings(home=service_home).embedding_cache_path)
    hashes = [content_hash(it.content) for it in small_stream.items]
    cache.put_many(embedder_id(embedder), hashes, small_stream_vectors)
    n = cache.count()
    cache.close()
    return n


@pytest.fixture(scope="session")
def keys(service_home) -> dict[str, str]:
    return {role: create_key(service_home, role, f"test-{role}") for role in ("triage", "analyst", "admin")}


@pytest.fixture(scope="session")
def server(service_home, keys, seeded_cache, champion):
    srv = start_server(service_home, keys=keys, need_ready=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def detected(server, small_stream):
    """The small stream stored through POST /v1/items and detected through POST /v1/detect."""
    payload = [it.model_dump(mode="json", exclude_none=True) for it in small_stream.items]
    stored = 0
    for start in range(0, len(payload), 200):
        r = server.request("POST", "/v1/items", "triage", json={"items": payload[start : start + 200]})
        assert r.status_code == 200, r.text
        stored += r.json()["stored"]
    r = server.request("POST", "/v1/detect", "admin", json={"reset": True})
    assert r.status_code == 200, r.text
    return {"stored": stored, "detect": r.json()}


def login_form(c) -> str:  # noqa: ANN001
    """The dashboard login form's CSRF token (the form also sets its cookie on ``c``)."""
    import re

    page = c.get("/ui/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(server, key: str):  # noqa: ANN001
    """A dashboard client signed in with ``key`` (its own cookie jar: a server-side session, the
    login form's CSRF token, a same-origin ``Origin``) and the session's form token."""
    import re

    c = server.client()
    token = login_form(c)
    r = c.post("/ui/login", data={"key": key, "csrf": token}, headers={"Origin": server.url})
    assert r.status_code == 303, r.text[:300]
    page = c.get("/ui/trends")
    assert page.status_code == 200
    return c, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
