"""Read-only queries over the trend state for the service, the dashboard, the reports and the CLI:
the one module that reads the trend tables (:mod:`trendml.trends.state` writes them).

Each takes a :class:`TrendState` or a SQLAlchemy ``Engine`` on the trendml database (the dashboard's
and reports' readers: the caller's ``Session``) and returns the typed records of
:mod:`trendml.trends.record` (``TrendView``, ``TrendTimeline``, ``TrendSnapshot`` …), never rows
or dicts. Each reads the database afresh and sees ONE generation of the state
(:func:`~trendml.trends.state.consistent_read`): a reset or re-run committed by another process
while a query runs makes it read again, never mix the two.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from trendml.errors import InputError
from trendml.trends.keywords import trend_title
from trendml.trends.record import (
    LineageEvent,
    RetiredTrend,
    TimelinePoint,
    TrendPage,
    TrendSnapshot,
    TrendTimeline,
    TrendView,
    WindowSummary,
)
from trendml.trends.scoring import region_lift
from trendml.trends.state import (
    TrendEvent,
    TrendObservation,
    TrendRetired,
    TrendRow,
    TrendState,
    TrendWindow,
    consistent_read,
)
from trendml.trends.status import STATUS_VALUES, TrendStatus, parse_status
from trendml.utc import aware as _aware
from trendml.utc import naive as _naive

logger = logging.getLogger(__name__)

MAX_LIMIT = 500
_CHUNK = 500  # ids per IN (...) clause


def _engine(source: TrendState | Engine) -> Engine:
    return source.engine if isinstance(source, TrendState) else source


def _view(row: TrendRow, latest: TrendSnapshot | None) -> TrendView:
    """The typed trend of a stored row (and its latest observation)."""
    keywords = tuple(json.loads(row.keywords or "[]"))
    return TrendView(
        trend_id=row.trend_id,
        status=TrendStatus(row.status),
        emerging=bool(row.emerging),
        ever_emerging=bool(row.ever_emerging),
        first_seen=_aware(row.first_start),
        last_seen=_aware(row.last_start),
        n_windows=int(row.n_windows or 0),
        total_size=int(row.total_size or 0),
        size=int(row.last_size or 0),
        emergence_score=row.emergence_score,
        us_share=row.us_share,
        us_lift=row.us_lift,
        keywords=keywords,
        title=trend_title(list(keywords)),
        parent_id=row.parent_id,
        merged_into=row.merged_into,
        latest=latest,
    )


def _latest(s: Session, trend_ids: Sequence[str]) -> dict[str, TrendSnapshot]:
    """The stored observation of each trend's latest window, typed (one indexed join per chunk)."""
    out: dict[str, TrendSnapshot] = {}
    ids = list(dict.fromkeys(trend_ids))
    for k in range(0, len(ids), _CHUNK):
        rows = s.execute(
            select(TrendObservation.trend_id, TrendObservation.payload)
            .join(
                TrendRow,
                and_(
                    TrendRow.trend_id == TrendObservation.trend_id, TrendRow.last_seq == TrendObservation.seq
                ),
            )
            .where(TrendObservation.trend_id.in_(ids[k : k + _CHUNK]))
        )
        out.update({tid: TrendSnapshot.from_payload(json.loads(payload)) for tid, payload in rows})
    return out


def _views(s: Session, rows: Sequence[TrendRow]) -> list[TrendView]:
    """The typed trends of these rows, each with its latest ``TrendSnapshot``."""
    latest = _latest(s, [r.trend_id for r in rows])
    return [_view(r, latest.get(r.trend_id)) for r in rows]


