"""Webhook delivery of the alert outbox (:mod:`trendml.alerts.outbox`): the network side of alerts.

:func:`deliver_due` makes one pass: every due pending delivery whose webhook has a URL is claimed
(one compare-and-swap update), posted (generic JSON or Slack body, HMAC-SHA256 signed when the
webhook's ``secret_env`` is set) and its outcome stored: 2xx is delivered; anything else, a timeout
or a refused connection waits ``backoff_s * 2**(attempt-1)`` seconds and is tried again, up to
``max_attempts``. The service runs it in a background thread (:class:`DeliveryLoop`, every
``TRENDML_ALERT_DELIVERY_INTERVAL_S`` seconds); ``trendml alerts deliver`` runs it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from trendml.alerts import payload as wire
from trendml.alerts.outbox import claim, due_deliveries, record_attempt
from trendml.config import env_secret
from trendml.policy import Policy

logger = logging.getLogger(__name__)


def post(
    client: httpx.Client,
    url: str,
    alert: Mapping[str, Any],
    *,
    fmt: str,
    secret: str | None,
    attempt: int,
    timeout_s: float,
) -> tuple[bool, int | None, str | None]:
    """One POST: ``(ok, status code, error)``; never raises for the receiver's failures."""
    body = wire.body_bytes(alert, fmt)
    ts = str(int(time.time()))
    headers = wire.headers(str(alert["alert_id"]), body, timestamp=ts, attempt=attempt, secret=secret)
    try:
        r = client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {str(exc)[:200]}"
    if 200 <= r.status_code < 300:
        return True, r.status_code, None
    return False, r.status_code, f"HTTP {r.status_code}"


def deliver_due(
    Session: Any,
    policy: Policy,
    *,
    environ: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    limit: int = 50,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """One delivery pass; returns counts ``{"delivered", "retrying", "failed", "skipped"}``."""
    cfg = policy.alert_delivery
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "skipped": 0}
    own = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        with Session() as session:
            due = due_deliveries(session, policy, limit=limit)
            for row, alert in due:
                if stop is not None and stop.is_set():
                    break
                hook = policy.webhooks[row.webhook]
                attempt = claim(session, row, cfg)
                if attempt is None:
                    counts["skipped"] += 1
                    continue
                secret = env_secret(hook.secret_env, dict(environ) if environ is not None else None)
                ok, code, err = post(
                    client,
                    hook.url or "",
                    alert,
                    fmt=hook.format,
                    secret=secret,
                    attempt=attempt,
                    timeout_s=cfg.timeout_s,
                )
                status = record_attempt(session, row.id, attempt, cfg, ok=ok, status_code=code, error=err)
                if ok:
                    counts["delivered"] += 1
                elif status == "failed":
                    counts["failed"] += 1
                    logger.warning(
                        "alert %s to %s failed for good after %d attempts: %s",
                        alert["alert_id"],
                        row.webhook,
                        attempt,
                        err,
                    )
                else:
                    counts["retrying"] += 1
                    logger.info(
                        "alert %s to %s: attempt %d failed (%s); retrying",
                        alert["alert_id"],
                        row.webhook,
                        attempt,
                        err,
                    )
    finally:
        if own:
            client.close()
    return counts


class DeliveryLoop:
    """The service's background sender: :func:`deliver_due` every ``interval_s`` seconds."""

    def __init__(self, Session: Any, policy: Policy, *, interval_s: float = 5.0) -> None:
        self.Session = Session
        self.policy = policy
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self.last_pass: datetime | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0 or not any(h.url for h in self.policy.webhooks.values()):
            return
        self._thread = threading.Thread(target=self._run, name="trendml-alert-delivery", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(follow_redirects=False) as client:
            while not self.stop_event.wait(self.interval_s):
                try:
                    deliver_due(self.Session, self.policy, client=client, stop=self.stop_event)
                    self.last_pass = datetime.now(UTC)
                except Exception:  # noqa: BLE001 - keep the loop alive (database down, ...)
                    logger.exception("alert delivery pass failed")

    def stop(self) -> None:
        self.stop_event.set()
