"""Severity-burst signal: the local-density burst test on the *hateful* sub-population (issue #12).

Real campaigns are hateful comments about one target, diverse in wording; the background is mostly
not hateful. Among all items a campaign at 1-3 % of a window is not denser than its surroundings
(``density.py``; docs/trends.md, "Limits"); the idea here is that among the items the severity
model scores as hateful it is more concentrated. The steps, each a pure function of arrays:

1. Keep the window's items and the history points with ``P(severity >= 2) >= threshold`` (the
   severity model's class mass); ``soft=True`` keeps every point, weighted by that mass.
2. :func:`trendml.trends.density.now_share` / :func:`~trendml.trends.density.bursting` on that
   sub-population: hateful items whose ``k`` nearest hateful neighbours are improbably often "now".
3. HDBSCAN among the bursting hateful items (full dimension, ``min_size``).
4. Each group's region (its members as exemplars, radius = a quantile of their nearest-member
   distances) counts the window's hateful items ``k`` and the history's weighted hateful points
   ``m``; the group is a candidate trend when the burst z-score and the density ratio of
   ``(k, m)`` against the hateful totals ``(N_h, M_h)`` pass the emergence thresholds.

**Not used by the detector.** Measured on the realistic benchmark streams (docs/trends.md,
"Severity-burst signal, 2026-12-01") it finds 1 of 10 campaigns with an honest severity model
(one that never saw the campaign's dataset) and 4 of 10 with the items' dataset labels as an
oracle, so it was not wired in; ``benchmarks/experiments/trends_severity_eval.py`` runs it. The
defaults are the best variant measured (``k`` 20, ``alpha`` 0.05, groups of 5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from trendml.trends.density import burst_groups, bursting, now_share, region_counts

logger = logging.getLogger(__name__)


@dataclass
class SeverityBurstParams:
    threshold: float = 0.5  # P(severity >= 2) for an item to count as hateful
    k: int = 20
    alpha: float = 0.05
    min_size: int = 5
    min_samples: int = 3
    quantile: float = 0.99
    min_history: float = 30.0  # weighted hateful history points needed before anything can burst
    prefilter: bool = True  # group only the bursting hateful items (False: every hateful item now)
    soft: bool = False  # weight every point by its P(severity >= 2) instead of a 0/1 threshold


@dataclass
class SeverityGroup:
    members: np.ndarray  # positions (into the window) of the window's hateful items inside the region
    k: float  # hateful window items inside the region
    m: float  # weighted hateful history points inside the region
    n: float  # hateful window items (N_h)
    big_m: float  # weighted hateful history points (M_h)


def hateful_mass(severity: np.ndarray) -> np.ndarray:
    """``P(severity >= 2)`` per row of an ``(n, 4)`` probability array."""
    sev = np.asarray(severity, dtype=np.float64)
    return sev[:, 2:].sum(axis=1)


def severity_groups(
    xw: np.ndarray,
    hw: np.ndarray,
    past: np.ndarray,
    past_weight: np.ndarray,
    past_h: np.ndarray,
    *,
    params: SeverityBurstParams,
) -> list[SeverityGroup]:
    """Steps 1-4 on one window (unit-norm vectors): every group of bursting hateful items with its
    region counts. The caller applies the emergence thresholds (``burst_z``, ``density_ratio``)."""
    hw = np.asarray(hw, dtype=np.float64)
    hot = np.flatnonzero(hw >= params.threshold)
    if params.soft:  # every point, weighted by its hateful mass; the queries are still the hot items
        ref, nw = np.arange(len(hw)), hw
        pv, pwh = past, np.asarray(past_weight, dtype=np.float64) * np.asarray(past_h, dtype=np.float64)
    else:
        ref, nw = hot, np.ones(len(hot))
        ph = np.asarray(past_h) >= params.threshold
        pv, pwh = past[ph], np.asarray(past_weight, dtype=np.float64)[ph]
    n_h, m_h = float(nw.sum()), float(pwh.sum())
    if len(hot) < params.min_size or m_h < params.min_history:
        return []
    p0 = n_h / (n_h + m_h)
    self_pos = np.searchsorted(ref, hot)
    share = now_share(xw[hot], self_pos, xw[ref], nw, pv, pwh, k=params.k)
    cand = hot[bursting(share, p0, k=params.k, alpha=params.alpha)] if params.prefilter else hot
    groups = burst_groups(xw[cand], min_size=params.min_size, min_samples=params.min_samples)
    out = []
    for g in sorted(groups, key=lambda g: int(cand[g[0]])):
        _, inside, _, m = region_counts(xw[cand[g]], xw[ref], pv, pwh, quantile=params.quantile)
        out.append(
            SeverityGroup(ref[inside & (hw[ref] >= params.threshold)], float(nw[inside].sum()), m, n_h, m_h)
        )
    logger.debug(
        "severity burst: %d hateful now, %.0f before, %d bursting, %d groups", n_h, m_h, len(cand), len(out)
    )
    return out
