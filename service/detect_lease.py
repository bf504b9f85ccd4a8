"""Detection runs in one replica at a time: the ``detect`` lease in the shared store.

Replicas share one database (PostgreSQL). Before detecting, a replica takes the ``detect`` lease
(:mod:`trendml.store.leases`); while it works a thread renews it every third of its time to live;
afterwards it deletes it. A replica that cannot take it answers 409 naming the holder. Because the
trend state's generation is in the same database, the next run (in any replica) starts after the
windows the previous one committed: no window is processed twice. A replica that dies mid-run stops
renewing; its lease lapses after ``TRENDML_DETECT_LEASE_TTL_S`` (default 60 s).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

LEASE_NAME = "detect"
DEFAULT_TTL_S = 60.0


class LeaseHeld(Exception):
    """Another replica holds the detection lease."""

    def __init__(self, holder: str, seconds_left: float) -> None:
        super().__init__(holder)
        self.holder, self.seconds_left = holder, seconds_left


def make_holder() -> str:
    """This process, as named in the lease: host, pid and a random suffix (pids repeat across hosts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def detection_lease(Session: Any, holder: str, *, ttl_s: float = DEFAULT_TTL_S) -> Iterator[None]:  # noqa: N803
    """Hold the ``detect`` lease for the block (renewed in the background); :class:`LeaseHeld` if
    another holder has it."""
    import time

    from trendml.store.leases import acquire_lease, lease_info, release_lease, renew_lease

    with Session() as session:
        if not acquire_lease(session, LEASE_NAME, holder, ttl_s=ttl_s):
            info = lease_info(session, LEASE_NAME)
            if info is None:  # released between the two reads: one more try
                if not acquire_lease(session, LEASE_NAME, holder, ttl_s=ttl_s):
                    raise LeaseHeld("another replica", ttl_s)
            else:
                raise LeaseHeld(info.holder, max(0.0, info.expires_at_s - time.time()))
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                with Session() as s:
                    if not renew_lease(s, LEASE_NAME, holder, ttl_s=ttl_s):
                        logger.warning("the detection lease lapsed and another replica took it")
                        return
            except Exception:  # noqa: BLE001 - the database may be briefly away; the next beat retries
                logger.warning("could not renew the detection lease", exc_info=True)

    beat = threading.Thread(target=heartbeat, name="trendml-detect-lease", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=5)
        try:
            with Session() as session:
                release_lease(session, LEASE_NAME, holder)
        except Exception:  # noqa: BLE001 - it lapses by itself after ttl_s
            logger.warning("could not release the detection lease; it lapses in %.0fs", ttl_s, exc_info=True)
