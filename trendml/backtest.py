"""Backtest and shadow mode for alerts (issue 16; docs/backtest.md).

:func:`replay` feeds a stream to the detector **window by window**, on a scratch trend state, exactly as
the service's incremental detection does, and evaluates the policy's alert rules after each window
(:func:`trendml.alerts.rules.evaluate`, with the alerts raised so far suppressing repeats as the outbox
does). :func:`score` measures the alerts against a truth file: per scenario the **time to first alert**
(windows and hours from the scenario's onset to the first alert whose members are mostly, >= 50 %, the
scenario's items) and **precision@k** (of the first k alerts from the onset on, the share that are that
scenario's); overall precision@k over the whole run. :func:`compare` pairs the alerts of two detector
configurations (same rule, member Jaccard >= 0.5) and lists those only one of them raised.

Truth format (JSON)::

    {"scenarios": [{"name": "hate-wave-1", "item_ids": ["id1", "id2", ...],
                    "start": "2026-03-05T00:00:00Z"}]}

``start`` (optional, ISO-8601) is the onset; default: the window of the scenario's first item.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trendml.alerts.rules import evaluate
from trendml.errors import InputError
from trendml.items import Item
from trendml.policy import AlertRule

logger = logging.getLogger(__name__)

MIN_PURITY = 0.5


@dataclass(frozen=True)
class TruthScenario:
    name: str
    item_ids: frozenset[str]
    start: datetime | None = None


@dataclass(frozen=True)
class ReplayAlert:
    window: int
    window_start: datetime
    rule: str
    trend_id: str
    members: frozenset[str]
    emergence_score: float

    def purity(self, ids: frozenset[str]) -> float:
        return len(self.members & ids) / max(len(self.members), 1)


def load_truth(path: str | Path) -> list[TruthScenario]:
    """Read a truth file; :class:`InputError` names the bad key (``scenarios[1].item_ids``)."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"truth file {p} does not exist; expected a JSON file (docs/backtest.md)", field="truth"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"truth file {p} is not JSON ({exc}); expected docs/backtest.md's format", field="truth"
        ) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("scenarios"), list) or not obj["scenarios"]:
        raise InputError(
            f'truth file {p}: "scenarios" missing or empty; expected a list of scenarios', field="scenarios"
        )
    out: list[TruthScenario] = []
    for k, sc in enumerate(obj["scenarios"]):
        where = f"truth file {p}: scenarios[{k}]"
        if not isinstance(sc, dict) or not isinstance(sc.get("name"), str) or not sc["name"].strip():
            raise InputError(f"{where}.name: missing; expected a name", field=f"scenarios[{k}].name")
        ids = sc.get("item_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InputError(
                f"{where}.item_ids: expected a non-empty list of item ids", field=f"scenarios[{k}].item_ids"
            )
        start = None
        if sc.get("start") is not None:
            try:
                from trendml.utc import aware

                start = aware(datetime.fromisoformat(str(sc["start"]).replace("Z", "+00:00")))
            except ValueError:
                raise InputError(
                    f"{where}.start: {sc['start']!r} is not ISO-8601", field=f"scenarios[{k}].start"
                ) from None
        extra = set(sc) - {"name", "item_ids", "start", "description"}
        if extra:
            raise InputError(f"{where}: unknown keys {sorted(extra)} (misspelt?)", field=f"scenarios[{k}]")
        out.append(TruthScenario(sc["name"], frozenset(ids), start))
    return out


def load_detector_config(path: str | Path | None) -> dict[str, Any]:
    """A detector configuration: a YAML mapping of :class:`~trendml.trends.TrendDetector` arguments
    (``window: 6h``, ``min_cluster_size: 15``, ...); unknown keys are refused by name."""
    if path is None:
        return {}
    from trendml.trends import TrendDetector

    p = Path(path)
    try:
        obj = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(
            f"detector config {p} does not exist; expected a YAML file", field="config"
        ) from None
    except yaml.YAMLError:
        raise InputError(
            f"detector config {p} is not valid YAML; expected a mapping", field="config"
        ) from None
    if not isinstance(obj, dict):
        raise InputError(
            f"detector config {p} holds {type(obj).__name__}; expected a YAML mapping", field="config"
        )
    allowed = set(inspect.signature(TrendDetector.__init__).parameters) - {"self"}
    bad = sorted(set(obj) - allowed)
    if bad:
        raise InputError(
            f"detector config {p}: {bad[0]}: unknown key (misspelt?); expected TrendDetector arguments",
            field=str(bad[0]),
        )
    return obj


def replay(
    items: Sequence[Item],
    vectors: np.ndarray,
    rules: Sequence[AlertRule],
    *,
    severity: np.ndarray | None = None,
    detector: dict[str, Any] | None = None,
) -> tuple[list[ReplayAlert], list[datetime], timedelta]:
    """The alerts of a window-by-window replay: ``(alerts, window starts, window length)``."""
    from trendml.trends import TrendDetector, TrendState, parse_window
    from trendml.trends.windows import window_start

    params = dict(detector or {})
    length = parse_window(params.pop("window", "1d"))
    det = TrendDetector(length, **params)
    order = sorted(range(len(items)), key=lambda i: (items[i].created_at, items[i].id))
    buckets: dict[datetime, list[int]] = {}
    for i in order:
        buckets.setdefault(window_start(items[i].created_at, length), []).append(i)
    state = TrendState.in_memory()
    alerted: dict[str, dict[str, frozenset[str]]] = {}
    out: list[ReplayAlert] = []
    starts = sorted(buckets)
    for w, start in enumerate(starts):
        idx = buckets[start]
        res = det.detect(
            [items[i] for i in idx],
            vectors[idx],
            severity=severity[idx] if severity is not None else None,
            state=state,
        )
        found = evaluate([(r.start, r.trends) for r in res.windows], rules, alerted=alerted)
        for c in found:
            alerted.setdefault(c.rule.name, {})[c.trend.trend_id] = frozenset(c.trend.member_ids)
            out.append(
                ReplayAlert(
                    window=w,
                    window_start=start,
                    rule=c.rule.name,
                    trend_id=c.trend.trend_id,
                    members=frozenset(c.trend.member_ids),
                    emergence_score=float(c.trend.emergence_score or 0.0),
                )
            )
    state.close()
    return out, starts, length


