"""``TrendDetector``: windowed HDBSCAN, stable trend ids, emergence and US-specific scoring.

One window at a time (:func:`process_window`), always through a :class:`TrendState`, so a batch
run over many windows and an incremental run that feeds them one by one do exactly the same
steps. See ``docs/trends.md`` for the algorithm and the measurements behind the defaults.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from trendml.errors import InputError, ModelMismatchError, StateError
from trendml.items import Item
from trendml.trends.assign import _spread_pick
from trendml.trends.clustering import ClusterParams, fit_window_model
from trendml.trends.density import DensityParams, density_clusters
from trendml.trends.keywords import ctfidf_keywords, trend_title
from trendml.trends.record import TrendSnapshot
from trendml.trends.scoring import (
    burst_z,
    density_ratio,
    growth_z,
    neighbourhood_labels,
    novelty,
    region_lift,
    severity_mix,
)
from trendml.trends.state import TrendRecord, TrendState, WindowRecord
from trendml.trends.status import STATUS_VALUES, TrendStatus
from trendml.trends.tracking import match_clusters
from trendml.trends.windows import WindowSlice, format_window, parse_window, split_windows

logger = logging.getLogger(__name__)

STATUSES = STATUS_VALUES
NOT_ENOUGH = "not enough items"
TRACK_VOTERS = 1_000  # windows over max_fit_items: members per cluster whose earlier trend is looked up


@dataclass
class WindowResult:
    start: datetime
    end: datetime
    n_items: int
    trends: list[TrendSnapshot] = field(default_factory=list)
    note: str | None = None
    us_share: float | None = None
    events: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "n_items": self.n_items,
            "trends": [t.to_json() for t in self.trends],
            "note": self.note,
            "us_share": self.us_share,
            "events": self.events,
        }


@dataclass
class DetectionResult:
    """Windows in time order; ``to_dict()`` is the detection contract."""

    windows: list[WindowResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"windows": [w.to_dict() for w in self.windows]}

    def item_trends(self) -> dict[str, str]:
        """``item id -> trend id`` for every item that landed in a trend."""
        return {i: t.trend_id for w in self.windows for t in w.trends for i in t.member_ids}

    def emerging(self) -> list[tuple[int, TrendSnapshot]]:
        """``(window position, trend)`` of every emerging trend."""
        return [(k, t) for k, w in enumerate(self.windows) for t in w.trends if t.emerging]


def _tuple_or_none(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return tuple(values) if values is not None else None


def _r(x: float | None, nd: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


class TrendDetector:
    """Emerging-trend detection over time windows (scikit-learn style parameters).

    Parameters
    ----------
    window: window length (``"1d"``, ``"6h"``, a ``timedelta``); windows are epoch-aligned.
    min_cluster_size, min_samples, cluster_selection_method: HDBSCAN parameters per window.
    reducer, n_components: ``"pca"`` (default), ``"umap"`` or ``"none"`` before HDBSCAN.
    min_window_items: windows with fewer items get a "not enough items" note and no trends.
    history: how many earlier windows a region's count is compared against.
    history_sample: at most this many vectors per window are kept as history (chosen by id hash).
    emerging_z, emerging_ratio, min_emerging_size: a trend is *emerging* when its region's burst
        z-score and density ratio vs history pass both thresholds and it has enough members.
    growing_z: |growth z| vs the trend's own past sizes that makes it growing / fading.
    match_similarity, match_overlap, max_gap: tracking thresholds (see ``trends.tracking``).
    us_alpha: p-value below which a trend's US lift counts as US-specific.
    max_fit_items: larger windows are clustered (PCA and HDBSCAN) on a deterministic subsample of
        this size and the rest placed with ``approximate_predict``; such a window also bounds its
        other steps by sampling (cores, tracking votes, keyword noise; see docs/scale.md).
    assign_quantile, assign_slack, assign_core, assign_max_radius: the acceptance test of
        ``assign`` (and of tracking's member overlap): a new item joins a trend only when its
        cosine distance to the nearest member of the trend's coherent core (members with a fellow
        member within ``assign_core``) is within ``assign_slack`` x the ``assign_quantile`` of the
        core's own nearest-member distances, at most ``assign_max_radius`` (see
        ``trends.assign``); otherwise it gets no trend.
    density, density_k, density_alpha, density_min_size, density_max_query: the local-density
        burst signal (``trends.density``): items whose ``density_k`` nearest neighbours (full
        dimension, this window + history) are improbably often from this window (p <
        ``density_alpha``) are grouped; a group of >= ``density_min_size`` whose region passes the
        emergence thresholds becomes a cluster of its own. Windows over ``density_max_query``
        items query an id-hash subsample of that size.
    """

    def __init__(
        self,
        window: str | timedelta = "1d",
        *,
        min_cluster_size: int = 10,
        min_samples: int | None = 5,
        cluster_selection_method: str = "leaf",
        reducer: str = "pca",
        n_components: int = 10,
        min_window_items: int = 30,
        history: int = 7,
        history_sample: int = 2000,
        emerging_z: float = 4.0,
        emerging_ratio: float = 3.0,
        min_emerging_size: int | None = None,
        growing_z: float = 2.0,
        match_similarity: float = 0.9,
        match_overlap: float = 0.3,
        max_gap: int = 3,
        n_keywords: int = 8,
        n_representatives: int = 5,
        us_alpha: float = 0.01,
        max_fit_items: int = 10_000,
        assign_quantile: float = 0.99,
        assign_slack: float = 1.0,
        assign_core: float = 0.35,
        assign_max_radius: float = 0.4,
        density: bool = False,
        density_k: int = 10,
        density_alpha: float = 0.01,
        density_min_size: int = 10,
        density_max_query: int = 20_000,
        n_jobs: int = 2,
    ) -> None:
        self.window = window
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_method = cluster_selection_method
        self.reducer = reducer
        self.n_components = n_components
        self.min_window_items = min_window_items
        self.history = history
        self.history_sample = history_sample
        self.emerging_z = emerging_z
        self.emerging_ratio = emerging_ratio
        self.min_emerging_size = min_emerging_size
        self.growing_z = growing_z
        self.match_similarity = match_similarity
        self.match_overlap = match_overlap
        self.max_gap = max_gap
        self.n_keywords = n_keywords
        self.n_representatives = n_representatives
        self.us_alpha = us_alpha
        self.assign_quantile = assign_quantile
        self.assign_slack = assign_slack
        self.assign_core = assign_core
        self.assign_max_radius = assign_max_radius
        self.density = density
        self.density_k = density_k
        self.density_alpha = density_alpha
        self.density_min_size = density_min_size
        self.density_max_query = density_max_query
        self.max_fit_items = max_fit_items
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ helpers
    def get_params(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "window",
                "min_cluster_size",
                "min_samples",
                "cluster_selection_method",
                "reducer",
                "n_components",
                "min_window_items",
                "history",
                "history_sample",
                "emerging_z",
                "emerging_ratio",
                "min_emerging_size",
                "growing_z",
                "match_similarity",
                "match_overlap",
                "max_gap",
                "n_keywords",
                "n_representatives",
                "us_alpha",
                "max_fit_items",
                "assign_quantile",
                "assign_slack",
                "assign_core",
                "assign_max_radius",
                "density",
                "density_k",
                "density_alpha",
                "density_min_size",
                "density_max_query",
                "n_jobs",
            )
        }

    def _cluster_params(self) -> ClusterParams:
        p = ClusterParams(
            min_cluster_size=int(self.min_cluster_size),
            min_samples=self.min_samples,
            reducer=self.reducer,
            n_components=int(self.n_components),
            cluster_selection_method=self.cluster_selection_method,
            n_jobs=int(self.n_jobs),
            max_fit_items=int(self.max_fit_items),
            assign_quantile=float(self.assign_quantile),
            assign_slack=float(self.assign_slack),
            assign_core=float(self.assign_core),
            assign_max_radius=float(self.assign_max_radius),
        )
        p.validate()
        return p

    def state_config(self, dim: int) -> dict[str, Any]:
        """The settings a state is bound to (everything that changes results, plus the vector size)."""
        cfg = {k: v for k, v in self.get_params().items() if k != "n_jobs"}
        cfg["window"] = format_window(parse_window(self.window))
        cfg["dim"] = int(dim)
        return cfg

    # ------------------------------------------------------------------ public API
    def detect(
        self,
        items: Sequence[Item],
        embeddings: np.ndarray,
        *,
        severity: np.ndarray | None = None,
        state: TrendState | None = None,
        now: datetime | None = None,
        previous_ids: Mapping[str, str] | None = None,
    ) -> DetectionResult:
        """Detect trends in every window of ``items`` (any order) and record them in ``state``.

        ``state=None`` uses a fresh in-memory state (a one-off batch run). With a persistent
        state, the items must all lie after the last processed window (:class:`StateError`).

        ``previous_ids`` (item id -> trend id, e.g. :meth:`TrendState.memberships` of the state a
        restart replaces) carries ids over: a cluster that would become a new trend takes the
        earlier id held by at least half of its members, when no other trend has it yet, so
        re-running detection over changed data does not rename trends that analysts reviewed.
        An earlier id that no cluster carries over is retired: it is never given to another group,
        so feedback recorded against it cannot end up on a different trend.
        """
        window = parse_window(self.window)
        x, norms = _check_inputs(items, embeddings, severity)  # unit rows = x / norms
        params = self._cluster_params()
        state = state if state is not None else TrendState.in_memory()
        state.check_config(self.state_config(x.shape[1]))
        slices = split_windows(items, window)
        last = state.last_start
        if last is not None and slices and slices[0].start <= last:
            raise StateError(
                f"items start in the window of {slices[0].start.isoformat()}, "
                f"which the trend state at {state.url} "
                f"has already processed (last window {last.isoformat()}); expected only later items; "
                "use a fresh state (--no-state or another --state path) to re-run old windows"
            )
        now = now or datetime.now(UTC)
        # earlier ids are reserved: one that is not carried over is retired, never given to another group
        reserved = state.retired_ids | (frozenset(previous_ids.values()) if previous_ids else frozenset())
        result = DetectionResult()
        for sl in slices:
            result.windows.append(
                self._process(state, sl, items, x, severity, params, now, previous_ids, reserved, norms)
            )
        return result

    def assign(self, items: Sequence[Item], embeddings: np.ndarray, state: TrendState) -> list[str | None]:
        """Trend id (or ``None``) for each item, from the latest window's model; no refitting."""
        return assign(items, embeddings, state)

    # ------------------------------------------------------------------ one window
    @staticmethod
    def _sample_positions(ids: list[str], size: int, keys: np.ndarray | None = None) -> np.ndarray:
        """Deterministic subsample: the ``size`` ids with the smallest hash (input order free);
        ``keys``: the ids' hashes from :func:`_id_keys`, when the caller has them already."""
        if len(ids) <= size:
            return np.arange(len(ids))
        keys = _id_keys(ids) if keys is None else keys
        # (hash, id) order as before, in numpy: the big-endian integer orders as the digest bytes do
        cut = np.partition(keys, size - 1)[size - 1]
        chosen = np.flatnonzero(keys < cut)
        tied = np.flatnonzero(keys == cut)
        if len(tied) > size - len(chosen):  # a hash collision at the cut: the smaller ids win
            tied = np.asarray(sorted(tied, key=lambda j: ids[j])[: size - len(chosen)], dtype=np.int64)
        return np.sort(np.concatenate([chosen, tied])).astype(np.int64)

    def _density_step(
        self,
        model: Any,
        xw: np.ndarray,
        ids: list[str],
        labels: np.ndarray,
        hist_pos: np.ndarray,
        pv: np.ndarray,
        pw: np.ndarray,
        params: ClusterParams,
    ) -> tuple[np.ndarray, dict[int, tuple[float, float]]]:
        """Groups of locally bursting items (``trends.density``) as extra clusters; the model's
        acceptance regions are refitted on the new labels. No history: nothing changes."""
        if not self.density or len(pw) == 0 or model.kind != "hdbscan":
            return labels, {}
        n = len(xw)
        query = self._sample_positions(ids, self.density_max_query) if n > self.density_max_query else None
        query = np.arange(n) if query is None else query
        new, counts = density_clusters(
            xw,
            labels,
            np.asarray(hist_pos, dtype=np.int64),
            np.asarray(query, dtype=np.int64),
            pv,
            pw,
            params=DensityParams(
                k=int(self.density_k),
                alpha=float(self.density_alpha),
                min_size=int(self.density_min_size),
                max_query=int(self.density_max_query),
            ),
            quantile=params.assign_quantile,
            emerging_z=self.emerging_z,
            emerging_ratio=self.emerging_ratio,
        )
        if counts:
            model.regions = params.fit_regions(xw, new)
            model.n_clusters = int(new.max()) + 1
        return new, counts

    def _process(
        self,
        state: TrendState,
        sl: WindowSlice,
        items: Sequence[Item],
        x: np.ndarray,
        severity: np.ndarray | None,
        params: ClusterParams,
        now: datetime,
        previous_ids: Mapping[str, str] | None = None,
        reserved: frozenset[str] = frozenset(),
        norms: np.ndarray | None = None,
    ) -> WindowResult:
        seq = state.next_seq
        idx = sl.index
        n = len(idx)
        ids = [items[i].id for i in idx]
        xw = x[idx]
        if norms is not None:  # unit rows, made on the window's copy (no second copy of all the input)
            xw /= norms[idx]
        region_counts = Counter(items[i].region for i in idx if items[i].region)
        n_known = sum(region_counts.values())
        n_us = region_counts.get("US", 0)
        us_share_w = n_us / n_known if n_known else None
        notes: list[str] = []
        if sl.start > now:
            notes.append("window starts after the detection time (items dated in the future)")
        keys = _id_keys(ids) if n > min(self.history_sample, params.max_fit_items) else None
        hist_pos = self._sample_positions(ids, self.history_sample, keys)
        record = WindowRecord(
            seq=seq,
            start=sl.start,
            end=sl.end,
            n_items=n,
            history_ids=[ids[j] for j in hist_pos],
            history=xw[hist_pos],
        )
        past = [w for w in state.windows[-self.history :] if w.history is not None and len(w.history_ids)]
        wres = WindowResult(start=sl.start, end=sl.end, n_items=n, us_share=_r(us_share_w))

        def finish(obs, updates, events):  # noqa: ANN001, ANN202 - the one place the state is written
            return self._commit(state, record, wres, notes, us_share_w, region_counts, obs, updates, events)

        if n < max(self.min_window_items, params.min_cluster_size):
            notes.insert(
                0,
                f"{NOT_ENOUGH}: {n} < {max(self.min_window_items, params.min_cluster_size)} "
                "needed to cluster this window",
            )
            return finish([], {}, [])
        fit_index = (
            self._sample_positions(ids, params.max_fit_items, keys) if n > params.max_fit_items else None
        )
        model, labels, probs = fit_window_model(xw, params, fit_index=fit_index)
        if model.kind == "centroid":
            notes.append("all items in this window are near-identical: one cluster")
        past_n = float(sum(w.n_items for w in past))
        if past:
            pv = np.concatenate([w.history for w in past])
            pw = np.concatenate([np.full(len(w.history_ids), w.n_items / len(w.history_ids)) for w in past])
        else:
            pv, pw = np.zeros((0, x.shape[1]), dtype=np.float32), np.zeros(0)
        labels, density_counts = self._density_step(model, xw, ids, labels, hist_pos, pv, pw, params)
        clusters = sorted(
            {int(c) for c in labels if c >= 0}, key=lambda c: int(np.flatnonzero(labels == c)[0])
        )
        if not clusters:
            notes.append(
                "no cluster found: the window has no dense group of at least "
                f"{params.min_cluster_size} similar items"
            )
            # no model is stored: ``assign`` keeps using the latest window that has trends
            return finish([], {}, [])
        members = [np.flatnonzero(labels == c) for c in clusters]
        cents = np.stack([xw[m].mean(axis=0) for m in members]).astype(np.float32)
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)

        now_k, past_k = self._neighbour_counts(
            model, xw, labels, clusters, hist_pos, pv, pw, density_counts, params
        )

        match, earlier = self._track(state, seq, xw, ids, members, cents, previous_ids)

        obs, updates, events, label_map = self._observations(
            state,
            sl,
            seq,
            items,
            idx,
            ids,
            xw,
            labels,
            clusters,
            members,
            cents,
            model,
            now_k,
            past_k,
            past_n,
            n,
            n_us,
            n_known,
            match,
            earlier,
            density_counts,
            severity,
            params,
            previous_ids,
            reserved,
        )
        record.model = model
        record.label_map = label_map
        return finish(obs, updates, events)

    def _neighbour_counts(
        self,
        model: Any,
        xw: np.ndarray,
        labels: np.ndarray,
        clusters: list[int],
        hist_pos: np.ndarray,
        pv: np.ndarray,
        pw: np.ndarray,
        density_counts: dict[int, tuple[float, float]],
        params: ClusterParams,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: its region's (weighted) item count in this window and in the history (pure)."""
        n = len(xw)
        past = len(pv) > 0
        # region counts in the past windows (density ratio / burst vs history)
        # Region counts now vs before, counted the same way on both sides: a point belongs to a
        # cluster's region when most of its nearest neighbours in this window are members
        # (leave-one-out for this window's own points), so the comparison has no selection bias.
        zw = model.transform(xw) if model.kind == "hdbscan" else xw
        k_nn = int(params.min_samples or params.min_cluster_size)
        pos = {c: j for j, c in enumerate(clusters)}
        now_k = np.zeros(len(clusters))
        clab = neighbourhood_labels(zw, labels, zw[hist_pos], k=k_nn, self_index=hist_pos)
        for lab in clab[clab >= 0]:
            now_k[pos[int(lab)]] += n / len(hist_pos)
        past_k = np.zeros(len(clusters))
        if past:
            zp = model.transform(pv) if model.kind == "hdbscan" else pv
            plab = neighbourhood_labels(zw, labels, zp, k=k_nn)
            for lab, wt in zip(plab, pw, strict=True):
                if lab >= 0:
                    past_k[pos[int(lab)]] += wt
        for lab, (k_now, m_past) in density_counts.items():  # density groups: counted by their region
            if lab in pos:
                now_k[pos[lab]], past_k[pos[lab]] = k_now, m_past

        return now_k, past_k

    def _track(
        self,
        state: TrendState,
        seq: int,
        xw: np.ndarray,
        ids: list[str],
        members: list[np.ndarray],
        cents: np.ndarray,
        previous_ids: Mapping[str, str] | None,
    ) -> tuple[Any, np.ndarray]:
        """Match this window's clusters to the active trends (reads the state, writes nothing):
        ``(match, earlier centroids)``."""
        prev = state.model_window()
        active = sorted(
            t
            for t, rec in state.trends.items()
            if rec.merged_into is None and rec.last_seq >= seq - 1 - self.max_gap
        )
        overlap = np.zeros((len(members), len(active)))
        col = {t: j for j, t in enumerate(active)}
        prev_trends: set[str] = set()
        if prev is not None and prev.model is not None and prev.seq >= seq - 1 - self.max_gap and active:
            # only members vote and prediction is point-wise, so the members are predicted alone; in a
            # window over max_fit_items at most TRACK_VOTERS evenly spread members of each cluster vote
            voters = members
            if len(xw) > self.max_fit_items:
                voters = [m[_spread_pick(len(m), TRACK_VOTERS)] for m in members]
            rows = np.concatenate(voters)
            plab = np.full(len(xw), -1, dtype=np.int64)
            plab[rows] = prev.model.predict(xw[rows])[0]
            prev_trends = {t for t in prev.label_map.values() if t in col}
            for ci, m in enumerate(voters):
                for lab in plab[m]:
                    tid = prev.label_map.get(int(lab))
                    if tid is not None and tid in col:
                        overlap[ci, col[tid]] += 1
                overlap[ci] /= len(m)
        if previous_ids and active:
            # a restart: the earlier run's assignment of these very items is evidence of continuity too
            for ci, m in enumerate(members):
                held = Counter(previous_ids.get(ids[j]) for j in m)
                for tid, count in held.items():
                    if tid in col:
                        overlap[ci, col[tid]] = max(overlap[ci, col[tid]], count / len(m))
        tcents = (
            np.stack([state.trends[t].centroid for t in active]) if active else np.zeros((0, xw.shape[1]))
        )
        sims = cents @ tcents.T if active else np.zeros((len(members), 0))
        match = match_clusters(
            overlap,
            sims,
            active,
            min_overlap=self.match_overlap,
            min_similarity=self.match_similarity,
            mergeable=prev_trends,
        )
        earlier = (
            np.stack([r.centroid for r in state.trends.values()])
            if state.trends
            else np.zeros((0, xw.shape[1]), dtype=np.float32)
        )

        return match, earlier

    def _observations(
        self,
        state: TrendState,
        sl: WindowSlice,
        seq: int,
        items: Sequence[Item],
        idx: np.ndarray,
        ids: list[str],
        xw: np.ndarray,
        labels: np.ndarray,
        clusters: list[int],
        members: list[np.ndarray],
        cents: np.ndarray,
        model: Any,
        now_k: np.ndarray,
        past_k: np.ndarray,
        past_n: float,
        n: int,
        n_us: int,
        n_known: int,
        match: Any,
        earlier: np.ndarray,
        density_counts: dict[int, tuple[float, float]],
        severity: np.ndarray | None,
        params: ClusterParams,
        previous_ids: Mapping[str, str] | None,
        reserved: frozenset[str],
    ) -> tuple[list[TrendSnapshot], dict[str, TrendRecord], list[tuple[str, str, str]], dict[int, str]]:
        """Ids, statuses, scores and the observation record of each cluster (reads the state, writes
        nothing): ``(observations, trend updates, events, cluster label -> trend id)``."""
        rows, weights = np.arange(n), None
        if n > params.max_fit_items:  # a big window: an evenly spread sample of the noise stands for it
            noise = np.flatnonzero(labels < 0)
            some = noise[_spread_pick(len(noise), params.max_fit_items)]
            rows = np.sort(np.concatenate([np.flatnonzero(labels >= 0), some]))
            weights = np.where(labels[rows] < 0, len(noise) / max(len(some), 1), 1.0)
        texts = [items[idx[j]].content for j in rows]
        keywords = ctfidf_keywords(texts, labels[rows], top_n=self.n_keywords, weights=weights)
        processed = [w.seq for w in state.windows[-self.history :]]
        stamp = sl.start.strftime("%Y%m%d%H%M")
        min_emerging = self.min_emerging_size or params.min_cluster_size
        obs: list[TrendSnapshot] = []
        updates: dict[str, TrendRecord] = {}
        events: list[tuple[str, str, str]] = []
        label_map: dict[int, str] = {}
        carried = _carried_ids(members, ids, match.matched, previous_ids, set(state.trends))
        taken = set(state.trends) | set(carried.values()) | reserved
        new_k = 0
        for ci, (c, m) in enumerate(zip(clusters, members, strict=True)):
            size = len(m)
            parent = None
            if ci in match.matched:
                tid = match.matched[ci]
                old = state.trends[tid]
                rec = replace(old, sizes=dict(old.sizes))
                hist_sizes = [old.sizes.get(s, (0, 0))[0] for s in processed if s >= old.first_seq]
                gz = growth_z(size, hist_sizes)
                status = (
                    TrendStatus.GROWING
                    if gz >= self.growing_z
                    else TrendStatus.FADING
                    if gz <= -self.growing_z
                    else TrendStatus.STABLE
                )
            else:
                tid = carried.get(ci)
                if tid is None:  # a fresh id; skip any an earlier run's trend carries over
                    tid = f"t{stamp}-{new_k:03d}"
                    new_k += 1
                    while tid in taken:
                        tid = f"t{stamp}-{new_k:03d}"
                        new_k += 1
                    taken.add(tid)
                parent = match.split_parent.get(ci)
                rec = TrendRecord(
                    trend_id=tid,
                    first_seq=seq,
                    last_seq=seq,
                    first_start=sl.start,
                    centroid=cents[ci],
                    parent_id=parent,
                )
                gz = 0.0
                status = TrendStatus.NEW
                if parent is not None:
                    events.append(("split", parent, tid))
            rec.last_seq = seq
            rec.centroid = cents[ci]
            rec.sizes[seq] = (size, n)
            has_history = past_n > 0
            bz = burst_z(now_k[ci], past_k[ci], n, past_n) if has_history else 0.0
            dr = density_ratio(now_k[ci], past_k[ci], n, past_n) if has_history else None
            nov = novelty(cents[ci], earlier)
            emerging = bool(
                has_history
                and size >= min_emerging
                and bz >= self.emerging_z
                and dr is not None
                and dr >= self.emerging_ratio
            )
            rec.ever_emerging = rec.ever_emerging or emerging
            k_regions = Counter(items[idx[j]].region for j in m if items[idx[j]].region)
            share, lift, p = region_lift(k_regions.get("US", 0), sum(k_regions.values()), n_us, n_known)
            order = np.argsort(-(xw[m] @ cents[ci]), kind="stable")[: self.n_representatives]
            kw = tuple(keywords.get(c, []))
            trend = TrendSnapshot(
                trend_id=tid,
                status=status,
                emerging=emerging,
                size=int(size),
                emergence_score=_r(bz, 3),
                us_share=_r(share),
                us_lift=_r(lift),
                keywords=kw,
                title=trend_title(list(kw)),
                member_ids=tuple(ids[j] for j in m),
                representative_ids=tuple(ids[m[j]] for j in order),
                us_lift_p=_r(p, 6),
                us_specific=bool(lift is not None and p is not None and lift > 1 and p < self.us_alpha),
                burst_z=_r(bz, 3),
                density_ratio=_r(dr, 3),
                growth_z=_r(gz, 3),
                novelty=_r(nov),
                severity_mix=_tuple_or_none(severity_mix(severity[idx[m]] if severity is not None else None)),
                region_counts=dict(sorted(k_regions.items())),
                parent_id=parent,
                signal="density" if int(c) in density_counts else "cluster",
            )
            obs.append(trend)
            updates[tid] = rec
            label_map[int(c)] = tid
        for ended, into in match.merges:
            rec = replace(state.trends[ended], sizes=dict(state.trends[ended].sizes), merged_into=into)
            updates[ended] = rec
            events.append(("merge", ended, into))
        return obs, updates, events, label_map

    def _commit(
        self,
        state: TrendState,
        record: WindowRecord,
        wres: WindowResult,
        notes: list[str],
        us_share_w: float | None,
        region_counts: Counter,
        obs: list[TrendSnapshot],
        updates: dict[str, TrendRecord],
        events: list[tuple[str, str, str]],
    ) -> WindowResult:
        """Write the window to the state (the only write of a window) and complete its result."""
        wres.note = "; ".join(notes) or None
        wres.trends = obs
        wres.events = [{"kind": k, "trend_id": a, "other_id": b} for k, a, b in events]
        state.add_window(
            record=record,
            note=wres.note,
            us_share=us_share_w,
            region_counts=dict(region_counts),
            observations=obs,
            trend_updates=updates,
            events=events,
            keep_history=self.history,
        )
        return wres


def _carried_ids(
    members: Sequence[np.ndarray],
    ids: Sequence[str],
    matched: Mapping[int, str],
    previous_ids: Mapping[str, str] | None,
    in_use: set[str],
) -> dict[int, str]:
    """Cluster index -> earlier trend id, for clusters that would be new trends and whose members
    mostly (>= half) held that id before. Strongest claims first; each id goes to one cluster."""
    if not previous_ids:
        return {}
    claims: list[tuple[int, int, str]] = []
    for ci, m in enumerate(members):
        if ci in matched:
            continue
        votes = Counter(previous_ids[ids[j]] for j in m if ids[j] in previous_ids)
        if votes:
            tid, count = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
            if 2 * count >= len(m):
                claims.append((-count, ci, tid))
    out: dict[int, str] = {}
    taken = set(in_use)
    for _, ci, tid in sorted(claims):
        if tid not in taken:
            out[ci] = tid
            taken.add(tid)
    return out


def _id_keys(ids: list[str]) -> np.ndarray:
    """Each id's 8-byte blake2b hash as a big-endian integer (orders as the digest bytes do)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(i.encode("utf-8"), digest_size=8).digest(), "big") for i in ids),
        dtype=np.uint64,
        count=len(ids),
    )


def _check_inputs(
    items: Sequence[Item], embeddings: np.ndarray, severity: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if len(items) == 0:
        raise InputError("no items were given; expected at least one item with a created_at")
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(items):
        raise InputError(
            f"embeddings have shape {x.shape}; expected ({len(items)}, dim), "
            "one row per item in the same order"
        )
    step = 65_536  # a chunk of rows at a time: no temporary the size of a big input
    if not all(np.isfinite(x[a : a + step]).all() for a in range(0, len(x), step)):
        raise InputError(
            "embeddings contain NaN or infinite values; expected finite vectors; re-embed the items"
        )
    norms = np.concatenate(
        [np.linalg.norm(x[a : a + step], axis=1, keepdims=True) for a in range(0, len(x), step)]
    )
    if severity is not None:
        sev = np.asarray(severity)
        if sev.shape != (len(items), 4):
            raise InputError(
                f"severity has shape {sev.shape}; expected ({len(items)}, 4) class probabilities"
            )
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise InputError(f'id "{dup[:60]}" appears more than once; expected unique item ids')
    return x, np.maximum(norms, 1e-12)


def assign(items: Sequence[Item], embeddings: np.ndarray, state: TrendState) -> list[str | None]:
    """Place new items into the latest window's trends (no refit), with an acceptance test: an
    item joins a trend only when it lies as close to the trend's members as the members do to each
    other (``trends.assign``); otherwise ``None``.

    Point-wise: an item gets the same answer alone or in a batch.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(items):
        raise InputError(
            f"embeddings have shape {x.shape}; expected ({len(items)}, dim), "
            "one row per item in the same order"
        )
    if len(items) == 0:
        return []
    rec = state.model_window()
    if rec is None or rec.model is None:
        raise StateError(
            f"trend state at {state.url} has no fitted window yet; "
            "expected a state that detection has run on; "
            "run `trendml detect` (or TrendDetector.detect) first"
        )
    dim = (state.meta.get("config") or {}).get("dim")
    if dim is not None and x.shape[1] != dim:
        raise ModelMismatchError(
            f"embeddings have {x.shape[1]} dimensions, the trend state was built on {dim}; "
            "expected vectors from the same embedder; embed with the embedder the state was built with"
        )
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    labels, _ = rec.model.predict(x)
    return [rec.label_map.get(int(lab)) if lab >= 0 else None for lab in labels]
