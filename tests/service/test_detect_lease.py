"""The ``detect`` lease (trendml.store.leases) across real processes on one store: SQLite file and
PostgreSQL (when ``TRENDML_TEST_POSTGRES_URL`` names a disposable database). Two processes race for
it many times; their holding intervals (system-wide monotonic clock) never overlap, and both get it.
The service side (409 naming the holder, no window processed twice) is in test_state_changes.py."""

from __future__ import annotations

import multiprocessing as mp


def _contend(url: str, holder: str, barrier, seconds: float, out: mp.Queue) -> None:  # noqa: ANN001
    import time

    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.leases import Lease, acquire_lease, release_lease

    engine = make_engine(url)
    Session = make_sessionmaker(engine)  # noqa: N806
    held = []
    with Session() as s:  # connected and imported: then both start contending together
        s.get(Lease, "detect")
    barrier.wait(timeout=120)
    start_at = time.monotonic()
    while time.monotonic() < start_at + seconds:
        with Session() as s:
            if acquire_lease(s, "detect", holder, ttl_s=30):
                start = time.monotonic()
                time.sleep(0.01)
                end = time.monotonic()
                release_lease(s, "detect", holder)
                held.append((start, end))
        time.sleep(0.002)
    engine.dispose()
    out.put((holder, held))


def test_two_processes_never_hold_the_lease_together(store_url):
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.leases import acquire_lease, lease_info, release_lease, renew_lease

    engine = make_engine(store_url)
    create_all(engine)
    Session = make_sessionmaker(engine)  # noqa: N806
    with Session() as s:  # expiry and renewal, with explicit clocks
        assert acquire_lease(s, "detect", "a", ttl_s=10, now=1000.0)
        assert not acquire_lease(s, "detect", "b", ttl_s=10, now=1005.0)
        assert renew_lease(s, "detect", "a", ttl_s=10, now=1008.0)
        assert not acquire_lease(s, "detect", "b", ttl_s=10, now=1015.0)  # renewed to 1018
        assert acquire_lease(s, "detect", "b", ttl_s=10, now=1019.0)  # a stopped renewing: lapsed
        assert not renew_lease(s, "detect", "a", ttl_s=10, now=1020.0)
        assert not release_lease(s, "detect", "a") and lease_info(s, "detect").holder == "b"
        assert release_lease(s, "detect", "b") and lease_info(s, "detect") is None
    engine.dispose()

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_contend, args=(store_url, f"p{i}", barrier, 1.5, out)) for i in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert all(results[h] for h in results), {h: len(v) for h, v in results.items()}
    spans = sorted((s, e, h) for h, v in results.items() for s, e in v)
    for (_s1, e1, h1), (s2, _e2, h2) in zip(spans, spans[1:], strict=False):
        assert s2 >= e1, f"{h1} and {h2} held the lease at the same time"
