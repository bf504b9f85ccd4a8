"""Daily and weekly reports checked against independent SQL over the same store (sqlite3, not the ORM)."""

from __future__ import annotations

import re
import sqlite3
import statistics
from datetime import datetime, timedelta

import pytest
from sklearn.metrics import cohen_kappa_score

from trendml.reports import build_report, load_report_data, render_html, render_markdown, report_period
from trendml.store.base import make_engine, make_sessionmaker


def _s(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def q(path, sql: str, *args):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def report_for(store, kind: str, day: str) -> dict:
    period = report_period(kind, day)
    engine = make_engine(store.url)
    try:
        with make_sessionmaker(engine)() as s:
            return build_report(load_report_data(s, period), period)
    finally:
        engine.dispose()


def sql_numbers(path, start: datetime, end: datetime) -> dict:
    """Every report number, computed in SQL only."""
    a, b = _s(start), _s(end)
    t = "coalesce(created_at, received_at)"
    received = q(path, f"SELECT count(*) FROM items WHERE {t} >= ? AND {t} < ?", a, b)[0][0]
    mix = dict(
        q(
            path,
            f"SELECT coalesce(CAST(severity AS TEXT), 'unscored'), count(*) FROM items "
            f"WHERE {t} >= ? AND {t} < ? GROUP BY 1",
            a,
            b,
        )
    )
    per_day = dict(
        q(path, f"SELECT date({t}), count(*) FROM items WHERE {t} >= ? AND {t} < ? GROUP BY 1", a, b)
    )
    surfaced = q(
        path,
        "SELECT count(DISTINCT trend_id) FROM trend_observations WHERE emerging = 1 "
        "AND window_start >= ? AND window_start < ?",
        a,
        b,
    )[0][0]
    emerged = {
        r[0]
        for r in q(
            path,
            "SELECT DISTINCT trend_id FROM trend_observations WHERE emerging = 1 "
            "AND window_start >= ? AND window_start < ?",
            a,
            b,
        )
    }
    seen = q(
        path,
        "SELECT count(DISTINCT trend_id) FROM trend_observations WHERE window_start >= ? "
        "AND window_start < ?",
        a,
        b,
    )[0][0]
    actions = dict(
        q(
            path,
            "SELECT action, count(*) FROM trend_feedback WHERE created_at >= ? AND created_at < ? "
            "GROUP BY action",
            a,
            b,
        )
    )
    latest = dict(
        q(
            path,
            """
        SELECT f.trend_id, f.action FROM trend_feedback f
        WHERE f.created_at >= ? AND f.created_at < ? AND f.created_at = (
          SELECT max(g.created_at) FROM trend_feedback g
          WHERE g.trend_id = f.trend_id AND g.created_at >= ? AND g.created_at < ?)""",
            a,
            b,
            a,
            b,
        )
    )
    ttd = dict(
        q(
            path,
            """
        SELECT f.trend_id, (julianday(min(f.created_at)) - julianday(t.first_start)) * 24.0
        FROM trend_feedback f JOIN trend_trends t ON t.trend_id = f.trend_id
        GROUP BY f.trend_id HAVING min(f.created_at) >= ? AND min(f.created_at) < ?""",
            a,
            b,
        )
    )
    sizes = dict(
        q(
            path,
            "SELECT trend_id, sum(size) FROM trend_observations WHERE window_start >= ? "
            "AND window_start < ? GROUP BY trend_id",
            a,
            b,
        )
    )
    model_pairs = q(
        path,
        "SELECT s.model_severity, r.severity FROM qa_reviews r JOIN qa_samples s "
        "ON s.item_id = r.item_id WHERE r.created_at >= ? AND r.created_at < ?",
        a,
        b,
    )
    reviews = q(
        path,
        "SELECT item_id, severity FROM qa_reviews WHERE created_at >= ? AND created_at < ? "
        "ORDER BY item_id, created_at, id",
        a,
        b,
    )
    by_item: dict[str, list[int]] = {}
    for item_id, sev in reviews:
        by_item.setdefault(item_id, []).append(sev)
    reviewer_pairs = [(v[0], v[1]) for v in by_item.values() if len(v) >= 2]
    return {
        "received": received,
        "mix": mix,
        "per_day": per_day,
        "surfaced": surfaced,
        "seen": seen,
        "actions": actions,
        "latest": latest,
        "ttd": ttd,
        "sizes": sizes,
        "emerged": emerged,
        "model_pairs": model_pairs,
        "reviewer_pairs": reviewer_pairs,
    }


def kappa_or_none(pairs):
    if len(pairs) < 2:
        return None
    k = cohen_kappa_score([p[0] for p in pairs], [p[1] for p in pairs], labels=[0, 1, 2, 3])
    return None if k != k else k


def check_against_sql(rep: dict, path) -> dict:
    start = datetime.fromisoformat(rep["period"]["start"])
    end = datetime.fromisoformat(rep["period"]["end"])
    sq = sql_numbers(path, start, end)
    assert rep["items"]["received"] == sq["received"]
    assert rep["items"]["severity_mix"] == {k: sq["mix"].get(k, 0) for k in ("0", "1", "2", "3", "unscored")}
    assert rep["items"]["scored"] == sq["received"] - sq["mix"].get("unscored", 0)
    assert rep["items"]["per_day"] == {d: sq["per_day"].get(d, 0) for d in rep["period"]["days"]}
    assert [r["items"] for r in rep["per_day"]] == [sq["per_day"].get(d, 0) for d in rep["period"]["days"]]
    assert rep["trends"]["surfaced"] == sq["surfaced"]
    assert rep["trends"]["seen"] == sq["seen"]
    assert rep["analysts"]["n_actions"] == sum(sq["actions"].values())
    assert rep["analysts"]["actions"] == {
        a: sq["actions"].get(a, 0) for a in ("confirm", "dismiss", "escalate")
    }
    for action, key in (("confirm", "confirmed"), ("dismiss", "dismissed"), ("escalate", "escalated")):
        assert rep["trends"][key] == sum(v == action for v in sq["latest"].values()), key
    ttd = rep["analysts"]["time_to_decision"]
    assert ttd["n"] == len(sq["ttd"])
    assert ttd["hours"] == pytest.approx(sq["ttd"], abs=1e-2)
    if sq["ttd"]:
        assert ttd["median_hours"] == pytest.approx(statistics.median(sq["ttd"].values()), abs=1e-2)
    else:
        assert ttd["median_hours"] is None
    top = rep["trends"]["top"]
    expected_top = sorted(sq["sizes"].items(), key=lambda kv: (kv[0] not in sq["emerged"], -kv[1], kv[0]))
    expected_top = expected_top[: len(top)]
    assert [(t["trend_id"], t["size_in_period"]) for t in top] == expected_top
    assert len(top) == min(10, len(sq["sizes"]))
    qa = rep["qa"]
    assert qa["n_model_reviewer"] == len(sq["model_pairs"])
    assert qa["n_reviewer_pairs"] == len(sq["reviewer_pairs"])
    for got, pairs in (
        (qa["kappa_model_reviewer"], sq["model_pairs"]),
        (qa["kappa_reviewers"], sq["reviewer_pairs"]),
    ):
        want = kappa_or_none(pairs)
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, abs=1e-9)
    return sq


