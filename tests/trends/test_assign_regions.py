"""Acceptance regions (``trendml.trends.assign``) and the array-only window-model format, on synthetic
vectors with known geometry. The real-data floors are in ``test_assign_acceptance.py``."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update

from tests.trends.conftest import DIM, make_blob_stream
from trendml.errors import StateError
from trendml.trends import TrendDetector, TrendState, assign
from trendml.trends.assign import fit_regions, predict_regions
from trendml.trends.clustering import WindowModel
from trendml.trends.state import TrendWindow


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _two_groups(rng, n=200, dim=32, spread=0.05):
    centres = _unit(rng.normal(size=(2, dim)))
    x = np.concatenate([_unit(c + rng.normal(scale=spread, size=(n, dim))) for c in centres])
    return x.astype(np.float32), np.repeat([0, 1], n), centres


def test_held_out_members_are_accepted_and_far_points_are_not():
    rng = np.random.default_rng(0)
    x, labels, centres = _two_groups(rng)
    regions = fit_regions(x, labels)
    # fresh draws from the same groups: members the regions never saw
    fresh, truth, _ = x, labels, None
    fresh = np.concatenate([_unit(c + rng.normal(scale=0.05, size=(300, 32))) for c in centres])
    truth = np.repeat([0, 1], 300)
    got, score = predict_regions(regions, fresh)
    assert (got == truth).mean() >= 0.95
    assert ((score >= 0) & (score <= 1)).all()
    # random directions lie far from both groups: nobody accepts them
    far = _unit(rng.normal(size=(500, 32)))
    got_far, score_far = predict_regions(regions, far)
    assert (got_far == -1).all() and (score_far == 0).all()


def test_a_point_between_two_groups_belongs_to_neither():
    rng = np.random.default_rng(1)
    x, labels, centres = _two_groups(rng, spread=0.03)
    # the relative radius alone (no core, no cap; the defaults' floor of 0.35 would reach the midpoint)
    regions = fit_regions(x, labels, core_distance=2.0, max_radius=1.0)
    mid = _unit(centres.sum(axis=0, keepdims=True))
    assert predict_regions(regions, mid)[0].tolist() == [-1]
    assert predict_regions(regions, centres.astype(np.float32))[0].tolist() == [0, 1]


def test_a_loose_group_gets_a_wider_radius_than_a_tight_one():
    rng = np.random.default_rng(2)
    c = _unit(rng.normal(size=(2, 32)))
    x = np.concatenate(
        [
            _unit(c[0] + rng.normal(scale=0.02, size=(150, 32))),
            _unit(c[1] + rng.normal(scale=0.08, size=(150, 32))),
        ]
    )
    regions = fit_regions(x.astype(np.float32), np.repeat([0, 1], 150), core_distance=2.0, max_radius=1.0)
    assert regions.radius[1] > 2 * regions.radius[0]


def test_a_loose_group_has_no_core_and_accepts_nobody():
    """A cluster whose members are not near each other in the original space (a grab-bag found after
    PCA) keeps no exemplars: nothing is assigned to it, members included."""
    rng = np.random.default_rng(5)
    tight_c, loose_c = _unit(rng.normal(size=(2, 64)))
    tight = _unit(tight_c + rng.normal(scale=0.03, size=(60, 64)))
    loose = _unit(loose_c + rng.normal(scale=0.3, size=(60, 64)))  # nearest fellow member ~0.6 away
    x = np.concatenate([tight, loose]).astype(np.float32)
    regions = fit_regions(x, np.repeat([0, 1], 60))
    assert np.bincount(regions.owner, minlength=2)[1] == 0
    got, _ = predict_regions(regions, x)
    assert (got[:60] == 0).all() and (got[60:] == -1).all()
    # without the core the loose group's radius swallows unrelated directions near its centre
    plain = fit_regions(x, np.repeat([0, 1], 60), core_distance=2.0, max_radius=1.0)
    near = _unit(loose_c + rng.normal(scale=0.3, size=(50, 64))).astype(np.float32)
    assert (predict_regions(plain, near)[0] == 1).mean() > 0.5
    assert (predict_regions(regions, near)[0] == -1).all()


def test_prediction_is_pointwise():
    rng = np.random.default_rng(3)
    x, labels, centres = _two_groups(rng)
    regions = fit_regions(x, labels)
    probe = np.concatenate([_unit(centres + rng.normal(scale=0.15, size=(2, 32))) for _ in range(100)])
    batch, _ = predict_regions(regions, probe)
    alone = [int(predict_regions(regions, probe[i : i + 1])[0][0]) for i in range(len(probe))]
    assert batch.tolist() == alone
    assert 0 < (batch >= 0).sum() < len(probe)  # a mix of accepted and rejected: the test can fail


def test_exemplars_are_bounded_and_noise_is_ignored():
    rng = np.random.default_rng(4)
    x, labels, _ = _two_groups(rng, n=500)
    labels = labels.copy()
    labels[:50] = -1
    regions = fit_regions(x, labels, max_exemplars=64)
    assert regions.labels.tolist() == [0, 1]
    assert np.bincount(regions.owner).tolist() == [64, 64]
    empty = fit_regions(x, np.full(len(x), -1))
    assert len(empty.labels) == 0
    assert predict_regions(empty, x[:3])[0].tolist() == [-1, -1, -1]


def test_stored_model_is_arrays_and_predicts_the_same():
    st = make_blob_stream({"a": [40], "b": [40]}, seed=4)
    from trendml.trends.clustering import ClusterParams, fit_window_model

    model, labels, _ = fit_window_model(st.x, ClusterParams())
    blob = model.to_bytes()
    assert blob[:2] == b"PK"  # an .npz archive, not a pickle
    back = WindowModel.from_bytes(blob)
    assert back.clusterer is None and back.reducer is None
    probe = np.concatenate([st.x, _unit(np.random.default_rng(0).normal(size=(20, DIM))).astype(np.float32)])
    assert model.predict(probe)[0].tolist() == back.predict(probe)[0].tolist()


def test_an_old_pickled_model_row_is_refused_with_a_reset_hint(tmp_path):
    st = make_blob_stream({"a": [40, 40], "b": [40, 40]}, seed=5)
    db = tmp_path / "old.db"
    state = TrendState.open(db)
    TrendDetector().detect(st.items, st.x, state=state)
    with state.engine.begin() as conn:  # what trendml wrote before: a pickle (protocol 5 starts with 0x80)
        conn.execute(update(TrendWindow).where(TrendWindow.model.is_not(None)).values(model=b"\x80\x05old"))
    state.close()
    reopened = TrendState.open(db)
    with pytest.raises(StateError, match="old pickled format.*reset"):
        assign(st.items[:2], st.x[:2], reopened)
    reopened.close()
