"""Plain records the report aggregations work on (loaded from the store by :mod:`trendml.reports.load`).

All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ItemRecord:
    """A stored item: when it happened (``created_at``, else ``received_at``) and its severity."""

    id: str
    at: datetime
    severity: int | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class ObservationRecord:
    """One trend in one detection window."""

    trend_id: str
    window_start: datetime
    size: int
    emerging: bool
    status: str
    keywords: tuple[str, ...] = ()
    us_share: float | None = None
    us_lift: float | None = None


@dataclass(frozen=True)
class TrendInfo:
    """A trend as it stands now (its latest window)."""

    trend_id: str
    first_start: datetime
    last_start: datetime | None
    status: str | None
    emerging: bool
    keywords: tuple[str, ...] = ()
    total_size: int = 0
    us_share: float | None = None
    us_lift: float | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    """One analyst decision on a trend."""

    trend_id: str
    action: str
    analyst: str
    at: datetime


@dataclass(frozen=True)
class ScoreRecord:
    """One score the service returned (from the audit log)."""

    item_id: str
    model_version: str
    severity: int
    at: datetime


@dataclass
class ReportData:
    """Everything one report is computed from.

    ``items``, ``observations``, ``scores`` and ``qa_pairs`` are already restricted to the period;
    ``feedback`` holds every decision made before the period's end (time-to-decision needs a
    trend's first decision even when later ones fall in the period); ``trends`` holds every trend
    referenced by the observations or the feedback.
    """

    items: list[ItemRecord] = field(default_factory=list)
    observations: list[ObservationRecord] = field(default_factory=list)
    trends: dict[str, TrendInfo] = field(default_factory=dict)
    feedback: list[FeedbackRecord] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)
    qa_pairs: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: {"model_reviewer": [], "reviewers": []}
    )
    qa_counts: dict[str, int] = field(default_factory=dict)
    #: (pre-score, outcome severity) of each item whose latest moderator outcome was decided in
    #: the period (:mod:`trendml.reports.outcomes`); outcomes per action; outcomes on unscored items
    outcome_pairs: list[tuple[int, int]] = field(default_factory=list)
    outcome_actions: dict[str, int] = field(default_factory=dict)
    outcome_unscored: int = 0
    #: live-monitoring figures over the period (:func:`trendml.monitoring.monitoring_snapshot`)
    monitoring: dict | None = None
