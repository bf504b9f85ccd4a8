"""Trend assignment with an acceptance test, in the original embedding space (pure functions).

A window's trends are stored as plain arrays (:class:`TrendRegions`): for each cluster a bounded,
deterministic set of member vectors (*exemplars*) and an **acceptance radius**. A new item joins
cluster ``c`` only when its cosine distance to the nearest exemplar of ``c`` is within ``c``'s
radius, i.e. when it lies as close to the trend's members as the members themselves do:

- exemplars are the cluster's **coherent core**: members with another member within
  ``core_distance`` (cosine, default 0.35) in the original space. HDBSCAN clusters are found after
  PCA-10, and many are loose in 384-d (a member's nearest fellow member at 0.5-0.8); without the
  core, such a cluster's radius is so wide that everyday sentences join it (measured: 50-95% of
  unrelated items, docs/trends.md);
- ``radius_c`` = the ``quantile`` (default 0.99) of the core's leave-one-out distance to the
  nearest other exemplar of ``c``, times ``slack`` (default 1.0), at least ``core_distance`` (what
  makes a member part of the core) and at most ``max_radius`` (default 0.4);
- when more than one cluster accepts an item, the one with the nearest exemplar wins (ties: the
  lower label); an item that no cluster accepts gets ``-1`` (no trend), and so does every item for
  a cluster without a core of 2.

Every item is decided from its own vector and the stored arrays only, so an item gets the same
answer alone or in a batch; distances are rounded to 1e-6 before the comparison so that BLAS
kernels chosen by batch size cannot flip a borderline case. See ``docs/trends.md`` (Assignment)
for the measurements behind the defaults.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

ROUND = 6  # decimals distances are rounded to before any comparison


@dataclass
class TrendRegions:
    """Acceptance regions of one window's clusters (arrays only; safe to store and load)."""

    labels: np.ndarray  # (C,) int64: the cluster label of each region
    radius: np.ndarray  # (C,) float64: acceptance radius (cosine distance to the nearest exemplar)
    exemplars: np.ndarray  # (E, d) float32, unit vectors
    owner: np.ndarray  # (E,) int64: index into ``labels`` of each exemplar

    @property
    def dim(self) -> int:
        return int(self.exemplars.shape[1]) if self.exemplars.ndim == 2 else 0

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "labels": self.labels.astype(np.int64),
            "radius": self.radius.astype(np.float64),
            "exemplars": self.exemplars.astype(np.float16),
            "owner": self.owner.astype(np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TrendRegions:
        ex = np.asarray(arrays["exemplars"], dtype=np.float32)
        if len(ex):  # float16 storage: renormalise so distances stay cosine distances
            ex = ex / np.maximum(np.linalg.norm(ex, axis=1, keepdims=True), 1e-12)
        return cls(
            labels=np.asarray(arrays["labels"], dtype=np.int64),
            radius=np.asarray(arrays["radius"], dtype=np.float64),
            exemplars=ex,
            owner=np.asarray(arrays["owner"], dtype=np.int64),
        )

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self.to_arrays())
        return buf.getvalue()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _spread_pick(n: int, cap: int) -> np.ndarray:
    """``cap`` of ``n`` positions, evenly spread (deterministic; positions are in canonical order)."""
    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def _core(e: np.ndarray, core_distance: float, chunk: int = 2048) -> np.ndarray:
    """Positions of the members with another member within ``core_distance`` (cosine)."""
    keep = np.zeros(len(e), dtype=bool)
    for a in range(0, len(e), chunk):
        b = min(len(e), a + chunk)
        d = 1.0 - (e[a:b] @ e.T).astype(np.float64)
        d[np.arange(b - a), np.arange(a, b)] = np.inf
        keep[a:b] = np.round(d.min(axis=1), ROUND) <= core_distance
    return np.flatnonzero(keep)


