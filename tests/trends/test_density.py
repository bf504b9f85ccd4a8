"""The local-density burst signal (``trendml.trends.density``) on synthetic vectors with a known
answer: a new group that is locally denser now than in the history, inside a stationary background."""

from __future__ import annotations

import numpy as np

from tests.trends.conftest import make_blob_stream
from trendml.trends import TrendDetector
from trendml.trends.density import DensityParams, bursting, density_clusters, now_share


def _unit(v):
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _window_and_past(rng, dim=24, n_bg=400, n_new=40, n_past=1600, spread=0.25):
    centres = _unit(rng.normal(size=(8, dim)))

    def background(n):
        return _unit(centres[rng.integers(0, 8, n)] + rng.normal(scale=spread, size=(n, dim)))

    new_c = _unit(rng.normal(size=dim))
    new = _unit(new_c + rng.normal(scale=0.6 * spread, size=(n_new, dim)))  # diffuse, but denser than before
    return np.concatenate([background(n_bg), new]), background(n_past), n_bg


def test_new_group_items_burst_and_background_mostly_does_not():
    rng = np.random.default_rng(0)
    xw, past, n_bg = _window_and_past(rng)
    n = len(xw)
    share = now_share(xw, np.arange(n), xw, 1.0, past, np.ones(len(past)), k=10)
    b = bursting(share, n / (n + len(past)), k=10, alpha=0.01)
    assert b[n_bg:].mean() >= 0.8
    assert b[:n_bg].mean() <= 0.05


def test_density_clusters_carve_out_the_new_group_only_when_it_bursts():
    rng = np.random.default_rng(1)
    xw, past, n_bg = _window_and_past(rng)
    labels = np.full(len(xw), -1)  # as if HDBSCAN after PCA found nothing
    kw = dict(params=DensityParams(), quantile=0.99, emerging_z=4.0, emerging_ratio=3.0)
    new, counts = density_clusters(
        xw, labels, np.arange(len(xw)), np.arange(len(xw)), past, np.ones(len(past)), **kw
    )
    assert len(counts) == 1
    (lab,) = counts
    got = new == lab
    assert got[:n_bg].sum() == 0  # pure: no background item joins
    assert got[n_bg:].mean() >= 0.3  # coverage: the region of a diffuse group holds part of it (37% here)
    # the same window with its group already in the history: nothing bursts
    past2 = np.concatenate([past, xw[n_bg:]])
    _, none = density_clusters(
        xw, labels, np.arange(len(xw)), np.arange(len(xw)), past2, np.ones(len(past2)), **kw
    )
    assert none == {}


def test_detector_with_density_keeps_a_stationary_stream_quiet():
    st = make_blob_stream({"a": [40] * 5, "b": [40] * 5}, n_noise=40, seed=8)
    res = TrendDetector(density=True).detect(st.items, st.x)
    assert not [t for w in res.windows for t in w.trends if t["emerging"]]
    assert all(t["signal"] == "cluster" for w in res.windows for t in w.trends)
