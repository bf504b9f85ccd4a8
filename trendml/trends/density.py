"""Local-density burst signal in the original embedding space (pure functions; issue #12).

A campaign of real, diversely worded comments rarely forms a dense cluster after PCA-10 + HDBSCAN
in its first windows, but its items already stand out locally: among an item's nearest neighbours
in *this window plus the history*, many more are from this window than the window's share of the
pool would give. The steps (each a pure function, used by the detector's ``_process``):

1. :func:`now_share` - for each query item, the weighted share of "now" among its ``k`` nearest
   reference points (cosine, full dimension). Reference = the window's history sample (weight
   ``n / sample``, the item itself left out) and the stored samples of the earlier windows (weight
   ``n_w / sample_w``). Under "nothing changed" the share is ``p0 = N / (N + M)``.
2. :func:`bursting` - items whose ``k``-neighbour count of "now" is improbable under
   ``Binomial(k, p0)`` (one-sided p < ``alpha``).
3. :func:`burst_groups` - HDBSCAN among the bursting items only (full dimension): groups of at
   least ``min_size`` bursting items that lie together.
4. :func:`region_counts` - each group's acceptance region (``trends.assign``: exemplars and a
   radius in the original space) counts the window's items (``k``) and the history's weighted
   points (``m``) inside it, for the usual burst z-score and density ratio.

Windows with more than ``max_query`` items query an id-hash subsample of that size (the counts in
step 4 still use every item of the window); say so where the numbers are reported.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np

from trendml.trends.assign import TrendRegions, fit_regions, predict_regions

logger = logging.getLogger(__name__)


@dataclass
class DensityParams:
    k: int = 10
    alpha: float = 0.01
    min_size: int = 8
    min_samples: int = 3
    max_query: int = 20_000
    max_candidates: int = 3_000


def now_share(
    query: np.ndarray,
    query_self: np.ndarray,
    now_ref: np.ndarray,
    now_weight: float | np.ndarray,
    past_ref: np.ndarray,
    past_weight: np.ndarray,
    *,
    k: int = 10,
    chunk: int = 1024,
) -> np.ndarray:
    """Weighted share of "now" among each query item's ``k`` nearest reference points.

    ``query_self[i]`` is the row of query item ``i`` in ``now_ref`` (``-1`` when it is not there),
    so an item never counts itself.
    """
    ref = np.concatenate([now_ref, past_ref]).astype(np.float32)
    now_w = np.broadcast_to(np.asarray(now_weight, dtype=np.float64), (len(now_ref),))  # scalar or per point
    w = np.concatenate([now_w, np.asarray(past_weight, dtype=np.float64)])
    is_now = np.zeros(len(ref), dtype=bool)
    is_now[: len(now_ref)] = True
    kk = min(k, len(ref) - 1)
    out = np.zeros(len(query), dtype=np.float64)
    if kk < 1:
        return out
    for a in range(0, len(query), chunk):
        b = min(len(query), a + chunk)
        sims = query[a:b].astype(np.float32) @ ref.T
        rows = np.arange(b - a)
        own = query_self[a:b]
        has = own >= 0
        sims[rows[has], own[has]] = -np.inf
        nn = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        ww = w[nn]
        out[a:b] = (ww * is_now[nn]).sum(axis=1) / np.maximum(ww.sum(axis=1), 1e-12)
    return out


def _binom_sf(c: int, k: int, p: float) -> float:
    """P(X >= c) for X ~ Binomial(k, p)."""
    return float(sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(c, k + 1)))


def bursting(share: np.ndarray, p0: float, *, k: int = 10, alpha: float = 0.01) -> np.ndarray:
    """Mask of items whose "now" neighbour count is improbable under ``Binomial(k, p0)``."""
    if not 0 < p0 < 1:
        return np.zeros(len(share), dtype=bool)
    need = next((c for c in range(k + 1) if _binom_sf(c, k, p0) < alpha), k + 1)
    return np.round(share * k) >= need


def burst_groups(vectors: np.ndarray, *, min_size: int = 8, min_samples: int = 3) -> list[np.ndarray]:
    """Groups (positions into ``vectors``) of bursting items that lie together (HDBSCAN, full dim)."""
    if len(vectors) < min_size:
        return []
    import hdbscan

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="hdbscan")  # its numeric warnings on tiny windows
        # the bursting items are few: one group among them is the root, which HDBSCAN returns only
        # when asked (the region test below rejects a root that is just scattered noise)
        lab = hdbscan.HDBSCAN(
            min_cluster_size=min_size,
            min_samples=min(min_samples, len(vectors) - 1),
            allow_single_cluster=True,
        ).fit_predict(np.asarray(vectors, dtype=np.float64))
    groups = [np.flatnonzero(lab == c) for c in sorted(set(lab.tolist()) - {-1})]
    return [g for g in groups if len(g) >= min_size]


def region_counts(
    members: np.ndarray, window: np.ndarray, past: np.ndarray, past_weight: np.ndarray, *, quantile: float
) -> tuple[TrendRegions, np.ndarray, float, float]:
    """A group's acceptance region, the window items inside it (mask), and the weighted count of
    the past points inside it (``m``); ``k`` = the number of window items inside."""
    # every member counts here (no core, no cap): the same region is applied to now and the past
    regions = fit_regions(
        members, np.zeros(len(members), dtype=np.int64), quantile=quantile, max_radius=1.0, core_distance=2.0
    )
    inside_now = predict_regions(regions, window)[0] >= 0
    m = 0.0
    if len(past):
        inside_past = predict_regions(regions, past)[0] >= 0
        m = float(np.asarray(past_weight)[inside_past].sum())
    return regions, inside_now, float(inside_now.sum()), m


def density_clusters(
    xw: np.ndarray,
    labels: np.ndarray,
    now_pos: np.ndarray,
    query_pos: np.ndarray,
    past: np.ndarray,
    past_weight: np.ndarray,
    *,
    params: DensityParams,
    quantile: float,
    emerging_z: float,
    emerging_ratio: float,
) -> tuple[np.ndarray, dict[int, tuple[float, float]]]:
    """Steps 1-4 on one window: new labels for groups of bursting items whose region passes the
    emergence thresholds, and each new label's region counts ``(k, m)`` for scoring.

    A group whose region is already mostly one cluster of about its size is left to that cluster.
    Items inside a new group's region leave their earlier cluster (or the noise) for the group.
    """
    from trendml.trends.scoring import burst_z, density_ratio

    labels = np.asarray(labels, dtype=np.int64)
    n = len(xw)
    big_m = float(np.sum(past_weight))
    if n == 0 or big_m <= 0 or len(now_pos) == 0:
        return labels, {}
    p0 = n / (n + big_m)
    self_in_ref = np.full(len(query_pos), -1, dtype=np.int64)
    where = np.searchsorted(now_pos, query_pos)
    found = (where < len(now_pos)) & (now_pos[np.minimum(where, len(now_pos) - 1)] == query_pos)
    self_in_ref[found] = where[found]
    share = now_share(
        xw[query_pos], self_in_ref, xw[now_pos], n / len(now_pos), past, past_weight, k=params.k
    )
    mask = bursting(share, p0, k=params.k, alpha=params.alpha)
    cand = query_pos[mask]
    if len(cand) > params.max_candidates:
        top = np.argsort(-share[mask], kind="stable")[: params.max_candidates]
        cand = np.sort(cand[top])
    groups = burst_groups(xw[cand], min_size=params.min_size, min_samples=params.min_samples)
    out = labels.copy()
    counts: dict[int, tuple[float, float]] = {}
    nxt = int(labels.max()) + 1 if len(labels) else 0
    for g in sorted(groups, key=lambda g: int(cand[g[0]])):
        members = cand[g]
        _, inside, k, m = region_counts(xw[members], xw, past, past_weight, quantile=quantile)
        if burst_z(k, m, n, big_m) < emerging_z or density_ratio(k, m, n, big_m) < emerging_ratio:
            continue
        idx = np.flatnonzero(inside)
        held = labels[idx]
        held = held[held >= 0]
        if len(held):
            vals, cnt = np.unique(held, return_counts=True)
            top = int(vals[np.argmax(cnt)])
            if cnt.max() >= 0.5 * len(idx) and (labels == top).sum() <= 2 * len(idx):
                continue  # HDBSCAN already found this group
        take = idx[out[idx] == labels[idx]]  # not taken by an earlier group
        if len(take) < params.min_size:
            continue
        out[take] = nxt
        counts[nxt] = (k, m)
        nxt += 1
    logger.debug(
        "density: p0=%.3f, %d bursting of %d queried, %d groups, %d kept",
        p0,
        len(cand),
        len(query_pos),
        len(groups),
        len(counts),
    )
    return out, counts
