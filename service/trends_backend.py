"""Adapter between the service and the trend engine (:mod:`trendml.trends`).

- ``assign``: scores place new items into the latest window's trends (``trendml.trends.assign``,
  no refit) through an immutable snapshot of the :class:`~trendml.trends.TrendState`, so a
  detection run in another thread never disturbs scoring; the snapshot is replaced when a run
  ends.
- ``detect``: incremental: only windows after the last processed one, and only windows that
  are complete (their end is in the past) unless asked, because a processed window is final.
- reads (``list_trends``, ``get_trend``, ``members_of``) go through the trend engine's
  read-only queries (:mod:`trendml.trends.queries`).

When the trend engine is not importable the backend reports ``available = False``: scoring
still works (``trend_id`` null), listings are empty and detection answers 503 with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from trendml.items import Item

logger = logging.getLogger(__name__)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _iso(dt: datetime | None) -> str | None:
    dt = _aware(dt)
    return dt.isoformat().replace("+00:00", "Z") if dt else None


class TrendBackend:
    """Trend features of the service over one database engine."""

    def __init__(
        self, engine: Any, sessionmaker: Any, *, window: str = "1d", detector_params: dict | None = None
    ):
        self.engine = engine
        self.Session = sessionmaker
        self.window = window
        self.detector_params = dict(detector_params or {})
        self.reason: str | None = None
        self._state: Any = None
        self._emerging: dict[str, bool] = {}
        self._swap_lock = threading.Lock()
        try:
            from trendml.trends import TrendDetector, TrendState, assign  # noqa: F401
        except ImportError as exc:
            self.available = False
            self.reason = (
                f"the trend engine is not available ({exc}); expected the trendml.trends package; "
                "trend features are off until it is installed"
            )
            return
        self.available = True
        try:
            self._load_snapshot()
        except Exception as exc:  # noqa: BLE001 - a broken state must not stop scoring
            self.available = False
            self.reason = (
                f"the trend state cannot be read ({type(exc).__name__}: {exc}); trend features are off"
            )
            logger.warning(self.reason)

    # ------------------------------------------------------------------ snapshot
    def _load_snapshot(self) -> None:
        from sqlalchemy import select

        from trendml.trends import TrendState
        from trendml.trends.state import TrendRow

        state = TrendState(self.engine)
        with self.Session() as session:
            emerging = dict(session.execute(select(TrendRow.trend_id, TrendRow.emerging)).all())
        with self._swap_lock:
            self._state, self._emerging = state, {k: bool(v) for k, v in emerging.items()}

    def detector(self) -> Any:
        from trendml.trends import TrendDetector

        return TrendDetector(self.window, **self.detector_params)

    # ------------------------------------------------------------------ scoring
    def assign(self, items: Sequence[Item], vectors: np.ndarray) -> list[tuple[str | None, bool]]:
        if not self.available or self._state is None or not self._state.windows:
            return [(None, False) for _ in items]
        from trendml.errors import StateError
        from trendml.trends import assign

        state, emerging = self._state, self._emerging
        try:
            ids = assign(items, vectors, state)
        except StateError:
            return [(None, False) for _ in items]
        return [(tid, bool(emerging.get(tid, False)) if tid else False) for tid in ids]

    # ------------------------------------------------------------------ detection
    def pending_since(self) -> datetime | None:
        """Items from this time on are new to the trend state (None: everything is new)."""
        from trendml.trends import parse_window

        state = self._state
        if state is None or state.last_start is None:
            return None
        return state.last_start + parse_window(self.window)

    def complete_before(self, now: datetime) -> datetime:
        """Start of the window that holds ``now``: items before it are in complete windows."""
        from trendml.trends import parse_window, window_start

        return window_start(now, parse_window(self.window))

    def detect(
        self,
        items: Sequence[Item],
        vectors: np.ndarray,
        severity_probs: np.ndarray | None,
        *,
        reset: bool = False,
    ) -> dict[str, Any]:
        """Run the detector on ``items`` (all after the processed windows) and swap the snapshot."""
        from trendml.trends import TrendState

        state = TrendState(self.engine)  # a private copy: scoring keeps using the old snapshot
        previous = None
        if reset:
            previous = state.memberships()  # reviewed trends keep their ids across the re-run
            state.reset()
        result = self.detector().detect(
            items, vectors, severity=severity_probs, state=state, previous_ids=previous
        )
        self._load_snapshot()
        windows = result.windows
        latest = windows[-1] if windows else None
        return {
            "n_windows": len(windows),
            "n_trends": len({t["trend_id"] for w in windows for t in w.trends}),
            "n_emerging": sum(1 for t in latest.trends if t["emerging"]) if latest else 0,
        }

    def reset(self) -> None:
        from trendml.trends import TrendState

        TrendState(self.engine).reset()
        self._load_snapshot()

    # ------------------------------------------------------------------ reads
    def list_trends(
        self,
        *,
        status: str | None = None,
        emerging: bool | None = None,
        region: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """``{"total", "items"}`` via :func:`trendml.trends.queries.list_trends`, latest seen first."""
        if not self.available:
            return {"total": 0, "items": []}
        from trendml.trends.queries import list_trends

        out = list_trends(
            self.engine,
            status=status,
            emerging=emerging,
            region=region,
            since=since,
            limit=limit,
            offset=offset,
        )
        for t in out["items"]:
            t["size"] = int(t.get("last_size") or 0)
        return out

    def get_trend(self, trend_id: str, *, members: bool = False) -> dict[str, Any] | None:
        """One trend with its timeline (:func:`trendml.trends.queries.trend_timeline`), or None."""
        if not self.available:
            return None
        from trendml.trends.keywords import trend_title
        from trendml.trends.queries import trend_timeline

        out = trend_timeline(self.engine, trend_id, include_members=members)
        if out is None:
            return None
        out["size"] = int(out.get("last_size") or 0)
        windows = out.pop("windows", [])
        out["windows"] = [
            {
                "start": w["start"],
                "end": w["end"],
                "n_items": w.get("n_items"),
                "size": int(w["size"]),
                "status": w.get("status"),
                "emerging": bool(w.get("emerging")),
                "emergence_score": w.get("emergence_score"),
                "us_share": w.get("us_share"),
                "us_lift": w.get("us_lift"),
                "keywords": list(w.get("keywords", [])),
                "title": w.get("title") or trend_title(w.get("keywords", [])),
                "representative_ids": list(w.get("representative_ids", [])),
                "region_counts": dict(w.get("region_counts") or {}),
                "severity_mix": w.get("severity_mix"),
                "member_ids": list(w["member_ids"]) if members else None,
            }
            for w in windows
        ]
        out["representative_ids"] = out["windows"][-1]["representative_ids"] if out["windows"] else []
        return out

    def members_of(self, trend_id: str) -> list[str]:
        """Member item ids of a trend over every window it appeared in (for label export)."""
        if not self.available:
            return []
        from trendml.trends.queries import trend_timeline

        out = trend_timeline(self.engine, trend_id, include_members=True)
        if out is None:
            return []
        return list(dict.fromkeys(i for w in out["windows"] for i in w.get("member_ids", [])))