def test_weekly_report_matches_the_store(report_store):
    rep = report_for(report_store, "weekly", "2026-03-07")
    assert rep["period"]["days"] == [f"2026-03-0{d}" for d in range(1, 8)]
    sq = check_against_sql(rep, report_store.path)
    # the fixture's shape is really exercised: fallbacks, unscored items, decisions, both kappas
    assert sq["received"] == q(report_store.path, "SELECT count(*) FROM items")[0][0]  # all in the week
    assert rep["items"]["severity_mix"]["unscored"] > 0
    assert rep["analysts"]["n_actions"] == 5 and rep["analysts"]["by_analyst"] == {
        "alice": 2,
        "bob": 2,
        "carol": 1,
    }
    assert (
        rep["trends"]["escalated"] == 1
        and rep["trends"]["confirmed"] == 1
        and rep["trends"]["dismissed"] == 1
    )
    assert rep["qa"]["n_model_reviewer"] > 2 and rep["qa"]["n_reviewer_pairs"] >= 2
    # the planted campaign is surfaced, listed among the top trends, with its escalation
    assert report_store.campaign_trend in rep["trends"]["surfaced_ids"]
    camp = next(t for t in rep["trends"]["top"] if t["trend_id"] == report_store.campaign_trend)
    assert camp["emerged_in_period"] and camp["decision"] == "escalate" and camp["keywords"]

    models = q(
        report_store.path,
        "SELECT model_version, count(*) FROM score_audit WHERE scored_at >= ? "
        "AND scored_at < ? GROUP BY 1 ORDER BY 1",
        "2026-03-01",
        "2026-03-08",
    )
    assert [(m["model_version"], m["n"]) for m in rep["models"]] == models and len(models) == 2


