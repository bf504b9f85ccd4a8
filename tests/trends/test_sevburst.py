"""The severity-burst functions (``trendml.trends.sevburst``, issue #12 experiments) on synthetic
vectors with a known answer: hateful items start to arrive inside a region that was always busy
with non-hateful items. Among all items that region does not burst; among the hateful ones it does."""

from __future__ import annotations

import numpy as np

from trendml.trends.scoring import burst_z, density_ratio
from trendml.trends.sevburst import SeverityBurstParams, hateful_mass, severity_groups


def _unit(v):
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_hateful_items_in_a_busy_region_burst_only_among_the_hateful():
    rng = np.random.default_rng(0)
    dim = 16
    busy, elsewhere = _unit(rng.normal(size=dim)), _unit(rng.normal(size=(6, dim)))

    def near(c, n, s=0.15):
        return _unit(c + rng.normal(scale=s, size=(n, dim)))

    # now: 150 non-hateful + 14 hateful items in the busy region, 60 hateful items elsewhere
    xw = np.concatenate([near(busy, 150), near(busy, 14), near(elsewhere[rng.integers(0, 6, 60)], 60)])
    hw = np.r_[np.full(150, 0.1), np.full(14, 0.8), np.full(60, 0.8)]
    # history (4 windows): the same, without the 14
    past = np.concatenate([near(busy, 600), near(elsewhere[rng.integers(0, 6, 240)], 240)])
    ph = np.r_[np.full(600, 0.1), np.full(240, 0.8)]
    params = SeverityBurstParams(k=20, alpha=0.05, min_size=5)

    groups = severity_groups(xw, hw, past, np.ones(len(past)), ph, params=params)
    passing = [
        g
        for g in groups
        if burst_z(g.k, g.m, g.n, g.big_m) >= 4 and density_ratio(g.k, g.m, g.n, g.big_m) >= 3
    ]
    assert len(passing) == 1
    got = set(passing[0].members.tolist())
    assert got <= set(range(150, 164)) and len(got) >= params.min_size  # pure: only the new hateful items

    # every item counted as hateful: the region holds the busy background now and before
    everyone = severity_groups(
        xw, np.ones(len(xw)), past, np.ones(len(past)), np.ones(len(past)), params=params
    )
    assert not [
        g
        for g in everyone
        if density_ratio(g.k, g.m, g.n, g.big_m) >= 3 and burst_z(g.k, g.m, g.n, g.big_m) >= 4
    ]
    assert np.allclose(hateful_mass(np.array([[0.1, 0.2, 0.3, 0.4]])), [0.7])