def score(
    alerts: Sequence[ReplayAlert],
    starts: Sequence[datetime],
    length: timedelta,
    truth: Sequence[TruthScenario],
    *,
    k: int = 5,
    min_purity: float = MIN_PURITY,
) -> dict[str, Any]:
    """Per scenario: onset window, first alert window, time to first alert (windows, hours),
    precision@k from the onset on; overall precision@k and the number of alerts."""
    from trendml.trends.windows import window_start

    ranked = sorted(alerts, key=lambda a: (a.window, -a.emergence_score, a.rule, a.trend_id))
    truths = {t.name: t.item_ids for t in truth}

    def true_alert(a: ReplayAlert) -> bool:
        return any(a.purity(ids) >= min_purity for ids in truths.values())

    rows = []
    for t in truth:
        if t.start is not None:
            onset_start = window_start(t.start, length)
            onset = next((w for w, s in enumerate(starts) if s >= onset_start), len(starts))
        else:  # callers fill ``start`` from the items (onsets_from_items); else the first alert on them
            onset = _first_window_with(t.item_ids, alerts)
        mine = [a for a in ranked if a.purity(t.item_ids) >= min_purity]
        after = [a for a in ranked if a.window >= onset]
        first_hit = next((a for a in mine if a.window >= onset), None)
        top = after[:k]
        rows.append(
            {
                "scenario": t.name,
                "onset_window": onset,
                "first_alert_window": first_hit.window if first_hit else None,
                "time_to_first_alert_windows": (first_hit.window - onset) if first_hit else None,
                "time_to_first_alert_hours": round(
                    (first_hit.window - onset) * length.total_seconds() / 3600, 2
                )
                if first_hit
                else None,
                "first_alert_rule": first_hit.rule if first_hit else None,
                f"precision_at_{k}": round(sum(a.purity(t.item_ids) >= min_purity for a in top) / len(top), 3)
                if top
                else None,
                "alerts_from_onset": len(after),
            }
        )
    top = ranked[:k]
    return {
        "scenarios": rows,
        "n_alerts": len(ranked),
        "n_windows": len(starts),
        f"precision_at_{k}": round(sum(true_alert(a) for a in top) / len(top), 3) if top else None,
        "precision_all": round(sum(true_alert(a) for a in ranked) / len(ranked), 3) if ranked else None,
        "k": k,
    }


def _first_window_with(ids: frozenset[str], alerts: Sequence[ReplayAlert]) -> int:
    """The first window in which an alert holds one of ``ids`` (0 if none)."""
    hit = [a.window for a in alerts if a.members & ids]
    return min(hit) if hit else 0


def onsets_from_items(items: Sequence[Item], truth: Sequence[TruthScenario]) -> list[TruthScenario]:
    """Scenarios whose ``start`` is missing get their first item's ``created_at``."""
    first: dict[str, datetime] = {}
    for it in items:
        for t in truth:
            if it.id in t.item_ids and (t.name not in first or it.created_at < first[t.name]):
                first[t.name] = it.created_at
    return [t if t.start is not None else TruthScenario(t.name, t.item_ids, first.get(t.name)) for t in truth]


def compare(
    live: Sequence[ReplayAlert], shadow: Sequence[ReplayAlert], *, min_jaccard: float = 0.5
) -> dict[str, Any]:
    """Alerts only one configuration raised: pairs by rule and member Jaccard >= ``min_jaccard``."""

    def jac(a: ReplayAlert, b: ReplayAlert) -> float:
        return len(a.members & b.members) / max(len(a.members | b.members), 1)

    used: set[int] = set()
    pairs, only_live = [], []
    for a in live:
        best = max(
            ((j, jac(a, b)) for j, b in enumerate(shadow) if j not in used and b.rule == a.rule),
            key=lambda t: t[1],
            default=(None, 0.0),
        )
        if best[0] is not None and best[1] >= min_jaccard:
            used.add(best[0])
            pairs.append((a, shadow[best[0]]))
        else:
            only_live.append(a)
    only_shadow = [b for j, b in enumerate(shadow) if j not in used]

    def view(a: ReplayAlert) -> dict[str, Any]:
        return {"window": a.window, "rule": a.rule, "trend_id": a.trend_id, "size": len(a.members)}

    return {
        "both": len(pairs),
        "earlier_in_shadow": sum(b.window < a.window for a, b in pairs),
        "later_in_shadow": sum(b.window > a.window for a, b in pairs),
        "only_live": [view(a) for a in only_live],
        "only_shadow": [view(b) for b in only_shadow],
    }
