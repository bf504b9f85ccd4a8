"""Adapter between the service and the trend engine (:mod:`trendml.trends`).

- ``assign``: scores place new items into the latest window's trends (``trendml.trends.assign``,
  no refit) through an immutable snapshot of the :class:`~trendml.trends.TrendState`, so a
  detection run in another thread never disturbs scoring; the snapshot is replaced when a run
  ends.
- ``detect``: incremental: only windows after the last processed one, and only windows that
  are complete (their end is in the past) unless asked, because a processed window is final.
- reads (``list_trends``, ``get_trend``, ``members``) query the trend engine's tables
  (``trend_trends``, ``trend_observations``, ``trend_windows``) read-only.

When the trend engine is not importable the backend reports ``available = False``: scoring
still works (``trend_id`` null), listings are empty and detection answers 503 with the reason.
"""

from __future__ import annotations

import json
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
        if reset:
            state.reset()
        result = self.detector().detect(items, vectors, severity=severity_probs, state=state)
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
    def _observations(self, session: Any, trend_ids: Sequence[str] | None = None) -> dict[str, list[Any]]:
        from sqlalchemy import select

        from trendml.trends.state import TrendObservation, TrendWindow

        stmt = (
            select(TrendObservation, TrendWindow.start, TrendWindow.end)
            .join(TrendWindow, TrendWindow.seq == TrendObservation.seq)
            .order_by(TrendObservation.seq)
        )
        if trend_ids is not None:
            stmt = stmt.where(TrendObservation.trend_id.in_(list(trend_ids)))
        out: dict[str, list[Any]] = {}
        for obs, start, end in session.execute(stmt):
            out.setdefault(obs.trend_id, []).append((obs, start, end))
        return out

    def _summary(self, row: Any, obs: list[Any]) -> dict[str, Any]:
        last = json.loads(obs[-1][0].payload) if obs else {}
        return {
            "trend_id": row.trend_id,
            "status": row.status or "stable",
            "emerging": bool(row.emerging),
            "size": int(row.last_size or 0),
            "emergence_score": row.emergence_score,
            "us_share": row.us_share,
            "us_lift": row.us_lift,
            "keywords": json.loads(row.keywords or "[]"),
            "first_seen": _iso(row.first_start),
            "last_seen": _iso(row.last_start),
            "regions": {str(k): int(v) for k, v in (last.get("region_counts") or {}).items()},
            "representative_ids": list(last.get("representative_ids", [])),
        }

    def list_trends(
        self,
        *,
        status: str | None = None,
        emerging: bool | None = None,
        region: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Trends matching the filters: emerging first, then latest seen, then emergence score."""
        if not self.available:
            return []
        from sqlalchemy import select

        from trendml.trends.state import TrendRow

        stmt = select(TrendRow).where(TrendRow.merged_into.is_(None))
        if status is not None:
            stmt = stmt.where(TrendRow.status == status)
        if emerging is not None:
            stmt = stmt.where(TrendRow.emerging == emerging)
        if since is not None:
            stmt = stmt.where(TrendRow.last_start >= _naive(since))
        with self.Session() as session:
            rows = list(session.scalars(stmt))
            obs = self._observations(session, [r.trend_id for r in rows]) if rows else {}
        out = [self._summary(r, obs.get(r.trend_id, [])) for r in rows]
        if region is not None:
            out = [t for t in out if t["regions"].get(region, 0) > 0]
        out.sort(
            key=lambda t: (
                not t["emerging"],
                -(_ts(t["last_seen"])),
                -(t["emergence_score"] or 0.0),
                t["trend_id"],
            )
        )
        return out

    def get_trend(self, trend_id: str) -> dict[str, Any] | None:
        if not self.available:
            return None
        from trendml.trends.state import TrendRow

        with self.Session() as session:
            row = session.get(TrendRow, trend_id)
            if row is None:
                return None
            obs = self._observations(session, [trend_id]).get(trend_id, [])
        out = self._summary(row, obs)
        timeline = []
        for o, start, end in obs:
            payload = json.loads(o.payload)
            timeline.append(
                {
                    "start": _iso(start),
                    "end": _iso(end),
                    "size": int(o.size),
                    "emerging": bool(o.emerging),
                    "status": o.status,
                    "emergence_score": o.emergence_score,
                    "keywords": list(payload.get("keywords", [])),
                }
            )
        out["timeline"] = timeline
        out["merged_into"] = row.merged_into
        return out

    def members(self) -> dict[str, list[str]]:
        """trend id -> member item ids over every window (for label export)."""
        if not self.available:
            return {}
        out: dict[str, list[str]] = {}
        with self.Session() as session:
            for tid, rows in self._observations(session).items():
                seen: dict[str, None] = {}
                for o, _, _ in rows:
                    for i in json.loads(o.payload).get("member_ids", []):
                        seen[i] = None
                out[tid] = list(seen)
        return out


def _ts(iso: str | None) -> float:
    if not iso:
        return 0.0
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