def list_trends(
    source: TrendState | Engine,
    *,
    status: str | None = None,
    emerging: bool | None = None,
    region: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    alpha: float = 0.01,
    with_latest: bool = True,
) -> TrendPage:
    """Trends, most recently seen first, then by emergence score.

    Filters: ``status`` (new/growing/stable/fading, as of the trend's last window), ``emerging``
    (in its last window), ``region`` (ISO code: trends whose members in their last window come
    from that region significantly more than the window's items do, one-sided p < ``alpha``),
    ``since`` (seen in a window starting at or after it). Returns the page of ``TrendView`` (each
    with its latest ``TrendSnapshot``, unless ``with_latest`` is false: the API's list shows the
    row's fields only and skips parsing the snapshots) and the number that matched before paging.
    """
    if status is not None and parse_status(status) is None:
        raise InputError(f'status is "{status}"; expected one of {", ".join(STATUS_VALUES)}', field="status")
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit is {limit}; expected 1..{MAX_LIMIT}", field="limit")
    if offset < 0:
        raise InputError(f"offset is {offset}; expected 0 or more", field="offset")
    stmt = select(TrendRow)
    if status is not None:
        stmt = stmt.where(TrendRow.status == status)
    if emerging is not None:
        stmt = stmt.where(TrendRow.emerging.is_(bool(emerging)))
    if since is not None:
        stmt = stmt.where(TrendRow.last_start >= _naive(since))
    stmt = stmt.where(TrendRow.status.is_not(None)).order_by(
        TrendRow.last_start.desc(), TrendRow.emergence_score.desc(), TrendRow.trend_id
    )
    eng = _engine(source)

    def read() -> TrendPage:
        with Session(eng) as s:
            rows = list(s.scalars(stmt))
            if region is not None:
                code = region.strip().upper()
                rows = [r for r in rows if _region_significant(s, r, code, alpha)]
            total = len(rows)
            page = rows[offset : offset + limit]
            items = _views(s, page) if with_latest else [_view(r, None) for r in page]
            return TrendPage(total=total, items=tuple(items))

    return consistent_read(eng, read)[0]


def _region_significant(s, row: TrendRow, code: str, alpha: float) -> bool:
    obs = s.scalars(
        select(TrendObservation).where(
            TrendObservation.trend_id == row.trend_id, TrendObservation.seq == row.last_seq
        )
    ).first()
    if obs is None:
        return False
    win = s.get(TrendWindow, obs.seq)
    counts = TrendSnapshot.from_payload(json.loads(obs.payload)).region_counts or {}
    wcounts = json.loads(win.region_counts or "{}") if win is not None else {}
    _, lift, p = region_lift(
        counts.get(code, 0), sum(counts.values()), wcounts.get(code, 0), sum(wcounts.values())
    )
    return lift is not None and p is not None and lift > 1 and p < alpha


def trend_timeline(source: TrendState | Engine, trend_id: str) -> TrendTimeline | None:
    """One trend with one point per window it appeared in (time order: the stored
    ``TrendSnapshot`` there, member ids included) and its split/merge events. ``None`` if unknown."""
    eng = _engine(source)
    return consistent_read(eng, lambda: _timeline(eng, trend_id))[0]


def _timeline(eng: Engine, trend_id: str) -> TrendTimeline | None:
    with Session(eng) as s:
        row = s.get(TrendRow, trend_id)
        if row is None:
            return None
        by_seq: dict[int, TimelinePoint] = {}
        q = (
            select(TrendObservation, TrendWindow)
            .join(TrendWindow, TrendWindow.seq == TrendObservation.seq)
            .where(TrendObservation.trend_id == trend_id)
            .order_by(TrendObservation.seq)
        )
        for obs, win in s.execute(q):
            by_seq[obs.seq] = _point(obs, win)
        events = tuple(
            LineageEvent(kind=e.kind, trend_id=e.trend_id, other_id=e.other_id, window_seq=e.seq)
            for e in s.scalars(
                select(TrendEvent)
                .where((TrendEvent.trend_id == trend_id) | (TrendEvent.other_id == trend_id))
                .order_by(TrendEvent.id)
            )
        )
        latest = by_seq.get(row.last_seq)
        return TrendTimeline(
            trend=_view(row, latest.trend if latest is not None else None),
            windows=tuple(by_seq.values()),
            events=events,
        )


def _point(obs: TrendObservation, win: TrendWindow) -> TimelinePoint:
    return TimelinePoint(
        start=_aware(win.start),
        end=_aware(win.end),
        n_items=int(win.n_items),
        trend=TrendSnapshot.from_payload(json.loads(obs.payload)),
    )


def list_windows(source: TrendState | Engine, *, limit: int = 100) -> list[WindowSummary]:
    """Processed windows, newest first."""
    with Session(_engine(source)) as s:
        rows = s.scalars(select(TrendWindow).order_by(TrendWindow.seq.desc()).limit(limit))
        return [
            WindowSummary(
                start=_aware(w.start),
                end=_aware(w.end),
                n_items=int(w.n_items),
                n_trends=int(w.n_trends or 0),
                note=w.note,
                us_share=w.us_share,
            )
            for w in rows
        ]