def fit_regions(
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    quantile: float = 0.99,
    slack: float = 1.0,
    max_exemplars: int = 200,
    max_radius: float = 0.4,
    core_distance: float = 0.35,
    max_core_members: int | None = None,
) -> TrendRegions:
    """Acceptance regions for every label ``>= 0`` of one window (``vectors`` in the original space).

    A cluster's exemplars are its core (members with a fellow member within ``core_distance``;
    ``core_distance >= 2`` keeps every member); a core larger than ``max_exemplars`` keeps an
    evenly spread subset (in the order given, which the detector makes canonical), so storage and
    assignment cost are bounded per trend. The radius is measured on the exemplars
    (leave-one-out), so a held-out member and a stored exemplar are judged the same way.

    With ``max_core_members`` (the detector sets it in windows over ``max_fit_items``), a cluster
    with more members looks for its core among an evenly spread ``max_core_members`` of them: the
    core test compares every member with every other, minutes for a cluster of 100,000.
    """
    vectors = np.asarray(vectors)
    labels = np.asarray(labels, dtype=np.int64)
    classes = sorted(int(c) for c in np.unique(labels) if c >= 0)
    ex_parts: list[np.ndarray] = []
    owner_parts: list[np.ndarray] = []
    radius = np.zeros(len(classes), dtype=np.float64)
    order = np.argsort(labels, kind="stable")  # members of each label, in the order given
    lo = np.searchsorted(labels[order], np.asarray(classes, dtype=np.int64), side="left")
    hi = np.searchsorted(labels[order], np.asarray(classes, dtype=np.int64), side="right")
    for ci in range(len(classes)):
        m = order[lo[ci] : hi[ci]]
        if core_distance < 2 and len(m) >= 2:
            # the core of a huge cluster is looked for among an evenly spread max_core_members of it
            if max_core_members is not None:
                m = m[_spread_pick(len(m), max_core_members)]
            m = m[_core(_unit(vectors[m]), core_distance)]
        e = _unit(vectors[m[_spread_pick(len(m), max_exemplars)]])
        if len(e) >= 2:
            d = 1.0 - (e.astype(np.float64) @ e.T.astype(np.float64))
            np.fill_diagonal(d, np.inf)
            loo = np.maximum(d.min(axis=1), 0.0)
            r = float(np.quantile(loo, quantile)) * slack
        else:
            r = 0.0
        if core_distance < 2 and len(e) >= 2:  # every core member lies within core_distance of another
            r = max(r, core_distance)
        radius[ci] = round(min(r, max_radius), ROUND)
        ex_parts.append(e)
        owner_parts.append(np.full(len(e), ci, dtype=np.int64))
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    return TrendRegions(
        labels=np.asarray(classes, dtype=np.int64),
        radius=radius,
        exemplars=np.concatenate(ex_parts) if ex_parts else np.zeros((0, dim), dtype=np.float32),
        owner=np.concatenate(owner_parts) if owner_parts else np.zeros(0, dtype=np.int64),
    )


def _region_bounds(regions: TrendRegions) -> tuple[np.ndarray, np.ndarray]:
    """Per region: the unit mean of its exemplars and the largest angle of an exemplar to it."""
    c = len(regions.labels)
    dim = regions.dim
    cent = np.zeros((c, dim), dtype=np.float32)
    spread = np.zeros(c, dtype=np.float64)
    for ci in range(c):
        e = regions.exemplars[regions.owner == ci]
        if len(e) == 0:
            continue
        m = e.mean(axis=0)
        m = m / max(float(np.linalg.norm(m)), 1e-12)
        cent[ci] = m
        spread[ci] = float(np.arccos(np.clip(e @ m, -1.0, 1.0)).max())
    return cent, spread


def nearest_by_region(regions: TrendRegions, vectors: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """``(n, C)`` cosine distance of each item to the nearest exemplar of each region (rounded);
    ``inf`` where no exemplar can be within the region's radius.

    Exact pruning by angles (a metric on the sphere): an exemplar ``e`` of region ``c`` is at least
    ``angle(x, centre_c) - max angle(e, centre_c)`` away from ``x``, so regions whose bound exceeds
    their radius are skipped without comparing ``x`` with their exemplars. Big windows stay cheap.
    """
    x = np.asarray(vectors)
    n, c = len(x), len(regions.labels)
    out = np.full((n, c), np.inf, dtype=np.float64)
    if n == 0 or c == 0:
        return out
    cent, spread = _region_bounds(regions)
    reach = np.arccos(np.clip(1.0 - regions.radius, -1.0, 1.0)) + 1e-6
    ex = regions.exemplars
    cols_of = [np.flatnonzero(regions.owner == ci) for ci in range(c)]
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        xa = _unit(x[a:b])  # a chunk at a time: a big window is not copied whole
        ang = np.arccos(np.clip(xa @ cent.T, -1.0, 1.0))
        maybe = (ang - spread[None, :]) <= reach[None, :]
        for ci in range(c):
            rows = np.flatnonzero(maybe[:, ci])
            if len(rows) == 0 or len(cols_of[ci]) == 0:
                continue
            d = 1.0 - (xa[rows] @ ex[cols_of[ci]].T).astype(np.float64)
            out[a + rows, ci] = d.min(axis=1)
    return np.round(np.maximum(out, 0.0), ROUND)


def predict_regions(regions: TrendRegions, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (``-1`` = rejected by every region) and a fit score in ``[0, 1]``
    (``1 - distance / radius`` of the chosen region; 0 when rejected)."""
    d = nearest_by_region(regions, vectors)
    n = len(d)
    if n == 0 or d.shape[1] == 0:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float64)
    ok = d <= regions.radius[None, :]
    masked = np.where(ok, d, np.inf)
    best = np.argmin(masked, axis=1)  # first (lowest) region on ties
    accepted = ok[np.arange(n), best]
    labels = np.where(accepted, regions.labels[best], -1).astype(np.int64)
    r = regions.radius[best]
    score = np.where(accepted, 1.0 - d[np.arange(n), best] / np.maximum(r, 1e-9), 0.0)
    return labels, np.clip(score, 0.0, 1.0)
