"""The trend state changed by another process, with real processes on one store (SQLite file and
PostgreSQL; PostgreSQL when ``TRENDML_TEST_POSTGRES_URL`` names a disposable database):

- issue 18's reproduction: a service is running, ``trendml detect --live --replace`` rewrites the
  state from a file that starts earlier: every ``/v1/score`` during and after is 200, and the
  service assigns into the new state without a restart;
- two services on one store: while one runs ``POST /v1/detect {"reset": true}``, readers on both
  never see a partial state (totals, 404s, label exports, feedback 404s), and the other service
  follows the new state without a restart.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.service.harness import cli, empty_postgres, make_keys, shared_store_url, start_server

PG_URL = os.environ.get("TRENDML_TEST_POSTGRES_URL")


# Each multi-process scenario runs on one backend (the suite's time budget; both start real services):
# a CLI run replacing the state under a service on SQLite (the issue-18 reproduction, one file shared
# by processes), two replicas and a reset on PostgreSQL (how replicas share a store). The database-down
# test and tests/service/test_postgres.py run services on PostgreSQL too.
@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'trendml.db'}"


@pytest.fixture
def shared_url(tmp_path) -> str:
    """PostgreSQL when ``TRENDML_TEST_POSTGRES_URL`` is set (CI), else a SQLite file."""
    return shared_store_url(tmp_path)


def _keys(home: Path, url: str) -> dict[str, str]:
    return make_keys(home, "state", url)


def _probes(small_stream, n: int = 6, members: list[str] | None = None) -> list[dict]:
    """Items of the stream's last window under new ids (their texts are in the embedding cache);
    with ``members``, those items first (trend members: assignment accepts only items as close to
    a trend's core as its members are, so arbitrary recent items may all be outliers)."""
    last = max(it.created_at for it in small_stream.items)
    recent = [it for it in small_stream.items if it.created_at >= last - timedelta(hours=12)]
    if members:
        by_id = {it.id: it for it in small_stream.items}
        recent = [by_id[i] for i in members if i in by_id]
    return [
        {"id": f"probe-{k}", "text": it.content, "created_at": it.created_at.isoformat()}
        for k, it in enumerate(recent[:n])
    ]


def _last_window_members(trends_json) -> list[str]:
    """Representative ids, then the other member ids, of the trends in the last window of a
    ``trendml detect`` output (representatives lie in a trend's core, which assignment accepts)."""
    import json

    windows = [w for w in json.loads(trends_json.read_text())["windows"] if w["trends"]]
    if not windows:
        return []
    trends = windows[-1]["trends"]
    reps = [i for t in trends for i in t["representative_ids"]]
    return list(dict.fromkeys(reps + [i for t in trends for i in t["member_ids"]]))


class Hammer:
    """Calls ``fn()`` in a loop on a thread until stopped; keeps every result."""

    def __init__(self, fn) -> None:
        self.fn, self.results, self._stop = fn, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.results.append(self.fn())
            except Exception as exc:  # noqa: BLE001 - recorded, asserted on below
                self.results.append(("exception", repr(exc)[:200]))

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=180)


def _audit_statuses(url: str, ids: list[str]) -> list[str | None]:
    from trendml.store.audit import audit_for
    from trendml.store.base import make_engine, make_sessionmaker

    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            return [row.trend_status for row in audit_for(s, ids)]
    finally:
        engine.dispose()


