"""Report numbers as pure functions over plain records (no database, no clock).

Definitions (also in docs/reports.md):

- *items received*: items whose time (``created_at``, else ``received_at``) is in the period.
- *severity mix*: those items by their stored severity (``unscored`` when they have none).
- *trends surfaced*: distinct trends that were emerging in at least one window starting in the period.
- *confirmed / dismissed / escalated*: distinct trends whose latest decision made in the period is
  that action.
- *analyst actions*: every decision made in the period, by action and by analyst.
- *time to decision*: for each trend whose **first** decision was made in the period, that decision's
  time minus the start of the trend's first window (hours); the median is reported.
- *top trends*: trends seen in windows of the period, by their summed size over those windows.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from trendml.reports.outcomes import outcome_section
from trendml.reports.period import Period
from trendml.reports.records import (
    FeedbackRecord,
    ItemRecord,
    ObservationRecord,
    ReportData,
    ScoreRecord,
    TrendInfo,
)
from trendml.store.feedback import ACTIONS
from trendml.store.qa import agreement_from_pairs

logger = logging.getLogger(__name__)

SEVERITY_NAMES = {0: "none", 1: "offensive", 2: "hateful", 3: "threat/violent"}


def _in(period: Period, records: Iterable[Any], attr: str) -> list[Any]:
    return [r for r in records if period.contains(getattr(r, attr))]


def items_per_day(items: Iterable[ItemRecord], period: Period) -> dict[str, int]:
    """``{"YYYY-MM-DD": n}`` for every day of the period (zeros included)."""
    out = {d.isoformat(): 0 for d in period.days}
    for it in _in(period, items, "at"):
        out[it.at.date().isoformat()] += 1
    return out


def severity_mix(items: Iterable[ItemRecord]) -> dict[str, int]:
    """``{"0": n, "1": n, "2": n, "3": n, "unscored": n}``."""
    counts = Counter("unscored" if it.severity is None else str(int(it.severity)) for it in items)
    return {k: int(counts.get(k, 0)) for k in ("0", "1", "2", "3", "unscored")}


def trends_surfaced(observations: Iterable[ObservationRecord], period: Period) -> list[str]:
    """Trend ids emerging in at least one window starting in the period (sorted)."""
    return sorted({o.trend_id for o in _in(period, observations, "window_start") if o.emerging})


def decisions(feedback: Iterable[FeedbackRecord], period: Period) -> dict[str, Any]:
    """Decisions made in the period: ``actions`` (rows per action), ``by_analyst`` (rows per analyst),
    ``trends`` (distinct trends per latest action in the period) and ``n_actions``."""
    rows = sorted(_in(period, feedback, "at"), key=lambda f: f.at)
    latest: dict[str, str] = {}
    for f in rows:
        latest[f.trend_id] = f.action
    by_action = Counter(f.action for f in rows)
    return {
        "n_actions": len(rows),
        "actions": {a: int(by_action.get(a, 0)) for a in ACTIONS},
        "by_analyst": dict(sorted(Counter(f.analyst for f in rows).items())),
        "trends": {a: sum(v == a for v in latest.values()) for a in ACTIONS},
    }


def time_to_decision(
    feedback: Iterable[FeedbackRecord], trends: dict[str, TrendInfo], period: Period
) -> dict[str, Any]:
    """Hours from a trend's first window start to its first decision, for first decisions made in the
    period: ``{"n", "median_hours", "hours": {trend_id: h}}`` (``median_hours`` None when n == 0)."""
    first: dict[str, FeedbackRecord] = {}
    for f in sorted(feedback, key=lambda f: f.at):
        first.setdefault(f.trend_id, f)
    hours = {
        tid: round((f.at - trends[tid].first_start).total_seconds() / 3600.0, 3)
        for tid, f in sorted(first.items())
        if period.contains(f.at) and tid in trends
    }
    return {
        "n": len(hours),
        "median_hours": round(float(statistics.median(hours.values())), 3) if hours else None,
        "hours": hours,
    }


def trend_sizes(observations: Iterable[ObservationRecord], period: Period) -> dict[str, dict[str, int]]:
    """``{trend_id: {window start ISO: size}}`` for windows starting in the period."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for o in sorted(_in(period, observations, "window_start"), key=lambda o: o.window_start):
        out[o.trend_id][o.window_start.isoformat()] = int(o.size)
    return dict(out)