def trend_members(source: TrendState | Engine, trend_id: str) -> list[str]:
    """Member item ids of a trend over every window it appeared in (first appearance order); for a
    trend that a reset retired (``trend_retired``), its members as of that reset; else ``[]``."""
    eng = _engine(source)
    return consistent_read(eng, lambda: _members(eng, trend_id))[0]


def _members(eng: Engine, trend_id: str) -> list[str]:
    from sqlalchemy.orm import Session

    with Session(eng) as s:
        payloads = list(
            s.scalars(
                select(TrendObservation.payload)
                .where(TrendObservation.trend_id == trend_id)
                .order_by(TrendObservation.seq)
            )
        )
        if not payloads:
            retired = s.get(TrendRetired, trend_id)
            return list(json.loads(retired.member_ids)) if retired is not None else []
    return list(
        dict.fromkeys(i for p in payloads for i in TrendSnapshot.from_payload(json.loads(p)).member_ids)
    )


def retired_trends(source: TrendState | Engine) -> dict[str, RetiredTrend]:
    """Trends deleted by a reset that the re-run did not bring back, by id (their members stay
    readable through :func:`trend_members`)."""
    with Session(_engine(source)) as s:
        return {
            r.trend_id: RetiredTrend(
                trend_id=r.trend_id,
                retired_at=_aware(r.retired_at),
                generation=int(r.generation),
                n_members=len(json.loads(r.member_ids)),
            )
            for r in s.scalars(select(TrendRetired).order_by(TrendRetired.trend_id))
        }


def count_trends(source: TrendState | Engine) -> int:
    with _engine(source).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TrendRow)).scalar_one())


def representative_ids(timeline: TrendTimeline, limit: int) -> list[str]:
    """A trend's representative item ids across its windows, latest window first, unique, at
    most ``limit`` (:meth:`TrendTimeline.representative_ids`)."""
    return timeline.representative_ids(limit)


# -- readers for the dashboard and the reports (inside the caller's session / consistent_read) ----
def sizes_by_trend(s: Session, trend_ids: list[str]) -> dict[str, list[tuple[int, int, bool]]]:
    """``(seq, size, emerging)`` of every observation of each trend, in window order."""
    out: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    if not trend_ids:
        return out
    rows = s.execute(
        select(
            TrendObservation.trend_id, TrendObservation.seq, TrendObservation.size, TrendObservation.emerging
        )
        .where(TrendObservation.trend_id.in_(trend_ids))
        .order_by(TrendObservation.seq)
    )
    for tid, seq, size, em in rows:
        out[tid].append((seq, size, bool(em)))
    return out


def latest_payloads(s: Session, trend_ids: list[str]) -> dict[str, TrendSnapshot]:
    """The stored observation of each trend's latest window, typed."""
    return _latest(s, trend_ids)


def item_trends(s: Session) -> tuple[dict[str, str], set[str]]:
    """Item id -> trend id of its latest observation; and the ids in trends emerging there."""
    trend_of: dict[str, str] = {}
    emerging_ids: set[str] = set()
    rows = s.execute(
        select(TrendObservation.trend_id, TrendObservation.emerging, TrendObservation.payload).order_by(
            TrendObservation.seq
        )
    )
    for tid, em, payload in rows:
        members = TrendSnapshot.from_payload(json.loads(payload)).member_ids
        for item_id in members:
            trend_of[item_id] = tid
            if em:
                emerging_ids.add(item_id)
            else:
                emerging_ids.discard(item_id)
    return trend_of, emerging_ids


def trend_views(session: Session, trend_ids: Iterable[str]) -> list[TrendView]:
    """These trends, typed (any order; unknown ids are skipped)."""
    ids = sorted(set(trend_ids))
    rows: list[TrendRow] = []
    for k in range(0, len(ids), _CHUNK):
        rows.extend(session.scalars(select(TrendRow).where(TrendRow.trend_id.in_(ids[k : k + _CHUNK]))))
    return _views(session, rows)


def observations_between(session: Session, start: datetime, end: datetime) -> list[TimelinePoint]:
    """Every trend observed in a window that starts in ``[start, end)``: the window and the stored
    ``TrendSnapshot`` (window order)."""
    q = (
        select(TrendObservation, TrendWindow)
        .join(TrendWindow, TrendWindow.seq == TrendObservation.seq)
        .where(
            TrendObservation.window_start >= _naive(start),
            TrendObservation.window_start < _naive(end),
        )
        .order_by(TrendObservation.seq, TrendObservation.id)
    )
    return [_point(obs, win) for obs, win in session.execute(q)]
