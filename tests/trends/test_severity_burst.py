"""The severity-burst signal (``trendml.trends.sevburst``, issue #12) on a synthetic stream with a
known answer: hateful items start to arrive inside a region that has always been busy with
non-hateful items. Among all items that region does not burst (its count goes 40 -> 54); among
the hateful items it does (0 -> 14), and only the severity-burst signal says so."""

from __future__ import annotations

import numpy as np

from tests.trends.conftest import make_blob_stream
from trendml.trends import TrendDetector, TrendState

CAMPAIGN_START = 4


def _stream():
    rng = np.random.default_rng(3)
    region = rng.normal(size=16)
    region /= np.linalg.norm(region)
    st = make_blob_stream(
        {"busy": [40] * 7, "camp": [0] * CAMPAIGN_START + [14] * 3, "hate": [20] * 7},
        centers={"busy": region, "camp": region},
        n_noise=60,
        spread=0.05,
        seed=5,
    )
    hateful = np.array([st.blob_of[it.id] in ("camp", "hate") for it in st.items])
    sev = np.where(hateful[:, None], [0.05, 0.1, 0.75, 0.1], [0.7, 0.25, 0.04, 0.01])
    return st, sev


def _emerging(res):
    return [(w, t) for w, win in enumerate(res.windows) for t in win.trends if t.emerging]


def test_hateful_items_bursting_in_a_busy_region_are_flagged_only_by_the_severity_signal(tmp_path):
    st, sev = _stream()
    camp = st.ids_of("camp")
    res = TrendDetector(severity_burst=True).detect(st.items, st.x, severity=sev)
    flagged = _emerging(res)
    assert flagged, "the campaign's first window should hold an emerging severity-burst trend"
    w, t = flagged[0]
    assert w == CAMPAIGN_START and t.signal == "severity-burst"
    assert len(camp & set(t.member_ids)) / len(t.member_ids) >= 0.9  # purity
    assert len(camp & set(t.member_ids)) >= 10  # coverage of the window's 14
    assert all(w >= CAMPAIGN_START for w, _ in flagged)  # no alarm in the stationary windows

    # the same stream without the signal, or without severity: nothing emerges
    assert _emerging(TrendDetector().detect(st.items, st.x, severity=sev)) == []
    plain = TrendDetector(severity_burst=True).detect(st.items, st.x)
    assert _emerging(plain) == []

    # window by window through a database file, a fresh state object each time: the history's
    # hateful mass is read back from the stored sample, so the answer is the batch answer
    path = tmp_path / "trends.db"
    det = TrendDetector(severity_burst=True)
    got = []
    for w in range(7):
        items, x = st.window(w)
        pos = [i for i, it in enumerate(st.items) if it.id in {j.id for j in items}]
        out = det.detect(items, x, severity=sev[pos], state=TrendState.open(path))
        got += [(w, t.trend_id, t.signal, t.member_ids) for t in out.windows[0].trends if t.emerging]
    assert got == [(w, t.trend_id, t.signal, t.member_ids) for w, t in flagged]
