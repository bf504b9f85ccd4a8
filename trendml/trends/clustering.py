"""Per-window clustering: an optional reducer (PCA / UMAP / none) and ``hdbscan.HDBSCAN``, wrapped
in a :class:`WindowModel`. New points are placed into the window's clusters without refitting by
the acceptance regions of :mod:`trendml.trends.assign` (member exemplars and a radius per
cluster, in the original space), which is also all that is stored: ``to_bytes`` writes plain
arrays (``.npz``), never a pickle.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trendml.errors import InputError, StateError
from trendml.trends.assign import TrendRegions, fit_regions, predict_regions

logger = logging.getLogger(__name__)

REDUCERS = ("pca", "umap", "none")
MODEL_FORMAT = 2  # 1 = pickled reducer + HDBSCAN (refused on load), 2 = arrays (.npz)
TRANSFORM_CHUNK = 65_536  # rows converted to float64 at a time in big windows
BIG_WINDOW_CORE_MEMBERS = 2_000  # windows over max_fit_items: members searched for a cluster's core


@dataclass
class ClusterParams:
    """Parameters of one window's clustering (see :class:`trendml.trends.TrendDetector`)."""

    min_cluster_size: int = 10
    min_samples: int | None = 5
    reducer: str = "pca"
    n_components: int = 10
    cluster_selection_method: str = "leaf"
    n_jobs: int = 2
    random_state: int = 0
    max_fit_items: int = 10_000
    assign_quantile: float = 0.99
    assign_slack: float = 1.0
    assign_exemplars: int = 200
    assign_core: float = 0.35
    assign_max_radius: float = 0.4

    def validate(self) -> None:
        if self.reducer not in REDUCERS:
            raise InputError(
                f'reducer is "{self.reducer}"; expected one of {", ".join(REDUCERS)}', field="reducer"
            )
        if self.min_cluster_size < 2:
            raise InputError(
                f"min_cluster_size is {self.min_cluster_size}; expected at least 2", field="min_cluster_size"
            )
        if self.n_components < 2:
            raise InputError(
                f"n_components is {self.n_components}; expected at least 2", field="n_components"
            )
        if self.cluster_selection_method not in ("eom", "leaf"):
            raise InputError(
                f'cluster_selection_method is "{self.cluster_selection_method}"; expected eom or leaf',
                field="cluster_selection_method",
            )
        if not 0.5 <= self.assign_quantile <= 1.0:
            raise InputError(
                f"assign_quantile is {self.assign_quantile}; expected a number in [0.5, 1]",
                field="assign_quantile",
            )
        if not 0.5 <= self.assign_slack <= 3.0:
            raise InputError(
                f"assign_slack is {self.assign_slack}; expected a number in [0.5, 3]", field="assign_slack"
            )
        if self.assign_exemplars < 2:
            raise InputError(
                f"assign_exemplars is {self.assign_exemplars}; expected at least 2", field="assign_exemplars"
            )

    def fit_regions(self, x: np.ndarray, labels: np.ndarray) -> TrendRegions:
        """The acceptance regions of ``labels``' clusters in ``x`` under these ``assign_*`` settings.

        In a window over ``max_fit_items`` a cluster's core is looked for among an evenly spread
        ``BIG_WINDOW_CORE_MEMBERS`` of its members (the core test is quadratic in a cluster's size)."""
        big = len(x) > self.max_fit_items
        return fit_regions(
            x,
            labels,
            quantile=self.assign_quantile,
            slack=self.assign_slack,
            max_exemplars=self.assign_exemplars,
            max_radius=self.assign_max_radius,
            core_distance=self.assign_core,
            max_core_members=BIG_WINDOW_CORE_MEMBERS if big else None,
        )


