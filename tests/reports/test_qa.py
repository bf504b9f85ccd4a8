"""QA sampling (stratified, idempotent), pending reviews, review validation and kappa vs sklearn."""

from __future__ import annotations

import sqlite3

import pytest
from sklearn.metrics import cohen_kappa_score

from trendml.errors import InputError
from trendml.store.base import make_engine, make_sessionmaker
from trendml.store.qa import add_review, agreement, pending_reviews, sample_for_review, stratum_targets


def q(path, sql, *args):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


@pytest.fixture
def session_of():
    engines = []

    def make(url):
        engine = make_engine(url)
        engines.append(engine)
        return make_sessionmaker(engine)()

    yield make
    for e in engines:
        e.dispose()


def test_sample_is_stratified_with_at_least_one_per_severity(report_store):
    scored = dict(
        q(report_store.path, "SELECT severity, count(*) FROM items WHERE severity IS NOT NULL GROUP BY 1")
    )
    sampled = dict(q(report_store.path, "SELECT model_severity, count(*) FROM qa_samples GROUP BY 1"))
    assert set(scored) == {0, 1, 2, 3}
    assert sampled == {s: max(1, min(n, int(0.05 * n + 0.5))) for s, n in scored.items()}
    # the model severity kept on the sample is the item's score
    mismatched = q(
        report_store.path,
        "SELECT count(*) FROM qa_samples s JOIN items i ON i.id = s.item_id "
        "WHERE i.severity != s.model_severity",
    )
    assert mismatched == [(0,)]
    assert q(
        report_store.path,
        "SELECT count(*) FROM qa_samples s JOIN items i ON i.id = s.item_id WHERE i.severity IS NULL",
    ) == [(0,)]


def test_resampling_the_same_items_adds_nothing_and_a_higher_rate_adds_the_difference(store_copy, session_of):
    s = session_of(store_copy)
    before = q(store_copy.removeprefix("sqlite:///"), "SELECT count(*) FROM qa_samples")[0][0]
    again = sample_for_review(s, 0.05, seed=99)
    assert again["added"] == 0 and again["total_sampled"] == before
    more = sample_for_review(s, 0.10, seed=1)
    path = store_copy.removeprefix("sqlite:///")
    scored = dict(q(path, "SELECT severity, count(*) FROM items WHERE severity IS NOT NULL GROUP BY 1"))
    sampled = dict(q(path, "SELECT model_severity, count(*) FROM qa_samples GROUP BY 1"))
    assert sampled == stratum_targets(scored, 0.10)
    assert more["added"] == sum(sampled.values()) - before
    assert (
        q(path, "SELECT count(*), count(DISTINCT item_id) FROM qa_samples")[0] == (more["total_sampled"],) * 2
    )


def test_sample_respects_the_time_range_and_tiny_strata(store_copy, session_of):
    from datetime import UTC, datetime

    s = session_of(store_copy)
    path = store_copy.removeprefix("sqlite:///")
    con = sqlite3.connect(path)
    con.execute("DELETE FROM qa_samples")
    con.commit()
    con.close()
    out = sample_for_review(
        s, 0.01, since=datetime(2026, 3, 4, tzinfo=UTC), until=datetime(2026, 3, 5, tzinfo=UTC)
    )
    outside = q(
        path,
        "SELECT count(*) FROM qa_samples s JOIN items i ON i.id = s.item_id "
        "WHERE coalesce(i.created_at, i.received_at) < '2026-03-04' "
        "OR coalesce(i.created_at, i.received_at) >= '2026-03-05'",
    )
    assert outside == [(0,)]
    day = dict(
        q(
            path,
            "SELECT severity, count(*) FROM items WHERE severity IS NOT NULL "
            "AND date(coalesce(created_at, received_at)) = '2026-03-04' GROUP BY 1",
        )
    )
    assert {k: v["scored"] for k, v in out["strata"].items() if v["scored"]} == day
    assert all(v["added"] == 1 for k, v in out["strata"].items() if v["scored"])  # 1% of < 100 -> 1 each


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, "0.05", True])
def test_bad_rate_names_the_field(store_copy, session_of, rate):
    with pytest.raises(InputError) as exc:
        sample_for_review(session_of(store_copy), rate)
    assert exc.value.field == "rate"


