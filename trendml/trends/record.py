"""``TrendSnapshot``: one trend as seen in one window, typed, from the detector to the store, the
queries, the API, the dashboard and the reports.

The detector builds it, ``state.TrendState.add_window`` stores ``to_payload()`` as the observation's
JSON, ``queries`` reads it back with ``from_payload`` (older payloads included), and ``to_json()``
is exactly the per-trend dict of the ``trendml detect`` JSON (keys and their order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trendml.trends.keywords import trend_title
from trendml.trends.status import TrendStatus


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