@dataclass
class WindowModel:
    """A fitted window: reducer + clusterer (in memory only) and the clusters' acceptance regions,
    or a single centroid when every point is identical.

    ``predict`` uses the acceptance regions (:mod:`trendml.trends.assign`) and is point-wise (each
    point's label depends on that point alone), so an item gets the same label whether it is
    predicted alone or in a batch. ``to_bytes`` stores the regions only (arrays, no pickle); a
    model read back has no reducer or clusterer and predicts exactly as before it was stored.
    """

    kind: str  # "hdbscan" or "centroid"
    reducer: Any = None
    clusterer: Any = None
    centroid: np.ndarray | None = None
    n_clusters: int = 0
    format: int = MODEL_FORMAT
    meta: dict[str, Any] = field(default_factory=dict)
    regions: TrendRegions | None = None

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        if self.reducer is None:
            return np.asarray(vectors, dtype=np.float64)
        return _transform(self.reducer, vectors)

    def predict(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (``-1`` = no cluster accepts the point) and fit scores in ``[0, 1]`` for new points."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        if self.kind == "centroid":
            assert self.centroid is not None
            sims = vectors @ self.centroid
            labels = np.where(sims >= self.meta.get("min_similarity", 0.98), 0, -1)
            return labels.astype(np.int64), np.clip(sims, 0, 1).astype(np.float64)
        if self.regions is None:  # pragma: no cover - every fitted or loaded model has regions
            raise StateError("window model has no acceptance regions; rerun detection with a fresh state")
        return predict_regions(self.regions, vectors)

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "format": np.asarray(MODEL_FORMAT),
            "kind": np.asarray(self.kind),
            "n_clusters": np.asarray(self.n_clusters),
            "min_similarity": np.asarray(float(self.meta.get("min_similarity", 0.98))),
        }
        if self.centroid is not None:
            arrays["centroid"] = np.asarray(self.centroid, dtype=np.float32)
        if self.regions is not None:
            arrays.update({f"regions_{k}": v for k, v in self.regions.to_arrays().items()})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @staticmethod
    def from_bytes(blob: bytes) -> WindowModel:
        blob = bytes(blob)
        if blob[:1] == b"\x80":  # a pickle: written by trendml before window models were arrays
            raise StateError(
                "stored window model is in the old pickled format (format 1); expected format "
                f"{MODEL_FORMAT} (arrays); reset the trend state: rerun `trendml detect` with a fresh "
                '--state (or --no-state), or POST /v1/detect with {"reset": true} on the service'
            )
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            fmt = int(arrays["format"])
        except Exception as exc:  # corrupt state
            raise StateError(
                f"stored window model is unreadable ({type(exc).__name__}); expected a model written by this "
                "version of trendml; reset the trend state (rerun detection with a fresh state)"
            ) from None
        if fmt != MODEL_FORMAT:
            raise StateError(
                f"stored window model has format {fmt}; expected format {MODEL_FORMAT}; "
                "reset the trend state (rerun detection with a fresh state)"
            )
        regions = None
        if "regions_labels" in arrays:
            regions = TrendRegions.from_arrays(
                {k[len("regions_") :]: v for k, v in arrays.items() if k.startswith("regions_")}
            )
        model = WindowModel(
            kind=str(arrays["kind"]),
            centroid=arrays.get("centroid"),
            n_clusters=int(arrays["n_clusters"]),
            regions=regions,
        )
        model.meta["min_similarity"] = float(arrays["min_similarity"])
        return model