def test_cli_replacing_the_live_state_never_fails_a_score(
    sqlite_url, service_home, champion, seeded_cache, small_stream, tmp_path
):
    """Issue 18's reproduction as a test (plus: the service follows the replaced state)."""
    store_url = sqlite_url
    assert champion  # the session's champion exists (the score checks below need it)
    from trendml.items import write_items

    env = {"TRENDML_DATABASE_URL": store_url}
    first = write_items(small_stream.items, tmp_path / "first.jsonl")
    earlier = write_items(  # the same items a day earlier: "a file that starts earlier"
        [
            it.model_copy(update={"created_at": it.created_at - timedelta(days=1)})
            for it in small_stream.items
        ],
        tmp_path / "earlier.jsonl",
    )
    run = cli(service_home, "detect", str(first), "--live", "-o", str(tmp_path / "t0.json"), **env)
    assert run.returncode == 0, run.stderr
    keys = _keys(service_home, store_url)
    server = start_server(service_home, keys=keys, **env)
    try:
        probes = _probes(small_stream, 24, _last_window_members(tmp_path / "t0.json"))
        with server.client("triage") as c:
            before = c.post("/v1/score", json={"items": probes})
            assert before.status_code == 200, before.text
            assert any(r["trend_id"] for r in before.json())
            counter = iter(range(10**6))

            def score_one():
                k = next(counter)
                item = {**probes[k % len(probes)], "id": f"during-{k}"}
                r = c.post("/v1/score", json={"items": [item]})
                return r.status_code, (r.json()[0]["trend_id"] if r.status_code == 200 else r.text[:200])

            with Hammer(score_one) as during:
                # a plain run on the overlapping file is refused and leaves the live state alone ...
                refused = cli(
                    service_home, "detect", str(earlier), "--live", "-o", str(tmp_path / "x.json"), **env
                )
                assert refused.returncode == 2 and "--replace" in refused.stderr
                # ... the explicit replacement goes through while the service scores
                replaced = cli(
                    service_home,
                    "detect",
                    str(earlier),
                    "--live",
                    "--replace",
                    "-o",
                    str(tmp_path / "t1.json"),
                    **env,
                )
                assert replaced.returncode == 0, replaced.stderr
                assert "earlier trend ids carried over" in replaced.stderr
                time.sleep(3)
        statuses = [r[0] for r in during.results]
        assert len(statuses) >= 5 and set(statuses) == {200}, during.results[:5]
        # the service follows the new state (no restart): the probes land in its trends
        import json

        new_ids = {
            t["trend_id"]
            for w in json.loads((tmp_path / "t1.json").read_text())["windows"]
            for t in w["trends"]
        }
        after = server.request("POST", "/v1/score", "triage", json={"items": probes})
        assert after.status_code == 200
        got = {r["trend_id"] for r in after.json()} - {None}
        assert got and got <= new_ids
        listed = server.request("GET", "/v1/trends?limit=500", "analyst").json()
        assert {t["trend_id"] for t in listed["items"]} == new_ids
        # nothing was degraded: the audit rows say assigned/outlier, /readyz is plainly ready
        ids = [p["id"] for p in probes] + [f"during-{k}" for k in range(len(statuses))]
        assert set(_audit_statuses(store_url, ids)) <= {"assigned", "outlier"}
        ready = server.request("GET", "/readyz")
        assert ready.status_code == 200 and "degraded" not in ready.text
        model = server.request("GET", "/v1/model", "admin").json()
        assert model["trends_available"] and model["trends_error"] is None
        # a state the service cannot use (its window model unreadable, as from an incompatible
        # writer): scores still answer 200 with trend_id null, audited as unavailable, logged once
        _break_window_models(store_url)
        broken = [{**p, "id": f"broken-{k}"} for k, p in enumerate(probes)]
        for item in broken:
            r = server.request("POST", "/v1/score", "triage", json={"items": [item]})
            assert r.status_code == 200, r.text
            assert r.json()[0]["trend_id"] is None and r.json()[0]["severity"] is not None
        assert set(_audit_statuses(store_url, [b["id"] for b in broken])) == {"unavailable"}
        assert server.log_tail(400).count("trend assignment unavailable") == 1
        ready = server.request("GET", "/readyz")
        assert ready.status_code == 200 and ready.text.strip() == "degraded"
        assert server.request("GET", "/v1/model", "admin").json()["trends_error"]
        assert server.request("GET", "/v1/model", "triage").json()["trends_error"] is None
        # a new replacement makes it whole again, without a restart
        again = cli(
            service_home, "detect", str(first), "--live", "--replace", "-o", str(tmp_path / "t2.json"), **env
        )
        assert again.returncode == 0, again.stderr
        r = server.request("POST", "/v1/score", "triage", json={"items": probes})
        assert r.status_code == 200 and any(x["trend_id"] for x in r.json())
        ready = server.request("GET", "/readyz")
        assert ready.status_code == 200 and "degraded" not in ready.text
        assert server.request("GET", "/v1/model", "admin").json()["trends_error"] is None
    finally:
        server.stop()


