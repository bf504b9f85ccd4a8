"""Shared fixtures. Expensive ones (the real model, embedded demo stream) are session-scoped."""

from __future__ import annotations

import os

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(_k, _v)

import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from trendml.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Settings().shared_data
_TMPFS = Path("/dev/shm")
_TMPFS_MIN_FREE = 8 * 2**30
_TMPFS_KEY = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories on a RAM disk when the machine has one with room (``/dev/shm``, >= 8 GiB
    free) and ``--basetemp`` is not given: the tests create dozens of SQLite stores, MLflow stores and
    model files, and every commit on a disk waits for it (an empty MLflow store, which runs MLflow's
    migrations: 14.9 s on disk, 5.7 s on tmpfs, same process, measured on a loaded 2-core machine).
    Nothing a test checks depends on the medium. ``TRENDML_TEST_TMPFS=0`` keeps pytest's default."""
    _worker_postgres_database()
    if config.option.basetemp or os.environ.get("TRENDML_TEST_TMPFS") == "0":
        return
    try:
        stat = os.statvfs(_TMPFS)
    except OSError:
        return
    if stat.f_bavail * stat.f_frsize < _TMPFS_MIN_FREE:
        return
    config.option.basetemp = tempfile.mkdtemp(prefix="trendml-pytest-", dir=_TMPFS)
    config.stash[_TMPFS_KEY] = config.option.basetemp


def _worker_postgres_database() -> None:
    """Under pytest-xdist (``make test`` runs two workers) each worker gets its own PostgreSQL database,
    ``<name>_<worker>`` beside the one ``TRENDML_TEST_POSTGRES_URL`` names: the tests empty and fill
    their database, so two workers must not share one. Runs before the test modules are imported
    (they read the variable at import)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    if not worker or not url:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}).first()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    os.environ["TRENDML_TEST_POSTGRES_URL"] = base.set(database=name).render_as_string(hide_password=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    """A RAM disk's files are memory: remove this run's at the end (failures' files with them; rerun
    with ``TRENDML_TEST_TMPFS=0`` to keep them under pytest's usual temporary directory)."""
    path = config.stash.get(_TMPFS_KEY, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2 (loaded once per session)."""
    from trendml.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embcache")


@pytest.fixture(scope="session")
def cached_embedder(embedder, session_cache_dir):
    """The real model behind a session-wide content-hash cache (each text embedded once)."""
    from trendml.embed import CachedEmbedder, EmbeddingCache

    return CachedEmbedder(embedder, EmbeddingCache(session_cache_dir / "embeddings.db"))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh TRENDML_HOME for one test."""
    h = tmp_path / "home"
    monkeypatch.setenv("TRENDML_HOME", str(h))
    return h


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty store per test: a SQLite file under ``tmp_path``, then the PostgreSQL database that
    ``TRENDML_TEST_POSTGRES_URL`` names (emptied; this worker's own under xdist), skipped without it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'trendml.db'}"
    url = os.environ.get("TRENDML_TEST_POSTGRES_URL")  # set per worker in pytest_configure
    if not url:
        pytest.skip("TRENDML_TEST_POSTGRES_URL is not set")
    from tests.service.harness import empty_postgres

    return empty_postgres(url)


@pytest.fixture(scope="session")
def small_stream():
    """A small demo stream from shipped data: 6 windows x 120 items, campaign from window 3."""
    from trendml.datasets import build_demo_stream

    return build_demo_stream(n_windows=6, per_window=120, start_window=3, seed=1)


@pytest.fixture(scope="session")
def small_stream_vectors(small_stream, cached_embedder) -> np.ndarray:
    from trendml.embed.base import embed_items

    return embed_items(small_stream.items, cached_embedder)


# The real-server fixtures live in tests/service/harness.py; registering them here (not in
# tests/service/conftest.py) lets the service and browser tests share ONE server per session.
from tests.service.harness import (  # noqa: E402,F401
    champion,
    detected,
    keys,
    seeded_cache,
    server,
    service_home,
)


def call(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``trendml`` entry point in-process; return (exit code, stdout, stderr)."""
    from cli.main import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "olid").exists():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA
