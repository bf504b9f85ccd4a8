"""The big-window path (windows over ``max_fit_items``, issue 13): the vectorised
``approximate_predict`` equals hdbscan's, the id-hash subsample is the documented one, and a window
clustered on a subsample finds the same blobs as a full fit (real HDBSCAN; no model needed)."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from conftest import main_trend, make_blob_stream

from trendml.trends import TrendDetector
from trendml.trends.clustering import approximate_predict


@pytest.mark.parametrize(("min_samples", "method"), [(5, "leaf"), (3, "eom")])
def test_approximate_predict_equals_hdbscan(min_samples, method):
    import hdbscan

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 10)) * 3
    z = np.concatenate(
        [c + rng.normal(scale=0.4, size=(500, 10)) for c in centres] + [rng.normal(scale=4, size=(1000, 10))]
    )
    z = z[rng.permutation(len(z))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="hdbscan")
        cl = hdbscan.HDBSCAN(
            min_cluster_size=10,
            min_samples=min_samples,
            cluster_selection_method=method,
            prediction_data=True,
        ).fit(z[:1500])
        ref_labels, ref_probs = hdbscan.approximate_predict(cl, z[1500:])
    labels, probs = approximate_predict(cl, z[1500:], chunk=700)  # chunks: answers do not depend on them
    assert (labels >= 0).sum() > 500 and (labels < 0).sum() > 0  # both outcomes are exercised
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(probs, ref_probs)


def test_sample_positions_are_the_smallest_id_hashes():
    ids = [f"item-{k}" for k in range(5000)]

    def key(j: int) -> tuple[bytes, str]:
        return hashlib.blake2b(ids[j].encode("utf-8"), digest_size=8).digest(), ids[j]

    want = sorted(sorted(range(len(ids)), key=key)[:700])
    assert TrendDetector._sample_positions(ids, 700).tolist() == want
    assert TrendDetector._sample_positions(ids[:300], 700).tolist() == list(range(300))


def test_window_fitted_on_a_subsample_finds_the_same_blobs():
    stream = make_blob_stream({"a": [300], "b": [250], "c": [200]}, n_noise=250, seed=5)
    full = TrendDetector().detect(stream.items, stream.x)
    sub = TrendDetector(max_fit_items=400).detect(stream.items, stream.x)  # 1,000 items: the big path
    for blob in ("a", "b", "c"):
        ids = stream.ids_of(blob, 0)
        t_full, t_sub = main_trend(full, 0, ids), main_trend(sub, 0, ids)  # >= 80% of the blob, one trend
        hit = len(ids & set(t_sub["member_ids"]))
        assert hit >= 0.9 * len(ids) and hit >= 0.9 * t_sub["size"]  # recall and purity
        assert len(ids & set(t_full["member_ids"])) >= 0.9 * len(ids)
