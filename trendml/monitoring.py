"""Live monitoring of the severity model in production (issue 22, part 4).

- **Severity-mix drift per day**: the population stability index (PSI) of each day's severity mix
  of returned scores (the score audit) against the champion's *reference window*: the first
  ``reference_days`` days it answered in production (or, before a champion is known, the first days
  of the audit). PSI = sum over levels of (p - q) * ln(p / q), shares floored at ``1e-4``; the
  usual reading is < 0.1 stable, 0.1-0.25 moderate, > 0.25 a shift.
- **Calibration** against people's labels: each item's latest moderator outcome (and, where no
  outcome exists, a unanimous QA review) against the probabilities it was pre-scored with; the
  expected calibration error (ECE, top-label confidence, 10 equal-width bins) and the reliability
  curve, over a rolling ``days`` window of labels.
- **Unsupported-language share** of the items received in the window (:mod:`trendml.language`).
- **Embedding-cache hit rate**: passed in by the service (its embedder counts hits and misses).

:func:`check_bounds` compares drift and ECE with the configured bounds (``TRENDML_DRIFT_PSI_BOUND``,
``TRENDML_ECE_BOUND``); the service logs a line and answers ``/readyz`` "degraded" while one is
crossed. Pure functions first; :func:`monitoring_snapshot` is the one store reader.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

LEVELS = (0, 1, 2, 3)
PSI_FLOOR = 1e-4
N_BINS = 10


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def psi(reference: Sequence[int], current: Sequence[int]) -> float | None:
    """Population stability index of ``current`` counts per level against ``reference`` counts
    (None when either is empty)."""
    if not sum(reference) or not sum(current):
        return None
    q = [max(PSI_FLOOR, s) for s in shares(reference)]
    p = [max(PSI_FLOOR, s) for s in shares(current)]
    return round(sum((pi - qi) * math.log(pi / qi) for pi, qi in zip(p, q, strict=True)), 4)


def level_counts(severities: Iterable[int]) -> list[int]:
    counts = [0] * len(LEVELS)
    for s in severities:
        counts[int(s)] += 1
    return counts


def daily_drift(per_day: Mapping[date, Sequence[int]], reference: Sequence[int]) -> list[dict[str, Any]]:
    """PSI of each day's severity counts against ``reference`` (days in order; empty days left out)."""
    return [
        {"day": d.isoformat(), "n": sum(c), "counts": list(c), "psi": psi(reference, c)}
        for d, c in sorted(per_day.items())
        if sum(c)
    ]


def calibration(
    probs: Sequence[Sequence[float]], labels: Sequence[int], n_bins: int = N_BINS
) -> dict[str, Any]:
    """ECE (top-label confidence) and the reliability curve (per bin: mean confidence, accuracy, n)."""
    n = len(labels)
    if not n:
        return {"n": 0, "ece": None, "curve": []}
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for p, y in zip(probs, labels, strict=True):
        top = max(range(len(p)), key=lambda k: p[k])
        conf = float(p[top])
        bins[min(n_bins - 1, int(conf * n_bins))].append((conf, top == int(y)))
    ece = 0.0
    curve = []
    for k, b in enumerate(bins):
        if not b:
            continue
        conf = sum(c for c, _ in b) / len(b)
        acc = sum(ok for _, ok in b) / len(b)
        ece += len(b) / n * abs(acc - conf)
        curve.append({"bin": k, "confidence": round(conf, 4), "accuracy": round(acc, 4), "n": len(b)})
    return {"n": n, "ece": round(ece, 4), "curve": curve}


def check_bounds(snapshot: dict[str, Any], *, psi_bound: float, ece_bound: float) -> list[str]:
    """Reasons the snapshot crosses a bound (empty: within bounds): the latest day's drift and the
    rolling ECE."""
    reasons = []
    latest = snapshot.get("drift_latest")
    if latest is not None and latest > psi_bound:
        reasons.append(f"severity-mix drift PSI {latest:.3f} > {psi_bound} (latest day)")
    ece = snapshot.get("calibration", {}).get("ece")
    if ece is not None and ece > ece_bound:
        reasons.append(f"ECE {ece:.3f} > {ece_bound} against outcomes / QA labels")
    return reasons