def approximate_predict(
    clusterer: Any, points: np.ndarray, *, chunk: int = 65_536, n_jobs: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``hdbscan.approximate_predict``, vectorised: the same labels and probabilities.

    hdbscan's version handles one point at a time in Python and scans the whole condensed tree for
    each point's nearest neighbour (O(fit size) per point: minutes for 100k points, hours for 1M).
    This one queries the neighbours in chunks, looks the neighbour's tree row up in an array, and
    walks every point up the cluster tree at once (the tree is a few dozen levels deep). The
    neighbour queries of ``n_jobs`` chunks run in threads (the KD-tree query releases the GIL).
    """
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    labels = np.full(n, -1, dtype=np.int64)
    probs = np.zeros(n, dtype=np.float64)
    pdata = clusterer.prediction_data_
    ctree = pdata.cluster_tree
    if n == 0 or ctree.shape[0] == 0:  # no clusters: everything is noise (as in hdbscan)
        return labels, probs
    min_samples = clusterer.min_samples or clusterer.min_cluster_size
    raw = clusterer.condensed_tree_._raw_tree
    child = np.asarray(raw["child"], dtype=np.int64)
    top = max(int(child.max()), int(ctree["parent"].max()), max(pdata.cluster_map, default=0))
    row_of = np.zeros(top + 1, dtype=np.int64)  # a child that is not in the tree reads row 0 (as hdbscan)
    first = np.unique(child, return_index=True)
    row_of[first[0]] = first[1]
    nb_parent = np.asarray(raw["parent"], dtype=np.int64)[row_of]
    nb_lambda = np.asarray(raw["lambda_val"], dtype=np.float64)[row_of]
    up_parent = np.zeros(top + 1, dtype=np.int64)
    up_lambda = np.zeros(top + 1, dtype=np.float64)
    has_up = np.zeros(top + 1, dtype=bool)
    for c, par, lam in zip(ctree["child"], ctree["parent"], ctree["lambda_val"], strict=True):
        up_parent[int(c)], up_lambda[int(c)], has_up[int(c)] = int(par), float(lam), True
    root = int(ctree["parent"].min())
    label_of = np.full(top + 1, -1, dtype=np.int64)
    max_lambda = np.zeros(top + 1, dtype=np.float64)
    for c, lab in pdata.cluster_map.items():
        label_of[int(c)] = int(lab)
        max_lambda[int(c)] = float(pdata.max_lambdas[c])
    core = np.asarray(pdata.core_distances, dtype=np.float64)
    big = np.finfo(np.double).max
    starts = list(range(0, n, chunk))

    def query(a: int) -> tuple[np.ndarray, np.ndarray]:
        return pdata.tree.query(pts[a : a + chunk], k=2 * min_samples)

    if n_jobs > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            answers = pool.map(query, starts)
    else:
        answers = map(query, starts)
    for a, (dist, ind) in zip(starts, answers, strict=True):
        b = min(n, a + chunk)
        mr = np.maximum(np.maximum(core[ind], dist[:, min_samples : min_samples + 1]), dist)
        j = mr.argmin(axis=1)
        rows = np.arange(b - a)
        nn, m = ind[rows, j], mr[rows, j]
        with np.errstate(divide="ignore"):
            lam = np.where(m > 0.0, 1.0 / np.where(m > 0.0, m, 1.0), big)
        pot = nb_parent[nn].copy()
        walk = np.flatnonzero(nb_lambda[nn] > lam)
        while len(walk):
            p = pot[walk]
            ok = (p > root) & has_up[p] & (up_lambda[p] >= lam[walk])
            pot[walk[ok]] = up_parent[p[ok]]
            walk = walk[ok]
        lab = label_of[pot]
        ml = max_lambda[pot]
        pr = np.where(ml > 0.0, np.minimum(ml, lam) / np.where(ml > 0.0, ml, 1.0), 1.0)
        labels[a:b] = lab
        probs[a:b] = np.where(lab >= 0, pr, 0.0)
    return labels, probs


def _all_identical(x: np.ndarray, tol: float = 1e-4, chunk: int = TRANSFORM_CHUNK) -> bool:
    return all(bool(np.abs(x[a : a + chunk] - x[0]).max() <= tol) for a in range(0, len(x), chunk))


def _transform(reducer: Any, vectors: np.ndarray, chunk: int = TRANSFORM_CHUNK) -> np.ndarray:
    """``reducer.transform`` in float64, a chunk of rows at a time (no float64 copy of a big window)."""
    from threadpoolctl import threadpool_limits

    x = np.asarray(vectors)
    with threadpool_limits(limits=1, user_api="blas"):
        if len(x) <= chunk:
            return reducer.transform(np.asarray(x, dtype=np.float64))
        return np.concatenate(
            [
                reducer.transform(np.asarray(x[a : a + chunk], dtype=np.float64))
                for a in range(0, len(x), chunk)
            ]
        )


def fit_window_model(
    vectors: np.ndarray, params: ClusterParams, *, fit_index: np.ndarray | None = None
) -> tuple[WindowModel, np.ndarray, np.ndarray]:
    """Cluster one window. Returns the model, labels (``-1`` noise) and membership probabilities.

    Windows larger than ``params.max_fit_items`` are fitted on ``fit_index`` (a subsample the
    caller chooses deterministically; the first ``max_fit_items`` rows otherwise) and the other
    points are placed with ``approximate_predict``: HDBSCAN's cost grows faster than linearly,
    and a subsample of 20k still holds every group big enough to matter.

    Degenerate windows are handled without exceptions: when every vector is (near-)identical the
    whole window is one cluster (a copy-paste wave), modelled by its centroid.
    """
    params.validate()
    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    if n < params.min_cluster_size:
        raise InputError(
            f"window has {n} items; expected at least min_cluster_size={params.min_cluster_size}"
        )
    if _all_identical(x):
        centroid = x.mean(axis=0)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        model = WindowModel(kind="centroid", centroid=centroid.astype(np.float32), n_clusters=1)
        model.meta["min_similarity"] = 0.98
        return model, np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.float64)

    import hdbscan

    reducer = None
    big = n > params.max_fit_items
    if big:
        fit_index = np.sort(
            np.asarray(fit_index if fit_index is not None else np.arange(params.max_fit_items))
        )
    else:
        fit_index = None
    if params.reducer == "pca":
        from sklearn.decomposition import PCA
        from threadpoolctl import threadpool_limits

        k = min(params.n_components, n - 1, x.shape[1])
        # one BLAS thread: on a shared 2-core box multi-threaded OpenBLAS is up to 50x slower here
        with threadpool_limits(limits=1, user_api="blas"):
            pca = PCA(n_components=k, svd_solver="covariance_eigh", random_state=params.random_state)
            if big:  # a big window: the basis from the fit subsample, every row projected in chunks
                reducer = pca.fit(x[fit_index].astype(np.float64))
            else:
                reducer = pca.fit(x.astype(np.float64))
        z = _transform(reducer, x)
    elif params.reducer == "umap":
        try:
            import umap
        except ImportError:  # pragma: no cover - optional dependency
            raise InputError(
                'reducer is "umap" but umap-learn is not installed; expected pca or none; '
                "install the bench extra or choose pca"
            ) from None
        k = min(params.n_components, n - 2)
        reducer = umap.UMAP(
            n_components=k,
            n_neighbors=min(15, n - 1),
            min_dist=0.0,
            metric="cosine",
            random_state=params.random_state,
            n_jobs=1,
        ).fit(x.astype(np.float64))
        z = reducer.embedding_.astype(np.float64)
    else:
        z = x.astype(np.float64)
    min_samples = min(params.min_samples or params.min_cluster_size, n - 1)
    clusterer = hdbscan.HDBSCAN(
        min_cluster_size=params.min_cluster_size,
        min_samples=min_samples,
        cluster_selection_method=params.cluster_selection_method,
        prediction_data=True,
        core_dist_n_jobs=params.n_jobs,
    )
    zf = z[fit_index] if fit_index is not None else z
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="hdbscan")  # its numeric warnings on tiny windows
        clusterer.fit(zf)
        if clusterer.labels_.max() < 0:
            # HDBSCAN never returns its root as a cluster unless asked: a window holding one dense
            # group (plus a little noise) would show nothing. Ask again, allowing one cluster.
            clusterer.set_params(allow_single_cluster=True, cluster_selection_method="eom")
            clusterer.fit(zf)
    if fit_index is None:
        labels = np.asarray(clusterer.labels_, dtype=np.int64)
        probs = np.asarray(clusterer.probabilities_, dtype=np.float64)
    else:
        rest = np.setdiff1d(np.arange(n), fit_index)
        labels = np.empty(n, dtype=np.int64)
        probs = np.empty(n, dtype=np.float64)
        labels[fit_index] = clusterer.labels_
        probs[fit_index] = clusterer.probabilities_
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="hdbscan")  # its numeric warnings on tiny windows
            rl, rp = approximate_predict(clusterer, z[rest], n_jobs=params.n_jobs)
        labels[rest], probs[rest] = rl, rp
    n_clusters = int(labels.max() + 1) if len(labels) else 0
    regions = params.fit_regions(x, labels)
    model = WindowModel(
        kind="hdbscan", reducer=reducer, clusterer=clusterer, n_clusters=n_clusters, regions=regions
    )
    logger.debug("window of %d items: %d clusters, %d noise", n, n_clusters, int((labels < 0).sum()))
    return model, labels, probs
