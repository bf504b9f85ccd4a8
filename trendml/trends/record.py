"""The typed trend record, from the detector to the store, the queries, the API, the dashboard and
the reports.

- ``TrendSnapshot``: one trend as seen in one window. The detector builds it,
  ``state.TrendState.add_window`` stores ``to_payload()`` as the observation's JSON, ``queries``
  reads it back with ``from_payload`` (older payloads included), and ``to_json()`` is exactly the
  per-trend dict of the ``trendml detect`` JSON (keys and their order).
- What :mod:`trendml.trends.queries` (the one reader of the trend tables) returns: ``TrendView``
  (a trend's lifecycle and latest-window summary, plus its latest ``TrendSnapshot``),
  ``TimelinePoint`` (a ``TrendSnapshot`` in its window), ``TrendTimeline``, ``TrendPage``,
  ``LineageEvent``, ``WindowSummary`` and ``RetiredTrend``. The API's response models, the
  dashboard's pages and the reports are filled from these, never from the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trendml.trends.keywords import trend_title
from trendml.trends.status import TrendStatus
from trendml.utc import iso_z


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


@dataclass(frozen=True)
class TrendSnapshot:
    """A trend in one window (see ``docs/trends.md`` for the meaning of each field)."""

    trend_id: str
    status: TrendStatus
    emerging: bool
    size: int
    emergence_score: float | None
    us_share: float | None
    us_lift: float | None
    keywords: tuple[str, ...]
    title: str | None
    member_ids: tuple[str, ...]
    representative_ids: tuple[str, ...]
    us_lift_p: float | None = None
    us_specific: bool = False
    burst_z: float | None = None
    density_ratio: float | None = None
    growth_z: float | None = None
    novelty: float | None = None
    severity_mix: tuple[float, ...] | None = None
    region_counts: Mapping[str, int] | None = None
    parent_id: str | None = None
    signal: str = "cluster"

    def to_json(self) -> dict[str, Any]:
        """The per-trend dict of the ``trendml detect`` JSON (the contract, keys in this order)."""
        return {
            "trend_id": self.trend_id,
            "status": self.status.value,
            "emerging": self.emerging,
            "size": self.size,
            "emergence_score": self.emergence_score,
            "us_share": self.us_share,
            "us_lift": self.us_lift,
            "keywords": list(self.keywords),
            "title": self.title,
            "member_ids": list(self.member_ids),
            "representative_ids": list(self.representative_ids),
            "us_lift_p": self.us_lift_p,
            "us_specific": self.us_specific,
            "burst_z": self.burst_z,
            "density_ratio": self.density_ratio,
            "growth_z": self.growth_z,
            "novelty": self.novelty,
            "severity_mix": list(self.severity_mix) if self.severity_mix is not None else None,
            "region_counts": dict(self.region_counts or {}),
            "parent_id": self.parent_id,
            "signal": self.signal,
        }

    def __getitem__(self, key: str) -> Any:
        """Read-only ``trend["size"]`` access with the JSON value, for callers written against the
        dicts of ``trendml detect`` (benchmarks, notebooks, older tests); new code uses attributes."""
        return self.to_json()[key]

    def to_payload(self) -> dict[str, Any]:
        """What the store keeps as the observation's JSON payload (today: the contract dict)."""
        return self.to_json()

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TrendSnapshot:
        """Read a stored payload, including older shapes: before the title was stored it is derived
        from the keywords; extras that were not stored yet read as ``None`` / ``False`` /
        ``"cluster"``; a ``last_size`` key stands for ``size``."""
        keywords = tuple(str(k) for k in payload.get("keywords") or ())
        size = payload.get("size", payload.get("last_size"))
        mix = payload.get("severity_mix")
        return cls(
            trend_id=str(payload["trend_id"]),
            status=TrendStatus(payload.get("status") or TrendStatus.STABLE),
            emerging=bool(payload.get("emerging", False)),
            size=int(size or 0),
            emergence_score=_opt_float(payload.get("emergence_score")),
            us_share=_opt_float(payload.get("us_share")),
            us_lift=_opt_float(payload.get("us_lift")),
            keywords=keywords,
            title=payload.get("title") or trend_title(list(keywords)),
            member_ids=tuple(str(i) for i in payload.get("member_ids") or ()),
            representative_ids=tuple(str(i) for i in payload.get("representative_ids") or ()),
            us_lift_p=_opt_float(payload.get("us_lift_p")),
            us_specific=bool(payload.get("us_specific", False)),
            burst_z=_opt_float(payload.get("burst_z")),
            density_ratio=_opt_float(payload.get("density_ratio")),
            growth_z=_opt_float(payload.get("growth_z")),
            novelty=_opt_float(payload.get("novelty")),
            severity_mix=tuple(float(v) for v in mix) if mix is not None else None,
            region_counts={str(k): int(v) for k, v in (payload.get("region_counts") or {}).items()},
            parent_id=payload.get("parent_id"),
            signal=str(payload.get("signal") or "cluster"),
        )


