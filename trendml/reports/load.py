"""The one module of :mod:`trendml.reports` that reads the store: a period's records.

Queries are bounded by the period (items, windows, audit rows, reviews) except the trend
feedback, which is read up to the period's end (time-to-decision needs first decisions).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from trendml.errors import StateError
from trendml.reports.period import Period
from trendml.reports.records import (
    FeedbackRecord,
    ItemRecord,
    ObservationRecord,
    ReportData,
    ScoreRecord,
    TrendInfo,
)
from trendml.utc import aware as _aware

if TYPE_CHECKING:
    from trendml.trends.record import TrendView

logger = logging.getLogger(__name__)


def open_store(db_url: str) -> Engine:
    """Engine on an existing trendml database (tables created if missing, e.g. ``qa_*``).

    Raises :class:`StateError` when a SQLite file does not exist yet or the database holds neither
    an ``items`` nor a ``trend_trends`` table (nothing was ever stored or detected), rather than
    reporting on an empty new database. A database written by ``trendml detect`` alone (trend
    tables only) is accepted: briefs work on it, examples then show "not in the item store".
    """
    from trendml.schema import create_all
    from trendml.store.base import make_engine

    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:") and not path.exists():
            raise StateError(
                f"no trendml database at {path}; expected one written by the service or `trendml serve`; "
                "set TRENDML_HOME (or TRENDML_DATABASE_URL) to the service's data directory"
            )
    engine = make_engine(db_url)
    try:
        insp = inspect(engine)
        has_items = insp.has_table("items") or insp.has_table("trend_trends")
    except Exception as exc:
        engine.dispose()
        raise StateError(
            f"the database at {db_url} cannot be read ({type(exc).__name__}); expected a trendml database; "
            "check TRENDML_DATABASE_URL"
        ) from None
    if not has_items:
        engine.dispose()
        raise StateError(
            f"the database at {db_url} holds no trendml tables; expected one written by the service or "
            "`trendml detect`; "
            "set TRENDML_HOME (or TRENDML_DATABASE_URL) to the service's data directory"
        )
    create_all(engine)
    return engine


def _trend_info(view: TrendView) -> TrendInfo:
    return TrendInfo(
        trend_id=view.trend_id,
        first_start=view.first_seen,
        last_start=view.last_seen,
        status=view.status.value,
        emerging=view.emerging,
        keywords=view.keywords,
        total_size=view.total_size,
        us_share=view.us_share,
        us_lift=view.us_lift,
    )


def load_trends(session: Session, trend_ids) -> dict[str, TrendInfo]:
    from trendml.trends.queries import trend_views

    return {view.trend_id: _trend_info(view) for view in trend_views(session, trend_ids)}


def load_report_data(session: Session, period: Period) -> ReportData:
    """Read the records of ``period`` from the trendml database behind ``session``: observations
    and trends from one generation of the trend state (read again when a detection run committed
    in the middle, :func:`trendml.trends.state.consistent_read`)."""
    from trendml.trends.state import consistent_read

    return consistent_read(session.get_bind(), lambda: _load_report_data(session, period))[0]


def _load_report_data(session: Session, period: Period) -> ReportData:
    from trendml.store.audit import ScoreAudit
    from trendml.store.feedback import TrendFeedback
    from trendml.store.items import StoredItem
    from trendml.store.qa import qa_counts, review_pairs
    from trendml.trends.queries import observations_between

    at = func.coalesce(StoredItem.created_at, StoredItem.received_at)
    items = [
        ItemRecord(id=i, at=_aware(t), severity=s, model_version=v)
        for i, t, s, v in session.execute(
            select(StoredItem.id, at, StoredItem.severity, StoredItem.model_version).where(
                at >= period.start, at < period.end
            )
        )
    ]
    items = [it for it in items if period.contains(it.at)]
    observations = []
    for point in observations_between(session, period.start, period.end):
        snap = point.trend
        observations.append(
            ObservationRecord(
                trend_id=snap.trend_id,
                window_start=point.start,
                size=snap.size,
                emerging=snap.emerging,
                status=snap.status.value,
                keywords=snap.keywords,
                us_share=snap.us_share,
                us_lift=snap.us_lift,
            )
        )
    feedback = [
        FeedbackRecord(trend_id=f.trend_id, action=f.action, analyst=f.analyst, at=_aware(f.created_at))
        for f in session.scalars(select(TrendFeedback).where(TrendFeedback.created_at < period.end))
    ]
    feedback = [f for f in feedback if f.at < period.end]
    scores = [
        ScoreRecord(
            item_id=a.item_id, model_version=a.model_version, severity=int(a.severity), at=_aware(a.scored_at)
        )
        for a in session.scalars(
            select(ScoreAudit).where(ScoreAudit.scored_at >= period.start, ScoreAudit.scored_at < period.end)
        )
    ]
    trends = load_trends(session, [o.trend_id for o in observations] + [f.trend_id for f in feedback])
    pairs, actions, unscored = load_outcome_pairs(session, period)
    return ReportData(
        monitoring=load_monitoring(session, period),
        outcome_pairs=pairs,
        outcome_actions=actions,
        outcome_unscored=unscored,
        items=items,
        observations=observations,
        trends=trends,
        feedback=feedback,
        scores=scores,
        qa_pairs=review_pairs(session, period.start, period.end),
        qa_counts=qa_counts(session),
    )


def load_outcome_pairs(session: Session, period: Period) -> tuple[list[tuple[int, int]], dict[str, int], int]:
    """Each item whose latest moderator outcome (before the period's end) was decided in the period:
    ``(pre-score, outcome severity)`` pairs, outcomes per action, and how many had no pre-score.
    The pre-score is the item's stored severity, else the latest audited score of that id."""
    from trendml.store.audit import ScoreAudit, latest_audit_values
    from trendml.store.items import get_items
    from trendml.store.outcomes import ItemOutcome

    latest: dict[str, ItemOutcome] = {}
    for row in session.scalars(
        select(ItemOutcome).where(ItemOutcome.decided_at < period.end).order_by(ItemOutcome.id)
    ):
        latest[row.item_id] = row
    latest = {k: v for k, v in latest.items() if period.contains(_aware(v.decided_at))}
    stored = get_items(session, list(latest))
    pre = {k: r.severity for k, r in stored.items() if r.severity is not None}
    missing = [k for k in latest if k not in pre]
    pre.update({k: int(v) for k, v in latest_audit_values(session, missing, ScoreAudit.severity).items()})
    pairs = [(int(pre[k]), int(v.severity)) for k, v in sorted(latest.items()) if k in pre]
    actions: dict[str, int] = {}
    for v in latest.values():
        actions[v.action] = actions.get(v.action, 0) + 1
    return pairs, actions, sum(1 for k in latest if k not in pre)


def load_monitoring(session: Session, period: Period) -> dict:
    """Drift, calibration and language share over ``period``; the reference window is that of the
    model version that answered last in the period (the champion then)."""
    from trendml.monitoring import monitoring_snapshot
    from trendml.store.audit import ScoreAudit

    version = session.scalar(
        select(ScoreAudit.model_version)
        .where(ScoreAudit.scored_at < period.end)
        .order_by(ScoreAudit.id.desc())
        .limit(1)
    )
    days = max(1, (period.end - period.start).days)
    return monitoring_snapshot(session, now=period.end, days=days, champion_version=version)


def production_numbers(session: Session, period: Period) -> dict:
    """Every report number for ``period`` straight from the store (what a dashboard page shows)."""
    from trendml.reports.aggregate import build_report

    return build_report(load_report_data(session, period), period)
