"""Read-only queries over the trend state for the service, reports and the CLI.

Each takes a :class:`TrendState` or a SQLAlchemy ``Engine`` on the trendml database and returns
plain dicts (JSON-ready, datetimes as ISO-8601 strings with ``Z``). Each reads the database afresh
and sees ONE generation of the state (:func:`~trendml.trends.state.consistent_read`): a reset or
re-run committed by another process while a query runs makes it read again, never mix the two.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from trendml.errors import InputError
from trendml.trends.keywords import trend_title
from trendml.trends.record import TrendSnapshot
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
from trendml.trends.status import STATUS_VALUES, parse_status
from trendml.utc import iso_z as _iso
from trendml.utc import naive as _naive

logger = logging.getLogger(__name__)

MAX_LIMIT = 500


def _engine(source: TrendState | Engine) -> Engine:
    return source.engine if isinstance(source, TrendState) else source


def _trend_dict(row: TrendRow) -> dict[str, Any]:
    return {
        "trend_id": row.trend_id,
        "status": row.status,
        "emerging": bool(row.emerging),
        "ever_emerging": bool(row.ever_emerging),
        "first_seen": _iso(row.first_start),
        "last_seen": _iso(row.last_start),
        "n_windows": row.n_windows,
        "total_size": row.total_size,
        "last_size": row.last_size,
        "emergence_score": row.emergence_score,
        "us_share": row.us_share,
        "us_lift": row.us_lift,
        "keywords": json.loads(row.keywords or "[]"),
        "title": trend_title(json.loads(row.keywords or "[]")),
        "parent_id": row.parent_id,
        "merged_into": row.merged_into,
    }


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
) -> dict[str, Any]:
    """Trends, most recently seen first, then by emergence score.

    Filters: ``status`` (new/growing/stable/fading, as of the trend's last window), ``emerging``
    (in its last window), ``region`` (ISO code: trends whose members in their last window come
    from that region significantly more than the window's items do, one-sided p < ``alpha``),
    ``since`` (seen in a window starting at or after it). Returns ``{"total", "items"}``.
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

    def read() -> dict[str, Any]:
        from sqlalchemy.orm import Session

        with Session(eng) as s:
            rows = list(s.scalars(stmt))
            if region is not None:
                code = region.strip().upper()
                rows = [r for r in rows if _region_significant(s, r, code, alpha)]
            total = len(rows)
            page = rows[offset : offset + limit]
            return {"total": total, "items": [_trend_dict(r) for r in page]}

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


def trend_timeline(
    source: TrendState | Engine, trend_id: str, *, include_members: bool = False
) -> dict[str, Any] | None:
    """One trend with one entry per window it appeared in (time order): size, status, scores,
    keywords and representative ids; plus its split/merge events. ``None`` if unknown."""
    eng = _engine(source)
    return consistent_read(eng, lambda: _timeline(eng, trend_id, include_members))[0]


def _timeline(eng: Engine, trend_id: str, include_members: bool) -> dict[str, Any] | None:
    from sqlalchemy.orm import Session

    with Session(eng) as s:
        row = s.get(TrendRow, trend_id)
        if row is None:
            return None
        out = _trend_dict(row)
        windows = []
        q = (
            select(TrendObservation, TrendWindow)
            .join(TrendWindow, TrendWindow.seq == TrendObservation.seq)
            .where(TrendObservation.trend_id == trend_id)
            .order_by(TrendObservation.seq)
        )
        for obs, win in s.execute(q):
            payload = TrendSnapshot.from_payload(json.loads(obs.payload)).to_json()
            if not include_members:
                payload.pop("member_ids", None)
            payload.update({"start": _iso(win.start), "end": _iso(win.end), "n_items": win.n_items})
            windows.append(payload)
        out["windows"] = windows
        out["events"] = [
            {"kind": e.kind, "trend_id": e.trend_id, "other_id": e.other_id, "window_seq": e.seq}
            for e in s.scalars(
                select(TrendEvent)
                .where((TrendEvent.trend_id == trend_id) | (TrendEvent.other_id == trend_id))
                .order_by(TrendEvent.id)
            )
        ]
        return out


def list_windows(source: TrendState | Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """Processed windows, newest first: start, end, n_items, n_trends, note, us_share."""
    eng = _engine(source)
    from sqlalchemy.orm import Session

    with Session(eng) as s:
        rows = s.scalars(select(TrendWindow).order_by(TrendWindow.seq.desc()).limit(limit))
        return [
            {
                "start": _iso(w.start),
                "end": _iso(w.end),
                "n_items": w.n_items,
                "n_trends": w.n_trends,
                "note": w.note,
                "us_share": w.us_share,
            }
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


def retired_trends(source: TrendState | Engine) -> dict[str, dict[str, Any]]:
    """Trends deleted by a reset that the re-run did not bring back: id -> ``{"retired_at",
    "generation", "n_members"}`` (their members stay readable through :func:`trend_members`)."""
    from sqlalchemy.orm import Session

    with Session(_engine(source)) as s:
        return {
            r.trend_id: {
                "retired_at": _iso(r.retired_at),
                "generation": r.generation,
                "n_members": len(json.loads(r.member_ids)),
            }
            for r in s.scalars(select(TrendRetired).order_by(TrendRetired.trend_id))
        }


def count_trends(source: TrendState | Engine) -> int:
    with _engine(source).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TrendRow)).scalar_one())


def representative_ids(timeline: dict[str, Any], limit: int) -> list[str]:
    """A trend's representative item ids across its windows, latest window first, unique, at
    most ``limit`` (``timeline`` as returned by :func:`trend_timeline`)."""
    ids: list[str] = []
    for window in reversed(timeline.get("windows", [])):
        for item_id in window.get("representative_ids", []):
            if item_id not in ids:
                ids.append(item_id)
    return ids[:limit]


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
    if not trend_ids:
        return {}
    last_seq = dict(
        s.execute(select(TrendRow.trend_id, TrendRow.last_seq).where(TrendRow.trend_id.in_(trend_ids))).all()
    )
    rows = s.execute(
        select(TrendObservation.trend_id, TrendObservation.seq, TrendObservation.payload).where(
            TrendObservation.trend_id.in_(trend_ids)
        )
    )
    return {
        tid: TrendSnapshot.from_payload(json.loads(payload))
        for tid, seq, payload in rows
        if last_seq.get(tid) == seq
    }


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


def trend_rows(session: Session, trend_ids: Iterable[str]) -> list[TrendRow]:
    """The stored rows of these trends (any order; unknown ids are skipped)."""
    ids = sorted(set(trend_ids))
    out: list[TrendRow] = []
    for k in range(0, len(ids), 500):
        out.extend(session.scalars(select(TrendRow).where(TrendRow.trend_id.in_(ids[k : k + 500]))))
    return out


def observations_between(session: Session, start: datetime, end: datetime) -> list[TrendObservation]:
    """Every observation whose window starts in ``[start, end)``."""
    return list(
        session.scalars(
            select(TrendObservation).where(
                TrendObservation.window_start >= _naive(start),
                TrendObservation.window_start < _naive(end),
            )
        )
    )


def observation_snapshot(obs: TrendObservation) -> TrendSnapshot:
    """The typed trend of a stored observation row (older payload shapes included)."""
    return TrendSnapshot.from_payload(json.loads(obs.payload))
