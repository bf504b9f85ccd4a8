"""Matching a window's clusters to existing trends: stable ids, splits and merges.

Two signals link a cluster ``c`` of this window to a trend ``t``:

- *member overlap*: the share of ``c``'s members that the previous window's model
  (its acceptance regions, ``trends.assign``) places in the cluster that carried ``t``;
- *centroid similarity*: cosine between ``c``'s centroid and ``t``'s last centroid (this also
  reconnects a trend that skipped a few windows).

An edge exists when either passes its threshold. Edges are taken greedily, strongest first,
one cluster per trend. A cluster left over with an edge to a taken trend is a *split* (a new
trend whose parent is that trend); a trend left over with an edge to a taken cluster is a
*merge* (it ends, merged into the trend that took the cluster).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class MatchResult:
    matched: dict[int, str] = field(default_factory=dict)  # cluster position -> existing trend id
    split_parent: dict[int, str] = field(default_factory=dict)  # cluster position -> parent trend id
    merges: list[tuple[str, str]] = field(default_factory=list)  # (ended trend, into trend)


def match_clusters(
    overlap: np.ndarray,
    similarity: np.ndarray,
    trend_ids: list[str],
    *,
    min_overlap: float,
    min_similarity: float,
    mergeable: set[str] | None = None,
) -> MatchResult:
    """Greedy matching of clusters (rows) to trends (columns). Deterministic: ties go to the
    earlier cluster and the smaller trend id. ``mergeable`` limits merges to trends seen in the
    previous window (default: all)."""
    n_c, n_t = similarity.shape
    result = MatchResult()
    if n_c == 0 or n_t == 0:
        return result
    edge = (overlap >= min_overlap) | (similarity >= min_similarity)
    weight = overlap + similarity
    cand = [(-float(weight[c, t]), c, trend_ids[t], t) for c in range(n_c) for t in range(n_t) if edge[c, t]]
    cand.sort()
    taken_c: dict[int, int] = {}
    taken_t: dict[int, int] = {}
    for _, c, _, t in cand:
        if c in taken_c or t in taken_t:
            continue
        taken_c[c] = t
        taken_t[t] = c
        result.matched[c] = trend_ids[t]
    for _, c, tid, t in cand:  # strongest leftover edge decides
        if c not in taken_c and c not in result.split_parent and t in taken_t:
            result.split_parent[c] = tid
    merged: set[int] = set()
    for _, c, tid, t in cand:
        if t not in taken_t and t not in merged and c in taken_c and (mergeable is None or tid in mergeable):
            merged.add(t)
            result.merges.append((tid, trend_ids[taken_c[c]]))
    return result
