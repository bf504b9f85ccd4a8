"""Trend titles (issue #12 item 4): the 2-3 most distinctive words members share, beside the id in the
detect JSON and the library queries (the API and dashboard read the same fields)."""

from __future__ import annotations

import numpy as np

from tests.trends.conftest import make_blob_stream
from trendml.trends import TrendDetector, TrendState
from trendml.trends.keywords import ctfidf_keywords, trend_title
from trendml.trends.queries import list_trends, trend_timeline


def test_a_word_only_one_member_uses_ranks_after_shared_words():
    texts = ["alpha beta", "alpha gamma", "alpha beta", "zeta zeta zeta zeta zeta zeta alpha", "other words"]
    labels = np.array([0, 0, 0, 0, -1])
    kw = ctfidf_keywords(texts, labels)[0]
    assert kw[:2] == ["alpha", "beta"]  # shared by 4 and 2 members
    assert kw.index("zeta") > kw.index("beta")  # frequent, but one member's word
    assert trend_title(kw) == "alpha · beta · zeta"  # then one-member words by score
    assert trend_title([]) is None


def test_titles_in_detect_json_and_queries():
    st = make_blob_stream({"a": [40, 40], "b": [40, 40]}, seed=6)
    state = TrendState.in_memory()
    res = TrendDetector().detect(st.items, st.x, state=state)
    trends = [t for w in res.to_dict()["windows"] for t in w["trends"]]
    assert trends and all(t["title"] == trend_title(t["keywords"]) for t in trends)
    for t in trends:  # each blob's own words, not the shared filler word
        blob = st.blob_of[t["member_ids"][0]]
        assert t["title"].startswith(f"{blob}word") and "common" not in t["title"]
    listed = list_trends(state).items
    assert listed and all(t.title == trend_title(list(t.keywords)) for t in listed)
    tl = trend_timeline(state, listed[0].trend_id)
    assert tl.trend.title and all(p.trend.title for p in tl.windows)