def test_items_without_created_at_count_on_their_received_day(report_store):
    days = {
        d: report_for(report_store, "daily", d)["items"]["received"] for d in ("2026-03-02", "2026-03-03")
    }
    sql = {
        d: q(report_store.path, "SELECT count(*) FROM items WHERE date(created_at) = ?", d)[0][0]
        for d in days
    }
    assert days == {d: sql[d] + 1 for d in days}  # late-0 on the 2nd, late-1 on the 3rd


@pytest.mark.parametrize("day", ["2026-03-01", "2026-03-04", "2026-03-06", "2026-03-08"])
def test_daily_reports_match_the_store(report_store, day):
    rep = report_for(report_store, "daily", day)
    assert rep["period"]["days"] == [day]
    check_against_sql(rep, report_store.path)


def test_weekly_per_day_rows_equal_the_daily_reports(report_store):
    weekly = report_for(report_store, "weekly", "2026-03-07")
    for row in weekly["per_day"]:
        daily = report_for(report_store, "daily", row["day"])
        assert row["items"] == daily["items"]["received"]
        assert row["scored"] == daily["items"]["scored"]
        assert row["analyst_actions"] == daily["analysts"]["n_actions"]
        assert row["trends_surfaced"] == daily["trends"]["surfaced"]
    assert sum(r["items"] for r in weekly["per_day"]) == weekly["items"]["received"]


def test_a_decision_after_the_period_does_not_count(report_store):
    later = report_for(report_store, "daily", "2026-03-08")
    assert later["analysts"]["actions"]["confirm"] == 1
    assert later["analysts"]["time_to_decision"]["n"] == 1
    weekly = report_for(report_store, "weekly", "2026-03-07")
    assert report_store.other_trends[-1] not in weekly["analysts"]["time_to_decision"]["hours"]


def test_html_is_self_contained_with_three_embedded_plots(report_store):
    rep = report_for(report_store, "weekly", "2026-03-07")
    html = render_html(rep)
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert f">{rep['items']['received']}<" in html
    md = render_markdown(rep, plot_paths={"severity_mix": "r.severity_mix.png"})
    assert f"| Items received | {rep['items']['received']} |" in md
    assert "](r.severity_mix.png)" in md and "items_per_day" not in md
    for row in rep["per_day"]:
        assert f"| {row['day']} | {row['items']} | {row['scored']} |" in md


def test_period_boundaries():
    from trendml.errors import InputError

    p = report_period("weekly", "2026-03-07")
    assert p.start.isoformat() == "2026-03-01T00:00:00+00:00" and p.end - p.start == timedelta(days=7)
    assert not p.contains(p.end) and p.contains(p.start)
    for kind, day in (("monthly", "2026-03-07"), ("daily", "2026-02-30"), ("daily", "yesterday")):
        with pytest.raises(InputError):
            report_period(kind, day)