@dataclass(frozen=True)
class TrendView:
    """A trend as the store keeps it: its lifecycle (first and latest window, windows, members over
    all of them, lineage) and its latest window's summary (``size`` … ``title``, as the trend row
    holds them), plus the stored ``TrendSnapshot`` of that latest window (``latest``; ``None`` for a
    trend with no stored observation, or from ``queries.list_trends(with_latest=False)``)."""

    trend_id: str
    status: TrendStatus
    emerging: bool
    ever_emerging: bool
    first_seen: datetime
    last_seen: datetime
    n_windows: int
    total_size: int
    size: int
    emergence_score: float | None
    us_share: float | None
    us_lift: float | None
    keywords: tuple[str, ...]
    title: str | None
    parent_id: str | None
    merged_into: str | None
    latest: TrendSnapshot | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (datetimes ISO-8601 with ``Z``), for the dashboard's pages and the briefs."""
        return {
            "trend_id": self.trend_id,
            "status": self.status.value,
            "emerging": self.emerging,
            "ever_emerging": self.ever_emerging,
            "first_seen": iso_z(self.first_seen),
            "last_seen": iso_z(self.last_seen),
            "n_windows": self.n_windows,
            "total_size": self.total_size,
            "size": self.size,
            "emergence_score": self.emergence_score,
            "us_share": self.us_share,
            "us_lift": self.us_lift,
            "keywords": list(self.keywords),
            "title": self.title,
            "parent_id": self.parent_id,
            "merged_into": self.merged_into,
        }


@dataclass(frozen=True)
class TrendPage:
    """A page of trends and how many matched the filters before paging."""

    total: int
    items: tuple[TrendView, ...]


@dataclass(frozen=True)
class TimelinePoint:
    """A trend in one window of its timeline: the window (start, end, items in it) and the trend's
    stored ``TrendSnapshot`` there."""

    start: datetime
    end: datetime
    n_items: int
    trend: TrendSnapshot

    def to_json(self, *, members: bool = False) -> dict[str, Any]:
        """The snapshot's ``to_json()`` (without ``member_ids`` unless ``members``) and the window's
        ``start``, ``end`` and ``n_items``."""
        out = self.trend.to_json()
        if not members:
            out.pop("member_ids")
        out.update({"start": iso_z(self.start), "end": iso_z(self.end), "n_items": self.n_items})
        return out


@dataclass(frozen=True)
class LineageEvent:
    """A split (``trend_id`` split from ``other_id``) or merge (``trend_id`` merged into
    ``other_id``) in window ``window_seq``."""

    kind: str
    trend_id: str
    other_id: str
    window_seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "trend_id": self.trend_id,
            "other_id": self.other_id,
            "window_seq": self.window_seq,
        }


@dataclass(frozen=True)
class TrendTimeline:
    """One trend, one point per window it appeared in (time order), and its splits and merges."""

    trend: TrendView
    windows: tuple[TimelinePoint, ...]
    events: tuple[LineageEvent, ...]

    def representative_ids(self, limit: int) -> list[str]:
        """Representative item ids across the windows, latest window first, unique, at most ``limit``."""
        ids: list[str] = []
        for point in reversed(self.windows):
            for item_id in point.trend.representative_ids:
                if item_id not in ids:
                    ids.append(item_id)
        return ids[:limit]

    def to_json(self) -> dict[str, Any]:
        """``TrendView.to_json()`` with ``windows`` (``TimelinePoint.to_json()``) and ``events``."""
        return {
            **self.trend.to_json(),
            "windows": [p.to_json() for p in self.windows],
            "events": [e.to_json() for e in self.events],
        }


@dataclass(frozen=True)
class WindowSummary:
    """A processed window: its bounds, items, trends, the detector's note and its US share."""

    start: datetime
    end: datetime
    n_items: int
    n_trends: int
    note: str | None
    us_share: float | None


@dataclass(frozen=True)
class RetiredTrend:
    """A trend that a reset deleted and the re-run did not bring back (its members stay readable)."""

    trend_id: str
    retired_at: datetime
    generation: int
    n_members: int
