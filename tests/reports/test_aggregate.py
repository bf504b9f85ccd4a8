"""The pure aggregation functions on hand-built records (edge cases the demo store does not hit)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from trendml.reports import build_report, redact, render_html, render_markdown, report_period
from trendml.reports.aggregate import decisions, time_to_decision, top_trends
from trendml.reports.records import FeedbackRecord, ItemRecord, ObservationRecord, ReportData, TrendInfo


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


WEEK = report_period("weekly", "2026-03-07")
TRENDS = {
    "a": TrendInfo("a", first_start=t(1), last_start=t(3), status="stable", emerging=False),
    "b": TrendInfo("b", first_start=t(2), last_start=t(2), status="new", emerging=True),
    "c": TrendInfo("c", first_start=t(5), last_start=t(6), status="growing", emerging=True),
}


def test_time_to_decision_counts_first_decisions_in_the_period_only():
    fb = [
        FeedbackRecord(
            "a", "confirm", "x", datetime(2026, 2, 28, tzinfo=UTC)
        ),  # first decision before the week
        FeedbackRecord("a", "escalate", "y", t(2)),
        FeedbackRecord("b", "dismiss", "x", t(3, 6)),  # 30 h after its first window
        FeedbackRecord("c", "confirm", "x", t(5, 12)),  # 12 h
        FeedbackRecord("c", "dismiss", "z", t(6)),
        FeedbackRecord("gone", "confirm", "x", t(4)),  # unknown trend: no first window, not counted
    ]
    got = time_to_decision(fb, TRENDS, WEEK)
    assert got["hours"] == {"b": 30.0, "c": 12.0} and got["median_hours"] == 21.0 and got["n"] == 2
    d = decisions(fb, WEEK)
    assert d["n_actions"] == 5 and d["actions"] == {"confirm": 2, "dismiss": 2, "escalate": 1}
    assert d["trends"] == {"confirm": 1, "dismiss": 2, "escalate": 1}  # latest in the week per trend
    assert d["by_analyst"] == {"x": 3, "y": 1, "z": 1}


def test_top_trends_rank_emerged_first_then_by_size_in_period_with_ties_by_id():
    obs = [
        ObservationRecord("b", t(2), 10, True, "new", ("k1",)),
        ObservationRecord("a", t(1), 4, False, "new"),
        ObservationRecord("a", t(2), 6, False, "stable", ("k2", "k3")),
        ObservationRecord("c", t(8), 99, True, "new"),  # after the week
    ]
    top = top_trends(obs, TRENDS, [], WEEK, n=5)
    # "b" emerged in the period: listed before the as large, steady "a"
    assert [(x["trend_id"], x["size_in_period"], x["n_windows"]) for x in top] == [("b", 10, 1), ("a", 10, 2)]
    assert top[1]["keywords"] == ["k2", "k3"] and top[1]["last_size"] == 6 and not top[1]["emerged_in_period"]
    assert top[0]["emerged_in_period"]


def test_an_empty_period_renders_everywhere():
    rep = build_report(ReportData(), report_period("daily", "2026-03-04"))
    assert rep["items"]["received"] == 0 and rep["trends"]["top"] == [] and rep["models"] == []
    assert rep["analysts"]["time_to_decision"]["median_hours"] is None
    assert rep["qa"]["kappa_model_reviewer"] is None
    assert "No trends in this period." in render_html(rep)
    assert "| Items received | 0 |" in render_markdown(rep)


def test_items_outside_the_period_are_ignored():
    items = [ItemRecord("1", t(1), 0), ItemRecord("2", t(7, 23), None), ItemRecord("3", t(8), 2)]
    rep = build_report(ReportData(items=items), WEEK)
    assert rep["items"]["received"] == 2 and rep["items"]["severity_mix"]["unscored"] == 1
    assert rep["items"]["per_day"]["2026-03-07"] == 1


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_redaction_never_leaves_a_long_word_readable(text):
    out = redact(text)
    assert len(out) <= 81
    visible = [w for w in re.findall(r"[^\W\d_]{3,}", out) if w.lower() not in ENGLISH_STOP_WORDS]
    assert visible == [] or all(w in ("url", "user") for w in visible)
