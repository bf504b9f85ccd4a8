"""What each dashboard page shows, read from the service's database (no second store).

Plain functions returning dicts, so pages are cheap to test and time. Trend data comes from
the trend engine's queries (:mod:`trendml.trends.queries`) as typed records, each page's dict is
built from them here (``TrendView.to_json()``, ``TrendTimeline.to_json()``); items and scores
from ``trendml.store``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from trendml.curation import curated_list, curated_trend
from trendml.language import language_supported
from trendml.priority import PRIORITY_LABELS, priority
from trendml.store.feedback import latest_actions, list_feedback
from trendml.store.items import StoredItem, get_items
from trendml.store.outcomes import latest_outcomes
from trendml.trends.queries import item_trends, list_trends, sizes_by_trend, trend_timeline
from trendml.trends.record import TrendView
from trendml.trends.state import consistent_read
from trendml.trends.status import STATUS_VALUES
from trendml.utc import aware

logger = logging.getLogger(__name__)

STATUSES = STATUS_VALUES


def dominant_severity(mix: list[float] | None) -> int | None:
    """The severity level with the largest share of a trend's members (``None`` without scores)."""
    if not mix:
        return None
    return max(range(len(mix)), key=lambda i: mix[i])


def trends_overview(
    engine: Engine,
    *,
    status: str | None = None,
    region: str | None = None,
    min_severity: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Trends for the list page: emerging first, then by emergence score.

    ``min_severity`` keeps trends whose dominant severity (largest share of the mix) is at
    least that level; ``since``/``until`` bound the trend's last/first window.
    """

    def read() -> tuple[list[TrendView], dict, dict]:
        listed = list_trends(engine, status=status, region=region, since=since, limit=500).items
        listed = curated_list(engine, listed)  # issue 16: merged trends redirect, analyst titles
        if until is not None:
            listed = [t for t in listed if t.first_seen <= aware(until)]
        ids = [t.trend_id for t in listed]
        with Session(engine) as s:
            return listed, sizes_by_trend(s, ids), latest_actions(s)

    # the list and its sizes from one generation of the trend state (re-read if it moved)
    (listed, sizes, decisions), _ = consistent_read(engine, read)
    rows = []
    for t in listed:
        snap = t.latest
        mix = list(snap.severity_mix) if snap is not None and snap.severity_mix is not None else None
        dom = dominant_severity(mix)
        if min_severity is not None and (dom is None or dom < min_severity):
            continue
        series = sizes.get(t.trend_id, [])
        fb = decisions.get(t.trend_id)
        rows.append(
            {
                **t.to_json(),
                "sizes": [size for _, size, _ in series],
                "severity_mix": mix,
                "dominant_severity": dom,
                "us_lift_p": snap.us_lift_p if snap is not None else None,
                "us_specific": snap.us_specific if snap is not None else None,
                "decision": fb.to_dict() if fb else None,
            }
        )
    rows.sort(key=lambda r: (not r["emerging"], -(r["emergence_score"] or 0.0), r["trend_id"]))
    return {"total": len(rows), "items": rows[offset : offset + limit], "limit": limit, "offset": offset}


def trend_detail(engine: Engine, trend_id: str, *, max_examples: int = 12) -> dict[str, Any] | None:
    """One trend: timeline, keywords, representative items with their scores, decisions."""
    timeline = trend_timeline(engine, trend_id)
    if timeline is None:
        return None
    trend = curated_trend(engine, timeline)  # issue 16: analyst title, merged trends, curation history
    rep_ids = timeline.representative_ids(max_examples)
    with Session(engine) as s:
        stored = get_items(s, rep_ids)
        decisions = [fb.to_dict() for fb in list_feedback(s, trend_id)]
    examples = []
    for item_id in rep_ids:
        row = stored.get(item_id)
        examples.append(
            {
                "id": item_id,
                "text": (row.text or row.caption or "") if row else None,
                "caption": row.caption if row and row.text else None,
                "severity": row.severity if row else None,
                "region": row.region if row else None,
                "created_at": row.created_at.isoformat() if row and row.created_at else None,
            }
        )
    last = trend["windows"][-1] if trend["windows"] else {}
    trend.update(
        {
            "examples": examples,
            "decisions": decisions,
            "severity_mix": last.get("severity_mix"),
            "us_lift_p": last.get("us_lift_p"),
        }
    )
    return trend


def triage_queue(engine: Engine, *, limit: int = 100, offset: int = 0, policy: Any = None) -> dict[str, Any]:
    """Scored items in triage order: priority (``policy``'s rule, default ``trendml.priority``), then
    newest first."""
    rank = policy.priority_of if policy is not None else priority
    labels = policy.priority.labels if policy is not None else PRIORITY_LABELS
    with Session(engine) as s:
        scored = s.execute(
            select(StoredItem.id, StoredItem.severity, StoredItem.created_at, StoredItem.received_at).where(
                StoredItem.severity.is_not(None)
            )
        ).all()
        trend_of, emerging_ids = item_trends(s)
        ranked = sorted(
            (
                (
                    rank(int(sev), emerging=item_id in emerging_ids),
                    -(created or received).timestamp(),
                    item_id,
                )
                for item_id, sev, created, received in scored
            ),
        )
        page = ranked[offset : offset + limit]
        stored = get_items(s, [item_id for _, _, item_id in page])
        outcomes = latest_outcomes(s, [item_id for _, _, item_id in page])
    rows = []
    for prio, _, item_id in page:
        row = stored[item_id]
        rows.append(
            {
                "id": item_id,
                "priority": prio,
                "priority_label": labels[prio],
                "severity": row.severity,
                "severity_probs": row.severity_probs,
                "text": row.text or row.caption or "",
                "region": row.region,
                "created_at": row.created_at.isoformat() if row.created_at else None,
                "trend_id": trend_of.get(item_id),
                "emerging": item_id in emerging_ids,
                "model_version": row.model_version,
                "outcome": outcomes[item_id].to_dict() if item_id in outcomes else None,
                "language": getattr(row, "language", None),
                "language_supported": language_supported(getattr(row, "language", None)),
            }
        )
    return {"total": len(ranked), "items": rows, "limit": limit, "offset": offset}


def decision_changes(decisions: list[dict[str, Any]]) -> dict[int, str]:
    """For each decision (by id) that changed the one before it, the earlier action: a change of
    decision is shown as one ("changed from confirm")."""
    out: dict[int, str] = {}
    for before, after in zip(decisions, decisions[1:], strict=False):
        if before["action"] != after["action"]:
            out[after["id"]] = before["action"]
    return out
