"""Per-key quotas in the store (trendml.store.quotas), which every service worker process draws on:
refill and refusal with explicit clocks, then real processes spending one key's bucket at once on a
SQLite file and on PostgreSQL (when ``TRENDML_TEST_POSTGRES_URL`` names a disposable database):
together they are granted exactly the bucket, never a token twice."""

from __future__ import annotations

import multiprocessing as mp

import pytest


def _spend(url: str, barrier, attempts: int, out: mp.Queue) -> None:  # noqa: ANN001
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.quotas import QuotaBucket, take_token

    engine = make_engine(url)
    Session = make_sessionmaker(engine)  # noqa: N806
    with Session() as s:  # connected and imported: then all start together
        s.get(QuotaBucket, 7)
    barrier.wait(timeout=120)
    granted = 0
    for _ in range(attempts):
        with Session() as s:  # a bucket that refills one token per 1,000 minutes: none comes back
            granted += take_token(s, 7, per_minute=0.001, burst=25) == 0.0
    engine.dispose()
    out.put(granted)


def test_quota_buckets_refill_refuse_and_are_shared_by_processes(store_url):
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.quotas import QuotaBucket, take_token

    engine = make_engine(store_url)
    create_all(engine)
    Session = make_sessionmaker(engine)  # noqa: N806
    with Session() as s:  # 60 per minute = one token a second, bursts of 3
        assert [take_token(s, 1, per_minute=60, burst=3, now=100.0) for _ in range(3)] == [0.0] * 3
        assert take_token(s, 1, per_minute=60, burst=3, now=100.0) == pytest.approx(1.0)
        assert take_token(s, 1, per_minute=60, burst=3, now=100.25) == pytest.approx(0.75)
        assert take_token(s, 2, per_minute=60, burst=3, now=100.25) == 0.0, "each key has its own bucket"
        assert take_token(s, 1, per_minute=60, burst=3, now=101.0) == 0.0  # refilled
        assert take_token(s, 1, per_minute=60, burst=3, now=101.0) > 0
        # a refusal writes nothing; a long pause refills to the burst, never beyond it
        assert s.get(QuotaBucket, 1).updated_at_s == 101.0
        assert [take_token(s, 1, per_minute=60, burst=3, now=10_000.0) for _ in range(4)][-1] > 0
        with pytest.raises(ValueError, match="per_minute"):
            take_token(s, 1, per_minute=0, burst=3)
    engine.dispose()

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_spend, args=(store_url, barrier, 20, out)) for _ in range(3)]
    for p in procs:
        p.start()
    granted = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(granted) == 25, granted  # 60 attempts on one bucket of 25: exactly 25 go