def test_pending_reviews_are_the_sampled_items_a_reviewer_has_not_done(report_store, session_of):
    s = session_of(report_store.url)
    path = report_store.path
    sampled = {r[0] for r in q(path, "SELECT item_id FROM qa_samples")}
    for reviewer in ("alice", "bob", "dave"):
        done = {r[0] for r in q(path, "SELECT item_id FROM qa_reviews WHERE reviewer = ?", reviewer)}
        got = pending_reviews(s, reviewer, limit=500)
        assert {g["id"] for g in got} == sampled - done
        assert len(got) == len({g["id"] for g in got})
    got = pending_reviews(s, "dave", limit=3)
    assert len(got) == 3
    assert set(got[0]) >= {
        "id",
        "text",
        "caption",
        "model_severity",
        "severity",
        "model_version",
        "n_reviews",
    }
    model = dict(q(path, "SELECT item_id, model_severity FROM qa_samples"))
    assert all(g["model_severity"] == model[g["id"]] for g in got)
    with pytest.raises(InputError) as exc:
        pending_reviews(s, "dave", limit=0)
    assert exc.value.field == "limit"


@pytest.mark.parametrize(
    ("item", "reviewer", "severity", "field"),
    [
        ("SAMPLED", "eve", 4, "severity"),
        ("SAMPLED", "eve", -1, "severity"),
        ("SAMPLED", "eve", "2", "severity"),
        ("SAMPLED", "eve", True, "severity"),
        ("SAMPLED", "  ", 1, "reviewer"),
        ("not-an-item", "eve", 1, "item_id"),
        ("UNSAMPLED", "eve", 1, "item_id"),
    ],
)
def test_add_review_validates_and_names_the_field(report_store, session_of, item, reviewer, severity, field):
    path = report_store.path
    sampled = q(path, "SELECT item_id FROM qa_samples ORDER BY item_id LIMIT 1")[0][0]
    unsampled = q(path, "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM qa_samples) LIMIT 1")[0][0]
    item_id = {"SAMPLED": sampled, "UNSAMPLED": unsampled}.get(item, item)
    n = q(path, "SELECT count(*) FROM qa_reviews")
    with pytest.raises(InputError) as exc:
        add_review(session_of(report_store.url), item_id, reviewer, severity)
    assert exc.value.field == field
    assert q(path, "SELECT count(*) FROM qa_reviews") == n


def test_a_reviewer_reviewing_again_replaces_their_review(store_copy, session_of):
    s = session_of(store_copy)
    path = store_copy.removeprefix("sqlite:///")
    item = q(path, "SELECT item_id FROM qa_reviews WHERE reviewer = 'alice' ORDER BY item_id LIMIT 1")[0][0]
    n = q(path, "SELECT count(*) FROM qa_reviews")[0][0]
    add_review(s, item, "alice", 3, note="changed my mind")
    assert q(path, "SELECT count(*) FROM qa_reviews")[0][0] == n
    assert q(
        path, "SELECT severity, note FROM qa_reviews WHERE item_id = ? AND reviewer = 'alice'", item
    ) == [(3, "changed my mind")]


def test_kappa_equals_sklearn_on_the_same_pairs(report_store, session_of):
    path = report_store.path
    got = agreement(session_of(report_store.url))
    pairs = q(
        path,
        "SELECT s.model_severity, r.severity FROM qa_reviews r JOIN qa_samples s ON s.item_id = r.item_id",
    )
    want = cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs], labels=[0, 1, 2, 3])
    assert got["n_model_reviewer"] == len(pairs) and got["kappa_model_reviewer"] == pytest.approx(want)
    assert got["agreement_model_reviewer"] == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
    both = q(
        path,
        "SELECT a.severity, b.severity FROM qa_reviews a JOIN qa_reviews b ON a.item_id = b.item_id "
        "AND a.reviewer = 'alice' AND b.reviewer = 'bob'",
    )
    want_rr = cohen_kappa_score([a for a, _ in both], [b for _, b in both], labels=[0, 1, 2, 3])
    assert got["n_reviewer_pairs"] == len(both) >= 2
    assert got["kappa_reviewers"] == pytest.approx(want_rr)
    # the fixture's disagreements make both kappas informative (neither perfect nor undefined)
    assert 0 < got["kappa_model_reviewer"] < 1 and got["kappa_reviewers"] < 1


def test_kappa_is_undefined_without_enough_pairs(store_copy, session_of):
    from datetime import UTC, datetime

    got = agreement(session_of(store_copy), since=datetime(2027, 1, 1, tzinfo=UTC))
    assert (
        got["n_model_reviewer"] == 0
        and got["kappa_model_reviewer"] is None
        and got["kappa_reviewers"] is None
    )