def _break_window_models(url: str) -> None:
    """Overwrite the stored window models with bytes no trendml can read, as a new generation."""
    from sqlalchemy import text

    from trendml.store.base import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE trend_windows SET model = :b WHERE model IS NOT NULL"), {"b": b"not a model"}
        )
        conn.execute(text("UPDATE trend_version SET generation = generation + 1 WHERE id = 1"))
    engine.dispose()


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own (``.ci/postgres.sh`` on a free port and a fresh
    directory): the test stops and restarts its server, which must not cut off the other tests'
    database (``make test`` runs two pytest-xdist workers at once). Stopped and removed afterwards."""
    import shutil
    import subprocess
    import uuid

    from tests.service.harness import REPO, free_port

    pg_dir = Path("/tmp") / f"trendml-pg-{uuid.uuid4().hex[:12]}"  # readable by PostgreSQL's own user
    env = {**os.environ, "PGPORT": str(free_port()), "TRENDML_PG_DIR": str(pg_dir)}
    made = subprocess.run(
        ["bash", str(REPO / ".ci" / "postgres.sh"), "trendml_down"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert made.returncode == 0, made.stderr[-1000:]
    try:
        yield made.stdout.strip().splitlines()[-1]
    finally:
        _pg_ctl(str(pg_dir))("stop", check=False)  # the test may have left it stopped
        shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.mark.skipif(not PG_URL, reason="TRENDML_TEST_POSTGRES_URL is not set")
def test_score_answers_503_while_the_database_is_down(
    service_home, champion, seeded_cache, small_stream, own_postgres
):
    """PostgreSQL refusing every connection (ALLOW_CONNECTIONS false, sessions ended): scores answer
    503 (nothing can be audited), /readyz 503; once it is back, 200 again without a restart. Runs
    where PostgreSQL tests run (``TRENDML_TEST_POSTGRES_URL`` set), on a cluster of its own."""
    assert champion  # the session's champion exists (the score checks below need it)
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from trendml.store.base import make_engine

    pg_url = own_postgres
    url = make_url(empty_postgres(pg_url))
    env = {"TRENDML_DATABASE_URL": pg_url}
    keys = _keys(service_home, pg_url)
    server = start_server(service_home, keys=keys, **env)
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    db = url.database

    def allow(on: bool) -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{db}" WITH ALLOW_CONNECTIONS {"true" if on else "false"}'))
            if not on:
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                    {"d": db},
                )

    try:
        probes = _probes(small_stream, 2)
        assert server.request("POST", "/v1/score", "triage", json={"items": probes}).status_code == 200
        allow(False)
        try:
            for _ in range(3):
                r = server.request("POST", "/v1/score", "triage", json={"items": probes})
                assert r.status_code == 503, r.text
            assert server.request("GET", "/readyz").status_code == 503
        finally:
            allow(True)
        r = server.request("POST", "/v1/score", "triage", json={"items": probes})
        assert r.status_code == 200, r.text
        assert server.request("GET", "/readyz").status_code == 200
        # a real restart of the PostgreSQL server (its port closed, every connection gone): 503
        # while it is down, then answers again without restarting the service
        restart = _pg_restarter(admin)
        restart("stop")
        try:
            for _ in range(2):
                r = server.request("POST", "/v1/score", "triage", json={"items": probes})
                assert r.status_code == 503, r.text
            assert server.request("GET", "/readyz").status_code == 503
        finally:
            restart("start")
        r = server.request("POST", "/v1/score", "triage", json={"items": probes})
        assert r.status_code == 200, r.text
        assert server.request("GET", "/readyz").status_code == 200
        assert server.proc.poll() is None
    finally:
        admin.dispose()
        server.stop()


def _pg_restarter(admin):  # noqa: ANN001, ANN202 - Engine -> callable
    """``fn("stop")`` / ``fn("start")`` for the PostgreSQL server behind ``admin``."""
    from sqlalchemy import text

    with admin.connect() as conn:
        return _pg_ctl(conn.execute(text("SHOW data_directory")).scalar_one())


def _pg_ctl(data_dir: str):  # noqa: ANN202 - callable
    """``fn("stop")`` / ``fn("start")`` for the PostgreSQL cluster in ``data_dir`` (a throwaway cluster
    of .ci/postgres.sh), with the options it was started with; as root, run as its owner. ``check``:
    fail unless pg_ctl succeeds."""
    import shlex
    import shutil
    import subprocess

    opts = shlex.split((Path(data_dir) / "postmaster.opts").read_text())
    postgres_bin = Path(opts[0])
    args = opts[1:]
    if "-D" in args:  # pg_ctl passes -D itself
        i = args.index("-D")
        del args[i : i + 2]
    pg_ctl = postgres_bin.with_name("pg_ctl")
    owner = Path(data_dir).owner()
    as_owner = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 and owner != "root" else []
    assert pg_ctl.is_file() and (not as_owner or shutil.which("runuser")), pg_ctl

    def run(action: str, *, check: bool = True) -> None:
        cmd = [*as_owner, str(pg_ctl), "-s", "-w", "-D", data_dir]
        if action == "stop":
            cmd += ["-m", "fast", "stop"]
        else:
            cmd += ["-l", str(Path(data_dir) / "server.log"), "-o", shlex.join(args), "start"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert not check or proc.returncode == 0, f"pg_ctl {action}: {proc.stderr[-500:]}"

    return run


def test_a_reset_is_never_seen_half_done_and_the_other_service_follows(
    shared_url, service_home, champion, seeded_cache, small_stream
):
    store_url = shared_url
    env = {"TRENDML_DATABASE_URL": store_url}
    keys = _keys(service_home, store_url)
    one = start_server(service_home, keys=keys, need_ready=True, **env)
    two = None
    try:
        payload = [it.model_dump(mode="json", exclude_none=True) for it in small_stream.items]
        for start in range(0, len(payload), 250):
            r = one.request("POST", "/v1/items", "triage", json={"items": payload[start : start + 250]})
            assert r.status_code == 200, r.text
        r = one.request("POST", "/v1/detect", "admin", json={"reset": True})
        assert r.status_code == 200, r.text
        two = start_server(service_home, keys=keys, need_ready=True, **env)
        listed = one.request("GET", "/v1/trends?limit=500", "analyst").json()
        total, ids = listed["total"], sorted(t["trend_id"] for t in listed["items"])
        assert total >= 3
        for tid in ids[:3]:
            r = one.request("POST", f"/v1/trends/{tid}/feedback", "analyst", json={"action": "confirm"})
            assert r.status_code == 201, r.text
        export = one.request("GET", "/v1/feedback/export", "admin").json()
        n_labels = len(export)
        assert n_labels > 0
        watched = ids[0]

        def reader(server, what):
            def read():
                if what == "list":
                    r = server.request("GET", "/v1/trends?limit=500", "analyst")
                    return r.status_code, r.json().get("total")
                if what == "detail":
                    r = server.request("GET", f"/v1/trends/{watched}", "analyst")
                    return r.status_code, len(r.json().get("windows", [])) if r.status_code == 200 else r.text
                if what == "export":
                    r = server.request("GET", "/v1/feedback/export", "admin")
                    return r.status_code, len(r.json())
                r = server.request(
                    "POST", f"/v1/trends/{watched}/feedback", "analyst", json={"action": "confirm"}
                )
                return r.status_code, None

            return read

        n_windows = len(one.request("GET", f"/v1/trends/{watched}", "analyst").json()["windows"])
        hammers = [
            Hammer(reader(srv, what))
            for srv in (one, two)
            for what in ("list", "detail", "export", "feedback")
        ]
        for h in hammers:
            h.__enter__()
        try:
            time.sleep(1)
            marks = [len(h.results) for h in hammers]
            r = one.request("POST", "/v1/detect", "admin", json={"reset": True})
            assert r.status_code == 200, r.text
            during = [len(h.results) - m for h, m in zip(hammers, marks, strict=True)]
            time.sleep(1)
        finally:
            for h in hammers:
                h.__exit__()
        assert sum(during) >= 8, during  # readers really ran while the reset did
        expected = {
            "list": (200, total),
            "detail": (200, n_windows),
            "export": (200, n_labels),
            "feedback": (201, None),
        }
        for h, (srv, what) in zip(hammers, [(s, w) for s in ("one", "two") for w in expected], strict=True):
            wrong = [res for res in h.results if res != expected[what]]
            assert not wrong, (srv, what, wrong[:5], len(h.results))
        # the other service follows a state it did not write, without a restart: new items, a reset
        # on `one`, and `two` lists and assigns exactly as `one` does
        later = [
            it.model_copy(update={"id": f"{it.id}-later", "created_at": it.created_at + timedelta(days=7)})
            for it in small_stream.items[:240]
        ]
        r = one.request(
            "POST",
            "/v1/items",
            "triage",
            json={"items": [it.model_dump(mode="json", exclude_none=True) for it in later]},
        )
        assert r.status_code == 200, r.text
        _detection_runs_in_one_replica_at_a_time(store_url, one, two, n_new=len(later))
        r = one.request("POST", "/v1/detect", "admin", json={"reset": True})
        assert r.status_code == 200, r.text
        a = one.request("GET", "/v1/trends?limit=500", "analyst").json()
        b = two.request("GET", "/v1/trends?limit=500", "analyst").json()
        assert a == b
        assert a["items"] != listed["items"]  # a new state, which `two` did not write
        probes = _probes(small_stream)
        sa = one.request("POST", "/v1/score", "triage", json={"items": probes}).json()
        sb = two.request("POST", "/v1/score", "triage", json={"items": probes}).json()
        assert [x["trend_id"] for x in sa] == [x["trend_id"] for x in sb]
        assert {x["trend_id"] for x in sb} - {None} <= {t["trend_id"] for t in a["items"]}
    finally:
        for srv in (two, one):
            if srv is not None:
                srv.stop()


def _detection_runs_in_one_replica_at_a_time(store_url, one, two, *, n_new: int) -> None:  # noqa: ANN001
    """The store's ``detect`` lease (issue 13): held by another process -> 409 naming it; both replicas
    asked to detect at the same moment -> the ``n_new`` new items are processed exactly once."""
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.leases import acquire_lease, release_lease

    engine = make_engine(store_url)
    Session = make_sessionmaker(engine)  # noqa: N806
    try:
        with Session() as s:
            assert acquire_lease(s, "detect", "test-replica", ttl_s=300)
        for srv in (one, two):
            r = srv.request("POST", "/v1/detect", "admin", json={})
            assert r.status_code == 409, r.text
            body = r.json()
            assert body["error"] == "detection running" and "test-replica" in body["detail"]
    finally:
        with Session() as s:
            release_lease(s, "detect", "test-replica")
        engine.dispose()
    go = threading.Barrier(2)
    answers: list = []

    def fire(srv) -> None:  # noqa: ANN001
        go.wait(timeout=60)
        r = srv.request("POST", "/v1/detect", "admin", json={}, timeout=300)
        answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=fire, args=(srv,)) for srv in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=320)
    assert len(answers) == 2 and {code for code, _ in answers} <= {200, 409}, answers
    assert sum(body["n_items"] for code, body in answers if code == 200) == n_new, answers
