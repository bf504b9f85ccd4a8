"""Alerts (issue 16): rules over real detections of synthetic blobs, the outbox written in the
detection run's transaction, and webhook delivery to a real loopback receiver that dies mid-delivery.

Real parts throughout: the trend detector, SQLite (PostgreSQL too when TRENDML_TEST_POSTGRES_URL is
set), the service's delivery code and an ``http.server`` receiver. No item texts are printed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from conftest import make_blob_stream
from sqlalchemy import func, select

from service.alert_delivery import deliver_due
from service.trends_backend import TrendBackend
from tests.service.alert_receiver import Receiver
from trendml.alerts import payload as wire
from trendml.alerts.outbox import (
    AlertDeliveryRow,
    AlertRow,
    claim,
    due_deliveries,
    list_alerts,
    pending_count,
    replay_alert,
)
from trendml.alerts.rules import evaluate
from trendml.policy import load_policy, parse_policy
from trendml.schema import create_all
from trendml.store.base import make_engine, make_sessionmaker
from trendml.store.feedback import add_feedback
from trendml.trends import TrendState

SECRET = "s3cret-for-tests"


def _policy(url: str | None = None, **delivery):
    obj = json.loads(json.dumps(load_policy().model_dump(mode="json")))
    obj["alerts"] = [
        {"name": "new-us", "when": "trend_us_specific", "min_size": 20, "notify": ["hook"]},
        {"name": "new-group", "when": "trend_new", "min_size": 20, "notify": ["hook", "slack"]},
        {
            "name": "hateful-share",
            "when": "severity_share",
            "min_severity": 2,
            "min_share": 0.5,
            "notify": ["hook"],
        },
    ]
    obj["webhooks"] = {
        "hook": {"url": url, "format": "json", "secret_env": "TEST_ALERT_SECRET"},
        "slack": {"url": url, "format": "slack"},
    }
    obj["alert_delivery"] = {
        "max_attempts": 6,
        "backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "timeout_s": 2,
        **delivery,
    }
    return parse_policy(obj)


@pytest.fixture(scope="module")
def stream():
    """Two stationary blobs; blob ``n`` appears in window 2, US-only, scored hateful."""
    st = make_blob_stream({"a": [30] * 4, "b": [30] * 4, "n": [0, 0, 30, 45]}, us_share={"n": 0.97}, seed=3)
    sev = np.tile([0.7, 0.2, 0.05, 0.05], (len(st.items), 1))
    for i, it in enumerate(st.items):
        if st.blob_of[it.id] == "n":
            sev[i] = [0.05, 0.05, 0.8, 0.1]
    return st, sev


@pytest.fixture
def store(tmp_path):
    pg = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    if pg:
        from tests.service.harness import empty_postgres

        url = empty_postgres(pg)
    else:
        url = f"sqlite:///{tmp_path / 'trendml.db'}"
    engine = make_engine(url)
    create_all(engine)
    yield engine, make_sessionmaker(engine)
    engine.dispose()


def _alerts(Session):
    with Session() as s:
        return {(r.rule, r.trend_id): r for r in s.scalars(select(AlertRow))}


def test_rules_raise_once_per_trend_in_the_run_transaction(store, stream):
    engine, Session = store
    st, sev = stream
    policy = _policy()
    backend = TrendBackend(engine, Session, window="1d", policy=policy)
    out = backend.detect(st.items, st.x, sev)
    alerts = _alerts(Session)
    assert out["n_alerts"] == len(alerts) > 0
    n_ids = {it.id for it in st.items if st.blob_of[it.id] == "n"}
    # the US-only, hateful blob alerts under both of its rules, as one trend
    us = [r for (rule, _), r in alerts.items() if rule == "new-us"]
    hate = [r for (rule, _), r in alerts.items() if rule == "hateful-share"]
    assert len(us) == 1 and len(hate) == 1 and us[0].trend_id == hate[0].trend_id
    assert len(n_ids & set(json.loads(us[0].member_ids))) >= 0.8 * 30
    # stationary blobs are new once (window 0), never US-specific nor hateful
    assert {r.trend_id for (rule, _), r in alerts.items() if rule == "new-group"} >= {us[0].trend_id}
    with Session() as s:  # one pending delivery per alert and webhook, written with the alert
        n_del = s.execute(select(func.count()).select_from(AlertDeliveryRow)).scalar()
    assert n_del == sum(
        len(policy.alerts[[r.name for r in policy.alerts].index(k[0])].notify) for k in alerts
    )
    body = json.loads(us[0].payload)
    assert body["alert_id"] == us[0].id and body["us_specific"] and body["trend_id"] == us[0].trend_id
    # a re-run over the same items (reset: trends keep their ids) raises nothing new
    again = backend.detect(st.items, st.x, sev, reset=True)
    assert again.get("n_alerts", 0) == 0 and _alerts(Session).keys() == alerts.keys()


def test_outbox_rows_roll_back_with_a_failed_run(store, stream):
    engine, Session = store
    st, sev = stream
    from trendml.alerts.detection import queue_alerts
    from trendml.trends import TrendDetector

    state = TrendState(engine)
    with pytest.raises(RuntimeError), state.batch():
        result = TrendDetector("1d").detect(st.items, st.x, severity=sev, state=state)
        with Session() as s:
            assert queue_alerts(state, result.windows, _policy(), s)
        raise RuntimeError("crash before commit")
    assert _alerts(Session) == {} and TrendState(engine).windows == []


def test_dismissed_trend_and_its_regrouped_members_do_not_alert(store, stream):
    engine, Session = store
    st, sev = stream
    policy = _policy()
    from trendml.trends import TrendDetector

    result = TrendDetector("1d").detect(st.items, st.x, severity=sev)
    windows = [(w.start, w.trends) for w in result.windows]
    first = evaluate(windows, policy.alerts)
    target = next(c.trend for c in first if c.rule.name == "new-us")
    # its members over every window (what the service reads with trend_members)
    members = frozenset(
        i for _, ts in windows for t in ts if t.trend_id == target.trend_id for i in t.member_ids
    )
    # dismissed: no rule alerts on it
    quiet = evaluate(windows, policy.alerts, dismissed={target.trend_id: members})
    assert target.trend_id not in {c.trend.trend_id for c in quiet}
    # a new id for mostly the same members (a re-clustering) is suppressed by the dismissal ...
    regrouped = [(s, [t if t.trend_id != target.trend_id else _renamed(t) for t in ts]) for s, ts in windows]
    quiet = evaluate(regrouped, policy.alerts, dismissed={target.trend_id: members})
    assert "t-regrouped" not in {c.trend.trend_id for c in quiet}
    # ... and by an earlier alert of the same rule on the original id
    again = evaluate(regrouped, policy.alerts, alerted={"new-us": {target.trend_id: members}})
    assert "t-regrouped" not in {c.trend.trend_id for c in again if c.rule.name == "new-us"}
    # the stored decision is what the service reads: dismiss it, and a reset re-run raises nothing on it
    backend = TrendBackend(engine, Session, window="1d", policy=policy)
    backend.detect(st.items, st.x, sev)
    us_trend = next(r.trend_id for (rule, _), r in _alerts(Session).items() if rule == "new-us")
    with Session() as s:
        add_feedback(s, us_trend, "dismiss", None, analyst="test-analyst")
        s.execute(AlertDeliveryRow.__table__.delete())
        s.execute(AlertRow.__table__.delete())
        s.commit()
    backend.detect(st.items, st.x, sev, reset=True)
    assert us_trend not in {r.trend_id for r in _alerts(Session).values()}


def _renamed(t):
    from dataclasses import replace

    return replace(t, trend_id="t-regrouped", member_ids=t.member_ids[: int(len(t.member_ids) * 0.8)])


def test_delivery_survives_a_receiver_dying_mid_delivery(store, stream, monkeypatch):
    """The receiver reads the 2nd request and dies without answering; deliveries retry with backoff
    while it is down; it comes back on the same port and gets everything: no alert lost, every
    duplicate a redelivery of an attempt it never answered (at least once), signatures valid."""
    engine, Session = store
    st, sev = stream
    monkeypatch.setenv("TEST_ALERT_SECRET", SECRET)
    rx = Receiver(secret=SECRET, die_at=2)
    policy = _policy(rx.url)
    TrendBackend(engine, Session, window="1d", policy=policy).detect(st.items, st.x, sev)
    with Session() as s:
        expected = {(d.alert_id, d.webhook) for d in s.scalars(select(AlertDeliveryRow))}
    assert len(expected) >= 3
    first = deliver_due(Session, policy)  # dies on the 2nd: the rest fail to connect and back off
    assert first["delivered"] == 1 and first["retrying"] == len(expected) - 1
    assert rx.stopped.wait(5)
    with Session() as s:
        rows = list(s.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.status == "pending")))
        assert len(rows) == len(expected) - 1 and all(r.attempts == 1 and r.last_error for r in rows)
        queued_at = s.execute(select(func.min(AlertRow.created_at))).scalar()
        assert due_deliveries(s, policy, now=queued_at) == []  # each waits its backoff past the failure
    back = Receiver(rx.port, secret=SECRET)
    import time

    for _ in range(100):
        deliver_due(Session, policy)
        with Session() as s:
            if pending_count(s, policy) == 0:
                break
        time.sleep(0.05)
    back.stop()
    got = rx.received + back.received
    ids = [r["alert_id"] for r in got]
    assert {a for a, _ in expected} == set(ids)  # nothing lost
    dupes = len(got) - len({(r["alert_id"], r["body"].get("text") is None) for r in got})
    assert dupes <= 1  # only the request the dying receiver never answered came twice
    assert all(r["body"]["alert_id"] == r["alert_id"] for r in got)
    json_bodies = [r for r in got if "text" not in r["body"]]
    assert json_bodies and all(r["signed_ok"] for r in json_bodies)  # HMAC-SHA256 under the secret
    assert all(r["body"]["text"] and r["body"]["blocks"] for r in got if "text" in r["body"])
    with Session() as s:
        listed = list_alerts(s)
        assert all(d["status"] == "delivered" for a in listed["items"] for d in a["deliveries"])
        # replay queues an alert again; an unknown id is refused naming the field
        one = listed["items"][0]["id"]
        assert replay_alert(s, one) == len(listed["items"][0]["deliveries"])
        from trendml.errors import InputError

        with pytest.raises(InputError) as err:
            replay_alert(s, "al-nope")
        assert err.value.field == "alert_id"


def test_a_sender_killed_after_its_claim_leaves_the_delivery_due_again(store, stream):
    engine, Session = store
    st, sev = stream
    policy = _policy("http://127.0.0.1:9/never")
    TrendBackend(engine, Session, window="1d", policy=policy).detect(st.items, st.x, sev)
    with Session() as s:
        row, _ = due_deliveries(s, policy)[0]
        assert claim(s, row, policy.alert_delivery) == 1  # then the sender "dies": no outcome stored
        assert claim(s, row, policy.alert_delivery) is None  # nobody else takes the same attempt
        lapse = policy.alert_delivery.timeout_s * 2 + 6  # the claim lapses after 2 timeouts + 5 s
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=lapse)
        assert row.id not in {d.id for d, _ in due_deliveries(s, policy)}
        assert row.id in {d.id for d, _ in due_deliveries(s, policy, now=later)}


def test_signature_and_backoff_are_what_the_docs_say():
    from trendml.alerts.outbox import backoff_s

    body = wire.body_bytes({"alert_id": "al-x", "rule": "r"}, "json")
    sig = wire.signature("k", "1700000000", body)
    import hashlib
    import hmac

    assert sig == "sha256=" + hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert wire.verify("k", "1700000000", body, sig) and not wire.verify("k2", "1700000000", body, sig)
    cfg = _policy().alert_delivery.model_copy(update={"backoff_s": 2.0, "max_backoff_s": 30.0})
    assert [backoff_s(n, cfg) for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda p: p["alerts"][0].update(notify=["nobody"]), "alerts[0].notify"),
        (lambda p: p["webhooks"]["hook"].update(url="ftp://x"), "webhooks.hook.url"),
        (lambda p: p["alerts"][2].pop("min_share"), "alerts[2].min_share"),
        (lambda p: p["alert_delivery"].update(max_attempts=0), "alert_delivery.max_attempts"),
    ],
)
def test_bad_alert_config_names_the_key(change, key):
    from trendml.errors import InputError

    obj = json.loads(json.dumps(_policy().model_dump(mode="json")))
    change(obj)
    with pytest.raises(InputError) as err:
        parse_policy(obj)
    assert key in err.value.message
