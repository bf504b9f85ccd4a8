"""Adapter between the service and the trend engine (:mod:`trendml.trends`).

- ``assign``: scores place new items into the latest window's trends (``trendml.trends.assign``,
  no refit) through an immutable snapshot of the :class:`~trendml.trends.TrendState`. Before each
  batch the snapshot's generation is compared with the stored one (one primary-key read); when
  another process (the CLI, another replica, this service's own detection) changed the state, a
  new snapshot is loaded first. Assignment never fails a score: when it cannot run, items get
  ``trend_id`` null with ``trend_status`` "unavailable", the reason is logged once and kept for
  ``/v1/model``; only a database that cannot be reached at all raises :class:`DatabaseUnavailable`.
- ``detect``: incremental: only windows after the last processed one, and only windows that
  are complete (their end is in the past) unless asked, because a processed window is final.
  A run (with its reset) is one transaction (:meth:`TrendState.batch`): readers never see it half-done.
- reads (``list_trends``, ``get_trend``, ``members_of``, ``export``) go through the trend engine's
  read-only queries (:mod:`trendml.trends.queries`), each inside
  :func:`~trendml.trends.state.consistent_read`, so they see one generation of the state; they
  return the typed trend records (:mod:`trendml.trends.record`) that the API's response models
  are filled from (``service.schemas.TrendSummary.from_view`` and the like).

The trend engine is part of trendml and always imported; a broken trend state degrades
assignment (above), it never stops scoring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from trendml.items import Item

if TYPE_CHECKING:
    from trendml.trends.record import TrendPage, TrendTimeline

logger = logging.getLogger(__name__)

#: ``trend_status`` of a scored item: assigned to a trend / no trend fits it / no detection has run
#: yet / assignment could not run (the reason is on ``/v1/model``)
ASSIGNED, OUTLIER, NO_STATE, UNAVAILABLE = "assigned", "outlier", "no_state", "unavailable"


class DatabaseUnavailable(Exception):
    """The database cannot be reached: nothing can be read or audited (the service answers 503)."""


def is_connection_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


class TrendBackend:
    """Trend features of the service over one database engine."""

    def __init__(
        self,
        engine: Any,
        sessionmaker: Any,
        *,
        window: str = "1d",
        detector_params: dict | None = None,
        policy: Any = None,
    ):
        self.engine = engine
        #: the policy whose ``alerts`` rules each detection run evaluates (None: no alerts)
        self.policy = policy
        self.Session = sessionmaker
        self.window = window
        self.detector_params = dict(detector_params or {})
        #: why assignment is degraded (None when it works): shown to admins on /v1/model
        self.degraded: str | None = None
        self._state: Any = None
        self._swap_lock = threading.Lock()
        try:
            self._load_snapshot()
        except Exception as exc:  # noqa: BLE001 - a broken state must not stop scoring
            self._degrade(f"the trend state cannot be read ({type(exc).__name__}: {str(exc)[:200]})")

    # ------------------------------------------------------------------ snapshot
    def _load_snapshot(self) -> Any:
        from trendml.trends import TrendState

        state = TrendState(self.engine)  # one generation, model blobs included (consistent_read)
        with self._swap_lock:
            if self._state is None or state.generation >= self._state.generation:
                self._state = state
            return self._state

    def _degrade(self, reason: str) -> None:
        if reason != self.degraded:  # logged once per distinct reason
            logger.warning("trend assignment unavailable: %s; scores carry trend_id null", reason)
        self.degraded = reason

    def _recover(self) -> None:
        if self.degraded is not None:
            logger.info("trend assignment works again")
            self.degraded = None

    def current_state(self) -> Any:
        """The snapshot, reloaded first when the stored generation moved (one primary-key read)."""
        from trendml.trends.state import read_generation

        try:
            generation = read_generation(self.engine)
        except Exception as exc:
            if is_connection_error(exc):
                raise DatabaseUnavailable(f"the database cannot be reached ({type(exc).__name__})") from None
            raise
        state = self._state
        if state is None or state.generation != generation:
            state = self._load_snapshot()
        return state

    def detector(self) -> Any:
        from trendml.trends import TrendDetector

        return TrendDetector(self.window, **self.detector_params)

    # ------------------------------------------------------------------ scoring
    def assign(self, items: Sequence[Item], vectors: np.ndarray) -> list[tuple[str | None, bool, str]]:
        """``(trend_id, emerging, trend_status)`` per item. Never raises because of the trend state;
        raises :class:`DatabaseUnavailable` only when the database cannot be reached."""
        from trendml.trends import assign

        try:
            state = self.current_state()
            if not state.windows or state.model_window() is None:
                self._recover()
                return [(None, False, NO_STATE) for _ in items]
            ids = assign(items, vectors, state)
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the trend state must never fail a score
            if is_connection_error(exc):
                raise DatabaseUnavailable(f"the database cannot be reached ({type(exc).__name__})") from None
            self._degrade(f"{type(exc).__name__}: {str(exc)[:200]}")
            return [(None, False, UNAVAILABLE) for _ in items]
        self._recover()
        emerging = state.emerging
        return [
            (tid, bool(emerging.get(tid, False)), ASSIGNED) if tid else (None, False, OUTLIER) for tid in ids
        ]

    # ------------------------------------------------------------------ detection
    def pending_since(self) -> datetime | None:
        """Items from this time on are new to the trend state (None: everything is new)."""
        from trendml.trends import parse_window

        state = self.current_state()
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
        with state.batch():  # one transaction: readers see the old state until the whole run commits
            previous = None
            if reset:
                previous = state.memberships()  # reviewed trends keep their ids across the re-run
                state.reset()
            result = self.detector().detect(
                items, vectors, severity=severity_probs, state=state, previous_ids=previous
            )
            n_alerts = self._queue_alerts(state, result.windows)
        self._load_snapshot()
        windows = result.windows
        latest = windows[-1] if windows else None
        out = {
            "n_windows": len(windows),
            "n_trends": len({t.trend_id for w in windows for t in w.trends}),
            "n_emerging": sum(1 for t in latest.trends if t.emerging) if latest else 0,
        }
        if reset:
            out["retired_with_decisions"] = self._retired_with_decisions(state.generation)
        if n_alerts:
            out["n_alerts"] = n_alerts
        return out

    def _queue_alerts(self, state: Any, windows: Any) -> int:
        """The run's alerts into the outbox, in the run's transaction (docs/alerts.md)."""
        if self.policy is None or not self.policy.alerts:
            return 0
        from trendml.alerts.detection import queue_alerts

        with self.Session() as session:
            return len(queue_alerts(state, windows, self.policy, session))

    def _retired_with_decisions(self, generation: int) -> list[str]:
        """Trends with an analyst decision that the reset committed as ``generation`` retired (their
        decisions and members stay in the label export); logged, and listed in the detect answer."""
        from trendml.store.feedback import latest_actions
        from trendml.trends.queries import retired_trends

        retired = {k for k, v in retired_trends(self.engine).items() if v.generation == generation}
        with self.Session() as session:
            decided = sorted(retired & set(latest_actions(session)))
        if decided:
            logger.info(
                "the reset retired %d trends with analyst decisions (kept in the label export): %s",
                len(decided),
                ", ".join(decided),
            )
        return decided

    def reset(self) -> None:
        from trendml.trends import TrendState

        state = TrendState(self.engine)
        with state.batch():
            state.reset()
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
    ) -> TrendPage:
        """A page of trends (:func:`trendml.trends.queries.list_trends`), latest seen first."""
        from trendml.trends.queries import list_trends

        return list_trends(  # one generation of the state (consistent_read inside)
            self.engine,
            status=status,
            emerging=emerging,
            region=region,
            since=since,
            limit=limit,
            offset=offset,
            with_latest=False,  # the API's list shows the trend row's fields (TrendSummary.from_view)
        )

    def get_trend(self, trend_id: str) -> TrendTimeline | None:
        """One trend with its timeline (:func:`trendml.trends.queries.trend_timeline`), or None."""
        from trendml.trends.queries import trend_timeline

        return trend_timeline(self.engine, trend_id)  # one generation

    def members_of(self, trend_id: str) -> list[str]:
        """Member item ids of a trend over every window it appeared in (for label export); for a
        trend a reset retired, its members as of that reset."""
        from trendml.trends.queries import trend_members

        return trend_members(self.engine, trend_id)

    def export(self, read: Any) -> Any:
        """``read(members_of)`` inside one generation of the trend state (the label export reads
        many trends: it must not mix two states)."""
        from trendml.trends.state import consistent_read

        out, _ = consistent_read(self.engine, lambda: read(self.members_of))
        return out

