"""``TrendSnapshot``: the stored payload round trip, older payload shapes, and the detect JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests.trends.conftest import make_blob_stream
from trendml.trends import TrendDetector, TrendState
from trendml.trends.queries import latest_payloads, trend_timeline
from trendml.trends.record import TrendSnapshot
from trendml.trends.status import TrendStatus

FULL = {
    "trend_id": "t202603070000-001",
    "status": "growing",
    "emerging": True,
    "size": 3,
    "emergence_score": 4.25,
    "us_share": 0.6667,
    "us_lift": 1.5,
    "keywords": ["alpha", "beta", "gamma", "delta"],
    "title": "alpha · beta · gamma",
    "member_ids": ["a", "b", "c"],
    "representative_ids": ["b", "a"],
    "us_lift_p": 0.012345,
    "us_specific": False,
    "burst_z": 4.25,
    "density_ratio": 3.5,
    "growth_z": 2.1,
    "novelty": 0.3,
    "severity_mix": [0.1, 0.2, 0.3, 0.4],
    "region_counts": {"GB": 1, "US": 2},
    "parent_id": None,
    "signal": "density",
}


def test_payload_round_trip_is_exact() -> None:
    rec = TrendSnapshot.from_payload(json.loads(json.dumps(FULL)))
    assert rec.status is TrendStatus.GROWING and rec.size == 3 and rec.member_ids == ("a", "b", "c")
    assert rec.to_payload() == FULL
    assert list(rec.to_json()) == list(FULL)  # the detect JSON's key order
    assert json.dumps(rec.to_payload()) == json.dumps(FULL)
    assert rec["size"] == 3 and rec["status"] == "growing"
    with pytest.raises(KeyError):
        rec["nope"]


def test_older_payload_shape_reads() -> None:
    """A payload from before the title and the extras were stored (and one with ``last_size``)."""
    old = {
        "trend_id": "t202603070000-000",
        "status": "new",
        "emerging": False,
        "last_size": 2,
        "emergence_score": 0.0,
        "us_share": None,
        "us_lift": None,
        "keywords": ["one", "two", "three", "four"],
        "member_ids": ["x", "y"],
        "representative_ids": ["x"],
    }
    rec = TrendSnapshot.from_payload(old)
    assert rec.size == 2 and rec.status is TrendStatus.NEW
    assert rec.title == "one · two · three"
    assert rec.signal == "cluster" and rec.severity_mix is None and rec.parent_id is None
    assert rec.us_specific is False and rec.region_counts == {}
    out = rec.to_json()
    assert list(out) == list(FULL) and out["size"] == 2 and out["severity_mix"] is None
    assert TrendSnapshot.from_payload(out) == rec


def test_detector_builds_records_that_the_store_gives_back() -> None:
    st = make_blob_stream({"a": [40, 40], "b": [40, 40]}, seed=6)
    state = TrendState.in_memory()
    res = TrendDetector().detect(st.items, st.x, state=state)
    trends = [t for w in res.windows for t in w.trends]
    assert trends and all(isinstance(t, TrendSnapshot) for t in trends)
    assert res.to_dict()["windows"][-1]["trends"] == [t.to_json() for t in res.windows[-1].trends]
    last = {t.trend_id: t for t in res.windows[-1].trends}
    with Session(state.engine) as s:
        stored = latest_payloads(s, list(last))
    assert stored == last  # what the detector built is what the store reads back
    tid = next(iter(last))
    tl = trend_timeline(state, tid)
    assert tl.windows[-1].trend == last[tid] == tl.trend.latest


def test_dashboard_list_reads_the_stored_record() -> None:
    """The dashboard's trend list shows the stored record's severity mix and US-lift fields."""
    from service.dashboard.data import dominant_severity, trends_overview
    from trendml.schema import create_all

    st = make_blob_stream({"a": [40, 40], "b": [40, 40]}, seed=6)
    sev = np.random.default_rng(0).dirichlet(np.ones(4), size=len(st.items))
    state = TrendState.in_memory()
    res = TrendDetector().detect(st.items, st.x, severity=sev, state=state)
    last = {t.trend_id: t for t in res.windows[-1].trends}
    create_all(state.engine)  # the dashboard also reads the analysts' decisions
    rows = trends_overview(state.engine)["items"]
    assert rows and {r["trend_id"] for r in rows} == set(last)
    for r in rows:
        t = last[r["trend_id"]]
        assert t.severity_mix is not None and r["severity_mix"] == list(t.severity_mix)
        assert r["dominant_severity"] == dominant_severity(list(t.severity_mix))
        assert (r["us_lift_p"], r["us_specific"]) == (t.us_lift_p, t.us_specific)
