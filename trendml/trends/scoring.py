"""Emergence and region statistics for one cluster in one window (pure functions).

- :func:`burst_z` compares a region's count now with its count in the past windows: given the
  ``k`` items in the region now and ``m`` before, under "nothing changed" ``k`` is binomial with
  ``p0 = N_now / (N_now + N_past)`` (the conditional test for two Poisson rates). It is a z-score
  against the region's own history, so a small campaign inside a large window still scores high
  when its region of embedding space was empty before.
- :func:`density_ratio` is the smoothed ratio of the region's share now to its share before.
- :func:`growth_z` is the Poisson z-score of a tracked trend's size against its own past sizes.
- :func:`novelty` is ``1 - max cosine`` between a centroid and every earlier trend's centroid.
- :func:`region_lift` is a region's share inside the cluster over its share in the window, with a
  one-sided hypergeometric (Fisher exact) p-value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)


def burst_z(k: float, m: float, n_now: float, n_past: float) -> float:
    """z-score of ``k`` items in a region now vs ``m`` in the past (window totals ``n_now``, ``n_past``)."""
    if n_past <= 0 or n_now <= 0:
        return 0.0
    total = k + m
    p0 = n_now / (n_now + n_past)
    if total <= 0:
        return 0.0
    var = total * p0 * (1 - p0)
    return float((k - total * p0) / math.sqrt(max(var, 1e-12)))


def density_ratio(k: float, m: float, n_now: float, n_past: float, *, prior: float = 0.5) -> float:
    """Share of the region now over its share in the past (``prior`` pseudo-counts each side)."""
    if n_past <= 0 or n_now <= 0:
        return 1.0
    return float(((k + prior) / n_now) / ((m + prior) / n_past))


def growth_z(size: float, past_sizes: Sequence[float]) -> float:
    """Poisson z-score of ``size`` against the mean of ``past_sizes`` (volume-adjusted by the caller)."""
    if len(past_sizes) == 0:
        return 0.0
    mu = float(np.mean(past_sizes))
    return float((size - mu) / math.sqrt(mu + 1.0))


def novelty(centroid: np.ndarray, earlier: np.ndarray) -> float:
    """``1 - max cosine`` to the earlier centroids (rows, L2-normalised); 1.0 when there are none."""
    if earlier is None or len(earlier) == 0:
        return 1.0
    sims = earlier @ centroid
    return float(np.clip(1.0 - float(np.max(sims)), 0.0, 2.0))


def region_lift(
    k_region: int, k_known: int, n_region: int, n_known: int
) -> tuple[float | None, float | None, float | None]:
    """``(share, lift, p)`` of one region in a cluster vs the window.

    ``k_region`` of ``k_known`` cluster members (with a known region) are from the region; the
    window has ``n_region`` of ``n_known``. ``p`` is the one-sided hypergeometric p-value of seeing
    at least ``k_region`` such members by chance. ``None`` where undefined (no known regions).
    """
    if k_known <= 0:
        return None, None, None
    share = k_region / k_known
    if n_known <= 0 or n_region <= 0:
        return share, None, None
    base = n_region / n_known
    from scipy.stats import hypergeom

    p = float(hypergeom.sf(k_region - 1, n_known, n_region, k_known))
    return share, share / base, min(max(p, 0.0), 1.0)


def severity_mix(probs: np.ndarray | None) -> list[float] | None:
    """Mean severity probabilities of a cluster's members (``None`` when no severity was given)."""
    if probs is None or len(probs) == 0:
        return None
    mean = np.asarray(probs, dtype=np.float64).mean(axis=0)
    return [round(float(v), 4) for v in mean]


def neighbourhood_labels(
    ref: np.ndarray,
    ref_labels: np.ndarray,
    query: np.ndarray,
    *,
    k: int = 5,
    self_index: np.ndarray | None = None,
) -> np.ndarray:
    """Label each query point by a strict majority of its ``k`` nearest reference points (-1: none).

    With ``self_index`` (the query points' own positions in ``ref``) each point's own entry is
    left out, so points inside the reference set and points from other windows are counted the
    same way (leave-one-out); that is what makes "how many points fall in this cluster's region,
    now vs before" an unbiased comparison.
    """
    from sklearn.neighbors import NearestNeighbors

    if len(query) == 0:
        return np.empty(0, dtype=np.int64)
    k = max(1, min(k, len(ref) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1).fit(ref)
    _, ind = nn.kneighbors(query, n_neighbors=k + 1)
    if self_index is not None:
        keep = ind != np.asarray(self_index)[:, None]
        # drop own position (or the farthest neighbour when duplicates hid it)
        rows = [r[m][:k] for r, m in zip(ind, keep, strict=True)]
        ind = np.stack(rows)
    else:
        ind = ind[:, :k]
    votes = np.asarray(ref_labels)[ind]
    out = np.full(len(query), -1, dtype=np.int64)
    need = k // 2 + 1
    for i, row in enumerate(votes):
        vals, counts = np.unique(row[row >= 0], return_counts=True)
        if len(vals) and counts.max() >= need:
            out[i] = int(vals[np.argmax(counts)])
    return out
