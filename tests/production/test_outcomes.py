"""Moderator outcomes (issue 22, part 1): the store's idempotent record, the weekly report's
pre-score precision/recall per level against outcomes on a demo stream with simulated outcomes,
and outcomes as a retraining label source. SQLite and PostgreSQL (``store`` fixture)."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from trendml.errors import InputError

N_ITEMS = 360


@pytest.fixture(scope="module")
def prescored(service_home, champion, small_stream, small_stream_vectors):
    """Real pre-scores of the first items of the small stream by the session's champion."""
    from trendml.config import Settings
    from trendml.registry import load_severity_model
    from trendml.severity.scoring import score_vectors

    model, name, version = load_severity_model(None, Settings(home=service_home))
    items = small_stream.items[:N_ITEMS]
    scored = score_vectors(
        model,
        [it.content for it in items],
        small_stream_vectors[:N_ITEMS],
        model_name=name,
        model_version=version,
    )
    return items, scored.records([it.id for it in items], digits=6)


def test_outcome_is_idempotent_and_changes_are_kept(store):
    from trendml.items import Item
    from trendml.store.items import add_items
    from trendml.store.outcomes import ItemOutcome, latest_outcomes, outcome_history, record_outcome

    _, Session = store
    with Session() as s:
        add_items(s, [Item(id="o-1", text="a plain sentence about the weather today")])
        kw = {"moderator": "mod-a", "areas": ["hate", "other"]}
        first = record_outcome(s, "o-1", action="removed", severity=2, policy_area="hate", **kw)
        again = record_outcome(s, "o-1", action="removed", severity=2, policy_area="hate", **kw)
        changed = record_outcome(s, "o-1", action="restricted", severity=1, policy_area="hate", **kw)
        assert (first.status, again.status, changed.status) == ("created", "unchanged", "changed")
        assert again.outcome.id == first.outcome.id
        history = outcome_history(s, "o-1")
        assert [h.action for h in history] == ["removed", "restricted"]
        assert history[1].previous_id == history[0].id
        assert latest_outcomes(s)["o-1"].severity == 1
        assert s.query(ItemOutcome).count() == 2


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"action": "deleted", "severity": 1, "policy_area": "hate"}, "action"),
        ({"action": "none", "severity": 4, "policy_area": "hate"}, "severity"),
        ({"action": "none", "severity": True, "policy_area": "hate"}, "severity"),
        ({"action": "none", "severity": 0, "policy_area": "fraud"}, "policy_area"),
    ],
)
def test_bad_outcome_names_the_field(kw, field):
    from trendml.store.outcomes import check_outcome

    with pytest.raises(InputError) as err:
        check_outcome(**kw, areas=["hate", "other"])
    assert err.value.field == field


def test_weekly_report_gives_prescore_precision_against_simulated_outcomes(
    store, prescored, small_stream, tmp_path
):
    """The must-show: a demo stream pre-scored by the real champion, simulated moderator outcomes,
    and the weekly report's precision/recall per level and confusion matrix, checked against the
    same numbers computed here from the pairs."""
    from trendml.datasets.outcomes import simulate_outcomes
    from trendml.policy import load_policy
    from trendml.reports import build_report, load_report_data, render_html, render_markdown
    from trendml.reports.period import report_period
    from trendml.store.items import add_items, record_scores
    from trendml.store.outcomes import record_outcome

    items, scores = prescored
    policy = load_policy()
    outcomes = simulate_outcomes(items, small_stream.severity, policy=policy, share=0.8, noise=0.1, seed=3)
    _, Session = store
    with Session() as s:
        add_items(s, items)
        record_scores(s, scores)
        s.commit()
        for o in outcomes:
            fields = {k: v for k, v in o.items() if k != "item_id"}
            record_outcome(
                s, o["item_id"], moderator="sim", areas=list(policy.policy_areas), commit=False, **fields
            )
        s.commit()
        # the week the simulated moderators decided in (1-12 h after each item of the stream)
        last = max(o["decided_at"] for o in outcomes).date()
        period = report_period("weekly", last, today=last + timedelta(days=1))
        assert period.start <= min(o["decided_at"] for o in outcomes)
        rep = build_report(load_report_data(s, period), period)
    from service.dashboard.data import triage_queue

    queue = triage_queue(store[0], limit=len(items), policy=policy)
    shown = {row["id"]: row["outcome"] for row in queue["items"]}
    want = {o["item_id"]: (o["action"], o["severity"], o["policy_area"]) for o in outcomes}
    assert len(shown) == len(items) and all(
        (v["action"], v["severity"], v["policy_area"]) == want[k] if v else k not in want
        for k, v in shown.items()
    ), "the queue shows each item's latest outcome"
    pre = {r["id"]: int(r["severity"]) for r in scores}
    pairs = np.array([(pre[o["item_id"]], o["severity"]) for o in outcomes])
    section = rep["outcomes"]
    assert section["n"] == len(outcomes) and section["n_unscored"] == 0
    for k in range(4):
        predicted, actual = pairs[:, 0] == k, pairs[:, 1] == k
        got = section["per_level"][str(k)]
        assert got["pre_scored"] == int(predicted.sum()) and got["outcomes"] == int(actual.sum())
        if predicted.any():
            assert got["precision"] == pytest.approx((predicted & actual).sum() / predicted.sum(), abs=1e-4)
        if actual.any():
            assert got["recall"] == pytest.approx((predicted & actual).sum() / actual.sum(), abs=1e-4)
    assert np.array_equal(
        np.array(section["confusion"]),
        np.histogram2d(pairs[:, 0], pairs[:, 1], bins=4, range=[[0, 4], [0, 4]])[0],
    )
    assert sum(section["actions"].values()) == len(outcomes)
    md = render_markdown(rep)
    assert "## Pre-scores against moderator outcomes" in md and "precision" in md
    html = render_html(rep, plots={})
    assert "Pre-scores against moderator outcomes" in html
    (tmp_path / "weekly.json").write_text(json.dumps(section))


def test_outcomes_are_a_label_source_with_the_leakage_rule():
    from training.feedback import drop_test_rows, label_rows

    decisions = [
        {"id": "a", "action": "confirm", "severity": 0},
        {"id": "b", "action": "confirm", "severity": 2},
    ]
    reviews = [{"item_id": "c", "reviewer": "r1", "severity": 3}]
    outcomes = [
        {"item_id": "a", "severity": 3},  # beats the decision's label
        {"item_id": "c", "severity": 0},  # the QA review beats it
        {"item_id": "d", "severity": 2},
        {"item_id": "d", "severity": 1},  # the latest outcome wins
    ]
    texts = {"a": "text of a one", "b": "text of b two", "c": "text of c three", "d": "text of d four"}
    snap = label_rows(decisions, reviews, texts, outcomes)
    got = {r.id: (r.severity, r.origin) for r in snap.frame.itertuples()}
    assert got == {"a": (3, "outcome"), "b": (2, "decision"), "c": (3, "qa"), "d": (1, "outcome")}
    assert snap.counts["n_outcomes"] == 2
    kept = drop_test_rows(snap, ["text of d four"])
    assert set(kept.frame["id"]) == {"a", "b", "c"} and kept.counts["n_dropped_test"] == 1