def top_trends(
    observations: Sequence[ObservationRecord],
    trends: dict[str, TrendInfo],
    feedback: Iterable[FeedbackRecord],
    period: Period,
    n: int = 10,
) -> list[dict[str, Any]]:
    """The ``n`` top trends of the period: those that emerged in it first (so a new campaign is not
    buried under large steady topics), then by members in the period's windows (ties: trend id), with
    keywords of their latest window in the period, whether they emerged in the period and their
    latest decision (as of the period's end)."""
    obs = sorted(_in(period, observations, "window_start"), key=lambda o: o.window_start)
    size: Counter[str] = Counter()
    last: dict[str, ObservationRecord] = {}
    emerged: set[str] = set()
    for o in obs:
        size[o.trend_id] += int(o.size)
        last[o.trend_id] = o
        if o.emerging:
            emerged.add(o.trend_id)
    decided: dict[str, str] = {}
    for f in sorted(feedback, key=lambda f: f.at):
        if f.at < period.end:
            decided[f.trend_id] = f.action
    ranked = sorted(size.items(), key=lambda kv: (kv[0] not in emerged, -kv[1], kv[0]))[:n]
    out = []
    for tid, total in ranked:
        o = last[tid]
        info = trends.get(tid)
        out.append(
            {
                "trend_id": tid,
                "size_in_period": int(total),
                "n_windows": sum(1 for x in obs if x.trend_id == tid),
                "last_size": int(o.size),
                "status": o.status,
                "emerged_in_period": tid in emerged,
                "keywords": list(o.keywords),
                "us_share": o.us_share,
                "us_lift": o.us_lift,
                "first_seen": info.first_start.isoformat() if info else None,
                "decision": decided.get(tid),
            }
        )
    return out


def per_day(data: ReportData, period: Period) -> list[dict[str, Any]]:
    """One row per day of the period: items, scored items, trends surfaced (emerging in a window
    starting that day), analyst actions."""
    rows = {
        d: {"day": d.isoformat(), "items": 0, "scored": 0, "trends_surfaced": 0, "analyst_actions": 0}
        for d in period.days
    }
    for it in _in(period, data.items, "at"):
        r = rows[it.at.date()]
        r["items"] += 1
        r["scored"] += it.severity is not None
    surfaced: dict[date, set[str]] = defaultdict(set)
    for o in _in(period, data.observations, "window_start"):
        if o.emerging:
            surfaced[o.window_start.date()].add(o.trend_id)
    for d, ids in surfaced.items():
        rows[d]["trends_surfaced"] = len(ids)
    for f in _in(period, data.feedback, "at"):
        rows[f.at.date()]["analyst_actions"] += 1
    return [rows[d] for d in period.days]


def scores_by_model(scores: Iterable[ScoreRecord]) -> list[dict[str, Any]]:
    """Scores the service returned, per model version: ``n``, severity mix, first and last time."""
    groups: dict[str, list[ScoreRecord]] = defaultdict(list)
    for s in scores:
        groups[s.model_version].append(s)
    out = []
    for version, rows in sorted(groups.items()):
        mix = Counter(str(int(r.severity)) for r in rows)
        out.append(
            {
                "model_version": version,
                "n": len(rows),
                "severity_mix": {k: int(mix.get(k, 0)) for k in ("0", "1", "2", "3")},
                "first": min(r.at for r in rows).isoformat(),
                "last": max(r.at for r in rows).isoformat(),
            }
        )
    return out


def build_report(
    data: ReportData,
    period: Period,
    *,
    top_n: int = 10,
    level_names: Mapping[int, str] | None = None,
    show_text: bool = False,
) -> dict[str, Any]:
    """Every number of a report, JSON-ready (the renderers only format this dict). ``level_names``:
    the severity levels' names from the policy (``trendml.policy``); default :data:`SEVERITY_NAMES`.
    Slurs in the top trends' keywords are masked (:mod:`trendml.lexicon`) unless ``show_text``."""
    top = top_trends(data.observations, data.trends, data.feedback, period, n=top_n)
    if not show_text:
        from trendml.lexicon import mask_keywords

        for t in top:
            t["keywords"] = mask_keywords(t["keywords"])
    items = _in(period, data.items, "at")
    mix = severity_mix(items)
    surfaced = trends_surfaced(data.observations, period)
    dec = decisions(data.feedback, period)
    qa = agreement_from_pairs(data.qa_pairs)
    return {
        "severity_names": {str(k): v for k, v in (level_names or SEVERITY_NAMES).items()},
        "period": {
            "kind": period.kind,
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "days": [d.isoformat() for d in period.days],
        },
        "items": {
            "received": len(items),
            "scored": len(items) - mix["unscored"],
            "severity_mix": mix,
            "per_day": items_per_day(items, period),
        },
        "trends": {
            "surfaced": len(surfaced),
            "surfaced_ids": surfaced,
            "seen": len({o.trend_id for o in _in(period, data.observations, "window_start")}),
            "confirmed": dec["trends"]["confirm"],
            "dismissed": dec["trends"]["dismiss"],
            "escalated": dec["trends"]["escalate"],
            "top": top,
            "sizes": trend_sizes(data.observations, period),
        },
        "analysts": {
            "n_actions": dec["n_actions"],
            "actions": dec["actions"],
            "by_analyst": dec["by_analyst"],
            "time_to_decision": time_to_decision(data.feedback, data.trends, period),
        },
        "qa": {**qa, **{f"store_{k}": v for k, v in data.qa_counts.items()}},
        "models": scores_by_model(_in(period, data.scores, "at")),
        "per_day": per_day(data, period),
        "outcomes": outcome_section(data.outcome_pairs, data.outcome_actions, unscored=data.outcome_unscored),
        "monitoring": data.monitoring,
    }
