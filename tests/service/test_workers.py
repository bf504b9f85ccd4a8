"""The service's worker processes (``TRENDML_WORKERS``; default ``auto``, one per core): two real
workers on one port score alike, read the same trend state and draw on one per-key quota through the
store (a shared bucket, not one per process). The suite's other servers run one worker each
(tests/service/harness.py), for start-up time on 2 shared cores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.service.harness import make_keys, shared_store_url, start_server
from trendml.store.base import make_engine, make_sessionmaker


def test_worker_count_reads_auto_and_numbers_and_names_the_fix():
    from service.workers import MAX_AUTO_WORKERS, worker_count

    assert worker_count(None, 2) == 2 and worker_count("auto", 1) == 1 and worker_count(" AUTO ", 2) == 2
    assert worker_count("auto", 64) == MAX_AUTO_WORKERS  # memory, not cores, bounds the default
    assert worker_count("3", 1) == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(
            SystemExit, match=r"TRENDML_WORKERS=.*expected 'auto' \(one per core\) or a whole number"
        ):
            worker_count(bad, 2)


def _workers_of(server) -> list[psutil.Process]:  # noqa: ANN001
    tree = psutil.Process(server.proc.pid).children(recursive=True)
    return [p for p in tree if "_bentoml_impl.worker.service" in " ".join(p.cmdline())]


def _connections_per_worker(server, workers: list[psutil.Process]) -> list[int]:  # noqa: ANN001
    return [
        sum(
            c.laddr and c.laddr.port == server.port and c.status == "ESTABLISHED"
            for c in w.net_connections("tcp")
        )
        for w in workers
    ]


def test_two_workers_share_the_quota_the_trends_and_the_model(
    tmp_path, service_home, champion, seeded_cache, small_stream
):
    store = shared_store_url(tmp_path)  # PostgreSQL in CI, else a SQLite file both workers write
    keys = make_keys(service_home, "workers", store)
    engine = make_engine(store)
    with make_sessionmaker(engine)() as session:
        from trendml.store.keys import create_key

        quota_key, _ = create_key(session, "analyst", "workers-quota")
    engine.dispose()
    burst = 40  # every key's: the quota key spends it below, the others stay well inside it
    server = start_server(
        service_home,
        keys={**keys, "quota": quota_key},
        TRENDML_WORKERS="2",
        TRENDML_DATABASE_URL=store,
        TRENDML_RATE_LIMIT_PER_MIN="0.01",  # a token per 100 minutes: none comes back in this test
        TRENDML_RATE_LIMIT_BURST=str(burst),
    )
    try:
        workers = _workers_of(server)
        assert len(workers) == 2, [
            p.cmdline() for p in psutil.Process(server.proc.pid).children(recursive=True)
        ]

        # one per-key bucket for both workers: open connections until both workers hold some (the
        # kernel hands each new connection to one of them), then spend the quota over all of them
        clients = []
        for _ in range(6):
            batch = [server.client("quota") for _ in range(16)]
            for c in batch:
                assert c.get("/healthz").status_code == 200  # open route: opens the connection, no token
            clients += batch
            if min(_connections_per_worker(server, workers)) > 0:
                break
        per_worker = _connections_per_worker(server, workers)
        assert min(per_worker) > 0, f"every connection went to one worker: {per_worker}"
        codes = [clients[i % len(clients)].get("/v1/trends").status_code for i in range(burst + 16)]
        for c in clients:
            c.close()
        assert codes.count(200) == burst and codes.count(429) == len(codes) - burst, codes

        # the trend state one worker writes, every worker reads
        payload = [it.model_dump(mode="json", exclude_none=True) for it in small_stream.items]
        for start in range(0, len(payload), 250):
            r = server.request("POST", "/v1/items", "triage", json={"items": payload[start : start + 250]})
            assert r.status_code == 200, r.text
        r = server.request("POST", "/v1/detect", "admin", json={"reset": True})
        assert r.status_code == 200 and r.json()["n_trends"] > 0, r.text
        seen = set()
        for _ in range(8):  # fresh connections: both workers answer some of these
            r = server.request("GET", "/v1/trends?limit=500", "analyst")
            assert r.status_code == 200, r.text
            seen.add(tuple(sorted(t["trend_id"] for t in r.json()["items"])))
        assert len(seen) == 1 and seen.pop(), "the workers disagree on the trends"

        # the same model in both: concurrent single items score as one batch of the same texts
        texts = [it.text for it in small_stream.items if it.text][:12]
        batch = server.request(
            "POST",
            "/v1/score",
            "triage",
            json={"items": [{"id": f"b{i}", "text": t} for i, t in enumerate(texts)]},
        ).json()

        def one(i: int) -> dict:
            r = server.request(
                "POST", "/v1/score", "triage", json={"items": [{"id": f"s{i}", "text": texts[i]}]}
            )
            assert r.status_code == 200, r.text
            return r.json()[0]

        with ThreadPoolExecutor(6) as ex:
            singles = list(ex.map(one, range(len(texts))))
        assert [s["severity"] for s in singles] == [b["severity"] for b in batch]
        assert [s["trend_id"] for s in singles] == [b["trend_id"] for b in batch]
        assert (
            max(
                abs(x - y)
                for s, b in zip(singles, batch, strict=True)
                for x, y in zip(s["severity_probs"], b["severity_probs"], strict=True)
            )
            < 1e-4
        )
    finally:
        server.stop()
