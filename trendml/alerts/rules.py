"""Which trends alert: the policy's ``alerts`` rules over the trend snapshots of a detection run.

Pure functions over :class:`~trendml.trends.record.TrendSnapshot` values. A rule alerts at most once
per trend. Suppressed (docs/alerts.md):

- a trend whose latest analyst decision is ``dismiss``;
- a trend whose members are mostly (more than ``MOSTLY``) members of a dismissed trend, or of a
  trend the same rule already alerted on (a detector that re-clusters the same group under a new
  id does not re-alert).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from trendml.policy import AlertRule
from trendml.trends.record import TrendSnapshot
from trendml.trends.status import TrendStatus

logger = logging.getLogger(__name__)

#: the share of a trend's members inside a suppressing group that makes it "mostly" that group
MOSTLY = 0.5


@dataclass(frozen=True)
class AlertCandidate:
    """A rule that fired on a trend in a window (before it is stored in the outbox)."""

    rule: AlertRule
    trend: TrendSnapshot
    window_start: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule.name, self.trend.trend_id)


def severity_share(trend: TrendSnapshot, min_severity: int) -> float | None:
    """Share of the trend's members scored ``min_severity`` or above (None without a severity mix)."""
    if trend.severity_mix is None:
        return None
    return float(sum(trend.severity_mix[min_severity:]))


def rule_matches(rule: AlertRule, trend: TrendSnapshot) -> bool:
    """Whether ``rule``'s condition holds for ``trend`` in its window."""
    if rule.when == "monitoring_bound":  # fired by the service's monitor, never by a trend
        return False
    if trend.size < rule.min_size:
        return False
    if rule.min_share is not None or rule.min_severity > 0:
        share = severity_share(trend, rule.min_severity)
        if share is None:  # no model scored the window: a severity condition cannot hold
            return False
        if share < (rule.min_share if rule.min_share is not None else 1e-12):
            return False
    if rule.when == "trend_emerging":
        return trend.emerging
    if rule.when == "trend_growing":
        return trend.status == TrendStatus.GROWING
    if rule.when == "trend_new":
        return trend.status == TrendStatus.NEW
    if rule.when == "trend_us_specific":
        return trend.us_specific
    return True  # severity_share: the share test above is the condition


def _mostly_in(members: Sequence[str], groups: Iterable[frozenset[str]]) -> bool:
    if not members:
        return False
    own = set(members)
    return any(len(own & g) > MOSTLY * len(own) for g in groups)


def evaluate(
    windows: Sequence[tuple[datetime, Sequence[TrendSnapshot]]],
    rules: Sequence[AlertRule],
    *,
    dismissed: Mapping[str, frozenset[str]] | None = None,
    alerted: Mapping[str, Mapping[str, frozenset[str]]] | None = None,
) -> list[AlertCandidate]:
    """The alerts a run raises, windows in order. ``dismissed``: trend id -> members of each trend
    whose latest decision is dismiss; ``alerted``: rule name -> (trend id -> members) of the alerts
    already stored. An alert raised in an earlier window of the same run suppresses like a stored one."""
    dismissed = dict(dismissed or {})
    seen: dict[str, dict[str, frozenset[str]]] = {
        r.name: dict((alerted or {}).get(r.name, {})) for r in rules
    }
    out: list[AlertCandidate] = []
    for start, trends in windows:
        for trend in trends:
            if trend.trend_id in dismissed:
                continue
            for rule in rules:
                done = seen[rule.name]
                if trend.trend_id in done or not rule_matches(rule, trend):
                    continue
                if _mostly_in(trend.member_ids, dismissed.values()) or _mostly_in(
                    trend.member_ids, done.values()
                ):
                    logger.info("alert %s on %s suppressed (mostly a known group)", rule.name, trend.trend_id)
                    continue
                done[trend.trend_id] = frozenset(trend.member_ids)
                out.append(AlertCandidate(rule=rule, trend=trend, window_start=start))
    return out
