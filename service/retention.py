"""The retention schedule: every ``TRENDML_RETENTION_INTERVAL_S`` (default a day) the service erases
the items received more than ``TRENDML_RETENTION_DAYS`` days ago (:func:`trendml.erasure.apply_retention`).
Off when the retention setting is 0. Each erasure is in the erasure log (actor ``retention``)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 86_400.0


def run_retention(svc: Any) -> int:
    """One retention pass with the service's store and embedding cache; returns items erased."""
    from trendml.erasure import apply_retention

    days = svc.settings.retention_days
    if days <= 0:
        return 0
    with svc.Session() as session:
        n = apply_retention(
            session,
            days,
            cache_path=svc.settings.embedding_cache_path,
            search_dir=svc.settings.home / "search",
        )
    if n:
        logger.info("retention: erased %d items received more than %d days ago", n, days)
    return n


def start_retention_schedule(svc: Any, stop: threading.Event) -> bool:
    """Start the schedule thread (first pass at once) when retention is on; False when it is off."""
    if svc.settings.retention_days <= 0:
        return False
    interval = float(os.environ.get("TRENDML_RETENTION_INTERVAL_S") or DEFAULT_INTERVAL_S)

    def loop() -> None:
        while True:
            try:
                run_retention(svc)
            except Exception:  # noqa: BLE001 - keep the schedule alive
                logger.exception("scheduled retention failed")
            if stop.wait(max(1.0, interval)):
                return

    threading.Thread(target=loop, name="trendml-retention", daemon=True).start()
    logger.info(
        "retention on: items older than %d days erased every %.0fs", svc.settings.retention_days, interval
    )
    return True
