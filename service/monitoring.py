"""Live monitoring in the service (issue 22): :func:`trendml.monitoring.monitoring_snapshot` on a
schedule, as Prometheus gauges on ``/metrics``, on ``GET /v1/monitoring`` and the dashboard's model
page; a crossed bound (``TRENDML_DRIFT_PSI_BOUND``, ``TRENDML_ECE_BOUND``) logs one warning line and
makes ``/readyz`` answer "degraded" (:mod:`service.readiness`) until the figures are back within it.

``TRENDML_MONITOR_INTERVAL_S`` (default 300) sets how often; ``TRENDML_MONITOR_DAYS`` (default 7)
the rolling window.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import bentoml
from fastapi import FastAPI

logger = logging.getLogger(__name__)

_GAUGES: dict[str, Any] = {}
GAUGE_DOCS = {
    "trendml_severity_drift_psi": "PSI of the latest day's severity mix vs the champion's reference window.",
    "trendml_calibration_ece": "Expected calibration error of the pre-scores against outcomes / QA labels.",
    "trendml_unsupported_language_share": "Share of recently received items in an unsupported language.",
    "trendml_embedding_cache_hit_rate": "Share of embedded texts found in the embedding cache.",
    "trendml_monitoring_degraded": "1 while drift or ECE crosses its configured bound.",
}


def _gauge(name: str) -> Any:
    if name not in _GAUGES:
        from prometheus_client import Gauge

        try:
            _GAUGES[name] = Gauge(name, GAUGE_DOCS[name], multiprocess_mode="livemostrecent")
        except ValueError:  # registered already (module reloaded): reuse it
            from prometheus_client import REGISTRY

            _GAUGES[name] = REGISTRY._names_to_collectors[name]  # noqa: SLF001
    return _GAUGES[name]


class Monitor:
    """The latest monitoring snapshot of a running service and whether a bound is crossed."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.days = int(float(os.environ.get("TRENDML_MONITOR_DAYS") or 7))
        self.snapshot: dict[str, Any] | None = None
        self.reasons: list[str] = []
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        return bool(self.reasons)

    def refresh(self) -> dict[str, Any]:
        from trendml.monitoring import check_bounds, monitoring_snapshot
        from trendml.utc import utcnow

        active = self.svc.models.active
        embedder = self.svc.embedder
        with self._lock, self.svc.Session() as session:
            snap = monitoring_snapshot(
                session,
                now=utcnow(),
                days=self.days,
                champion_version=active.version if active else None,
                cache_hits=getattr(embedder, "hits", None),
                cache_misses=getattr(embedder, "misses", None),
            )
        settings = self.svc.settings
        reasons = check_bounds(snap, psi_bound=settings.drift_psi_bound, ece_bound=settings.ece_bound)
        snap["bounds"] = {"drift_psi": settings.drift_psi_bound, "ece": settings.ece_bound}
        snap["alerts"] = reasons
        if reasons and reasons != self.reasons:
            logger.warning("monitoring bound crossed: %s; /readyz answers degraded", "; ".join(reasons))
            self._queue_alert(reasons)
        elif self.reasons and not reasons:
            logger.info("monitoring back within bounds")
        self.snapshot, self.reasons = snap, reasons
        for name, value in (
            ("trendml_severity_drift_psi", snap["drift_latest"]),
            ("trendml_calibration_ece", snap["calibration"]["ece"]),
            ("trendml_unsupported_language_share", snap["unsupported_language"]["share"]),
            ("trendml_embedding_cache_hit_rate", snap["cache"]["hit_rate"]),
            ("trendml_monitoring_degraded", 1.0 if reasons else 0.0),
        ):
            _gauge(name).set(float("nan") if value is None else float(value))
        return snap

    def _queue_alert(self, reasons: list[str]) -> None:
        """The policy's ``monitoring_bound`` alert rules, through the alert outbox (issue 16)."""
        from trendml.alerts.outbox import monitoring_alert_op
        from trendml.utc import utcnow

        rules = [r for r in self.svc.policy.alerts if r.when == "monitoring_bound"]
        if not rules:
            return
        with self.svc.Session() as session:
            monitoring_alert_op(rules, reasons, utcnow().date().isoformat())(session)
            session.commit()

    def start(self, stop: threading.Event) -> None:
        interval = float(os.environ.get("TRENDML_MONITOR_INTERVAL_S") or 300)

        def loop() -> None:
            while True:
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - keep the schedule alive
                    logger.exception("monitoring refresh failed")
                if stop.wait(max(1.0, interval)):
                    return

        threading.Thread(target=loop, name="trendml-monitoring", daemon=True).start()


def install_monitoring_routes(app: FastAPI) -> None:
    @app.get("/monitoring", tags=["admin"])
    def monitoring(refresh: bool = False) -> dict[str, Any]:
        """Live monitoring (role: analyst): severity-mix drift per day (PSI against the champion's
        reference window), ECE and the reliability curve against outcomes / QA labels, the
        unsupported-language share, the embedding-cache hit rate, the bounds and what crosses them.
        ``refresh=true`` recomputes now."""
        svc = bentoml.get_current_service()
        mon = svc.monitor
        if refresh or mon.snapshot is None:
            return mon.refresh()
        return mon.snapshot