def monitoring_snapshot(
    session: Any,
    *,
    now: datetime,
    days: int = 7,
    reference_days: int = 7,
    champion_version: str | None = None,
    cache_hits: int | None = None,
    cache_misses: int | None = None,
) -> dict[str, Any]:
    """Every monitoring figure for the ``days`` days before ``now``, from the store."""
    from sqlalchemy import func, select

    from trendml.language import language_supported
    from trendml.store.audit import ScoreAudit, latest_audit_values
    from trendml.store.items import StoredItem, id_chunks
    from trendml.store.outcomes import ItemOutcome
    from trendml.store.qa import QAReview
    from trendml.utc import aware

    since = now - timedelta(days=days)
    first = select(func.min(ScoreAudit.scored_at))
    if champion_version is not None:
        first = first.where(ScoreAudit.model_version == champion_version)
    start = session.scalar(first)
    ref_counts = [0] * len(LEVELS)
    ref_window = None
    if start is not None:
        start = aware(start)
        end = start + timedelta(days=reference_days)
        ref = select(ScoreAudit.severity, func.count()).where(
            ScoreAudit.scored_at >= start, ScoreAudit.scored_at < end
        )
        if champion_version is not None:
            ref = ref.where(ScoreAudit.model_version == champion_version)
        for sev, n in session.execute(ref.group_by(ScoreAudit.severity)):
            ref_counts[int(sev)] += int(n)
        ref_window = {"start": start.isoformat(), "end": end.isoformat(), "n": sum(ref_counts)}
    # per UTC day, counted in the database (one small GROUP BY per day)
    recent: dict[date, list[int]] = {}
    day0 = datetime.combine(since.date(), datetime.min.time(), tzinfo=since.tzinfo)
    for k in range(days + 1):
        lo, hi = max(since, day0 + timedelta(days=k)), min(now, day0 + timedelta(days=k + 1))
        if lo >= hi:
            continue
        for sev, n in session.execute(
            select(ScoreAudit.severity, func.count())
            .where(ScoreAudit.scored_at >= lo, ScoreAudit.scored_at < hi)
            .group_by(ScoreAudit.severity)
        ):
            recent.setdefault(lo.date(), [0] * len(LEVELS))[int(sev)] += int(n)
    drift = daily_drift(recent, ref_counts)
    # labels: latest outcome per item, else a unanimous QA review (decided in the window)
    labels: dict[str, int] = {}
    for o in session.scalars(
        select(ItemOutcome).where(ItemOutcome.decided_at >= since).order_by(ItemOutcome.id)
    ):
        labels[o.item_id] = int(o.severity)
    qa: dict[str, set[int]] = defaultdict(set)
    for r in session.scalars(select(QAReview).where(QAReview.created_at >= since)):
        qa[r.item_id].add(int(r.severity))
    for item_id, sev in qa.items():
        if len(sev) == 1 and item_id not in labels:
            labels[item_id] = next(iter(sev))
    ids = list(labels)
    probs = {k: list(p) for k, p in latest_audit_values(session, ids, ScoreAudit.severity_probs).items()}
    for chunk in id_chunks(ids):
        for item_id, p in session.execute(
            select(StoredItem.id, StoredItem.severity_probs).where(
                StoredItem.id.in_(chunk), StoredItem.severity_probs.is_not(None)
            )
        ):
            probs.setdefault(item_id, list(p))
    paired = [k for k in ids if k in probs]
    cal = calibration([probs[k] for k in paired], [labels[k] for k in paired])
    langs = list(
        session.scalars(
            select(StoredItem.language).where(
                StoredItem.received_at >= since, StoredItem.language.is_not(None)
            )
        )
    )
    unsupported = sum(1 for lang in langs if not language_supported(lang))
    looked_up = (cache_hits or 0) + (cache_misses or 0)
    return {
        "window": {"since": since.isoformat(), "until": now.isoformat(), "days": days},
        "reference": ref_window,
        "reference_counts": ref_counts,
        "drift": drift,
        "drift_latest": drift[-1]["psi"] if drift else None,
        "calibration": cal,
        "n_labels": len(labels),
        "unsupported_language": {
            "n": len(langs),
            "unsupported": unsupported,
            "share": round(unsupported / len(langs), 4) if langs else None,
        },
        "cache": {
            "hits": cache_hits,
            "misses": cache_misses,
            "hit_rate": round((cache_hits or 0) / looked_up, 4) if looked_up else None,
        },
    }
