"""The dashboard as analysts use it (issue #20), in process on the real app over SQLite (or
PostgreSQL with TRENDML_TEST_POSTGRES_URL): one-time form tokens (a second submit stores nothing),
a change of decision recorded as one, a submit after the session expired kept and offered again
after sign-in (never 405), message codes instead of free text, filters that say what was wrong,
QA notes and undo, ``no-store`` on every page, hidden items named by a label, not their text."""

from __future__ import annotations

import os
import re
from html import unescape

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.trends.conftest import make_blob_stream
from trendml.config import Settings


@pytest.fixture(scope="module")
def ux_app(tmp_path_factory):
    """A store with two detected trends, scored items and a QA sample, and the dashboard over it."""
    from service.dashboard import create_app
    from tests.service.harness import empty_postgres
    from trendml.schema import create_all
    from trendml.store.base import make_engine
    from trendml.store.items import add_items, record_scores
    from trendml.store.keys import create_key
    from trendml.store.qa import sample_for_review
    from trendml.trends import TrendDetector, TrendState

    tmp = tmp_path_factory.mktemp("ux")
    pg = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    url = empty_postgres(pg) if pg else f"sqlite:///{tmp / 'trendml.db'}"
    engine = make_engine(url)
    create_all(engine)
    st = make_blob_stream({"a": [30, 30, 30, 90], "b": [30, 30, 30, 30]}, seed=3)
    with Session(engine) as s:
        add_items(s, st.items)
        record_scores(
            s,
            [
                {
                    "id": it.id,
                    "severity": i % 4,
                    "severity_probs": [0.1, 0.2, 0.3, 0.4],
                    "model": {"version": "1"},
                }
                for i, it in enumerate(st.items)
            ],
        )
        s.commit()
        key, _ = create_key(s, "analyst", "ana")
        key2, _ = create_key(s, "analyst", "bob")
        s.commit()
        sample_for_review(s, 0.05, seed=1)
    TrendDetector().detect(st.items, st.x, state=TrendState(engine))
    app = create_app(Settings(home=tmp / "home"), engine=engine, root_path="")
    yield app, engine, {"ana": key, "bob": key2}
    engine.dispose()


def _client(app, key: str):
    from starlette.testclient import TestClient

    c = TestClient(app, follow_redirects=False, headers={"Origin": "http://testserver"})
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"key": key, "csrf": csrf})
    assert r.status_code == 303, r.text[:300]
    return c


def _form(html: str) -> dict[str, str]:
    fields = dict(re.findall(r'name="(csrf|form_token|current)" value="([^"]*)"', html))
    return {k: unescape(v) for k, v in fields.items()}


def _count(engine, trend_id: str) -> int:
    from trendml.store.feedback import TrendFeedback

    with Session(engine) as s:
        return s.scalar(select(func.count()).where(TrendFeedback.trend_id == trend_id))


def _first_trend(c) -> str:
    page = c.get("/trends")
    assert page.status_code == 200
    return re.search(r'data-trend-id="([^"]+)"', page.text).group(1)


def test_decisions_are_never_doubled_and_a_change_is_recorded_as_one(ux_app):
    app, engine, keys = ux_app
    c = _client(app, keys["ana"])
    tid = _first_trend(c)
    page = c.get(f"/trends/{tid}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "none yet" in page.text  # the current decision, at the top
    form = _form(page.text)
    before = _count(engine, tid)
    first = c.post(f"/trends/{tid}/feedback", data={**form, "action": "confirm", "note": "n1"})
    assert first.status_code == 303 and "msg=saved" in first.headers["location"]
    again = c.post(f"/trends/{tid}/feedback", data={**form, "action": "confirm", "note": "n1"})
    assert "msg=duplicate" in again.headers["location"]
    late = c.post(f"/trends/{tid}/feedback", data={**form, "action": "dismiss"})  # same form, other button
    assert "msg=duplicate" in late.headers["location"]
    assert _count(engine, tid) == before + 1, "one form stores one decision"
    shown = c.get(f"/trends/{tid}?msg=duplicate")
    assert (
        "already submitted" in shown.text
        and 'class="decision decision-confirm">confirm</span> by ana' in shown.text
    )

    # a new form changes the decision: saved as a change, shown as one in the history
    form2 = _form(shown.text)
    r = c.post(f"/trends/{tid}/feedback", data={**form2, "action": "escalate"})
    assert "msg=changed" in r.headers["location"]
    page = c.get(f"/trends/{tid}?msg=changed").text
    assert "(changed from confirm)" in page and "Decision changed" in page
    assert _count(engine, tid) == before + 2

    # a form rendered before someone else's decision does not silently overrule it
    stale = _form(page)
    other = _client(app, keys["bob"])
    r = other.post(
        f"/trends/{tid}/feedback", data={**_form(other.get(f"/trends/{tid}").text), "action": "dismiss"}
    )
    assert "msg=changed" in r.headers["location"]
    r = c.post(f"/trends/{tid}/feedback", data={**stale, "action": "confirm", "note": "mine"})
    assert "msg=moved" in r.headers["location"] and "resume=" in r.headers["location"]
    kept = c.get(r.headers["location"]).text
    assert "Pending, not saved yet" in kept and ">mine</textarea>" in kept
    assert _count(engine, tid) == before + 3


def test_an_expired_session_keeps_the_decision_and_note(ux_app):
    app, engine, keys = ux_app
    c = _client(app, keys["ana"])
    tid = _first_trend(c)
    form = _form(c.get(f"/trends/{tid}").text)
    before = _count(engine, tid)
    from trendml.store.sessions import end_session

    with Session(engine) as s:  # the session ends on the server (as when it expires)
        assert end_session(s, c.cookies.get("trendml_session"))
    r = c.post(f"/trends/{tid}/feedback", data={**form, "action": "escalate", "note": "kept note"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?reason=expired&next=")
    login = c.get(r.headers["location"])
    assert "Your session expired" in login.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', login.text).group(1))
    back = c.post(action, data={"key": keys["ana"], "csrf": csrf})
    assert back.status_code == 303 and f"/trends/{tid}?resume=" in back.headers["location"]
    page = c.get(back.headers["location"]).text
    assert ">kept note</textarea>" in page and "act-escalate pending" in page
    assert _count(engine, tid) == before, "nothing stored until the analyst presses the button again"
    r = c.post(f"/trends/{tid}/feedback", data={**_form(page), "action": "escalate", "note": "kept note"})
    assert "msg=" in r.headers["location"] and _count(engine, tid) == before + 1
    # a GET of the form's address (a browser landing there after sign-in) is never 405
    got = c.get(f"/trends/{tid}/feedback")
    assert got.status_code == 303 and got.headers["location"] == f"/trends/{tid}"


def test_messages_are_codes_and_filters_say_what_was_wrong(ux_app):
    app, _, keys = ux_app
    c = _client(app, keys["ana"])
    tid = _first_trend(c)
    page = c.get(f"/trends/{tid}", params={"error": "Call 555 now", "msg": "Call 555 now"}).text
    assert "555" not in page, "free text from the URL is never shown"
    bad = c.get("/trends", params={"severity": "abc", "region": "US"})
    assert bad.status_code == 400 and "invalid literal" not in bad.text
    assert "severity is" in bad.text and 'value="US"' in bad.text, "the message names the field; filters kept"
    usa = c.get("/trends", params={"region": "usa"})
    assert usa.status_code == 400 and "two-letter country code" in usa.text
    none = c.get("/trends", params={"status": "fading", "since": "2099-01-01"})
    assert none.status_code == 200 and "No trend matches these filters" in none.text
    q = c.get("/queue", params={"page": "999"})
    assert q.status_code == 200 and "past the end" in q.text and "No scored items yet" not in q.text


def test_hidden_items_are_named_by_a_label_and_qa_has_note_and_undo(ux_app):
    from trendml.store.qa import QAReview

    app, engine, keys = ux_app
    c = _client(app, keys["ana"])
    for path in ("/queue", "/qa"):
        page = c.get(path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        spans = re.findall(r'<span class="harmful blurred"[^>]*>', page.text)
        assert spans and all('aria-label="hidden item, press to reveal"' in s for s in spans)
        assert len(re.findall(r'class="reveal-text" aria-hidden="true"', page.text)) == len(spans)
    qa = c.get("/qa").text
    item = re.search(r'name="item_id" value="([^"]+)"', qa).group(1)
    csrf = _form(qa)["csrf"]
    r = c.post("/qa", data={"csrf": csrf, "item_id": item, "severity": "2", "note": "second look"})
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "Review saved" in page and 'id="qa-undo"' in page
    with Session(engine) as s:
        row = s.scalar(select(QAReview).where(QAReview.item_id == item, QAReview.reviewer == "ana"))
        assert row is not None and row.note == "second look" and row.severity == 2
    r = c.post("/qa/undo", data={"csrf": csrf, "item_id": item})
    assert r.status_code == 303 and "qa-undone" in r.headers["location"]
    with Session(engine) as s:
        assert s.scalar(select(QAReview).where(QAReview.item_id == item, QAReview.reviewer == "ana")) is None
    assert f'value="{item}"' in c.get("/qa").text, "the item is back in the list"


def test_model_page_floors_mirror_the_training_config():
    from service.dashboard.model_view import DECISION_METRICS, decision_rows
    from training.config import load_config

    floors = load_config(None)["promotion"]["floors"]
    assert {k: {kind: v} for k, _, kind, v, _ in DECISION_METRICS} == floors
    rows = decision_rows({"threat.auc": 0.9, "test.davidson.ece": 0.07}, {"threat.auc": 0.8})
    by = {r["key"]: r for r in rows}
    assert by["threat.auc"]["met"] and by["threat.auc"]["change"] == "+0.100 (better)"
    assert not by["test.davidson.ece"]["met"] and by["test.davidson.ece"]["change"] is None


def test_slurs_are_masked_with_the_shipped_lexicon_and_briefs_keep_no_first_letter():
    """With a word the shipped lexicon holds (found in the shipped data, never printed)."""
    import pandas as pd

    from service.dashboard.present import keywords_html, why_flagged
    from tests.conftest import shared_data_or_skip
    from trendml.lexicon import MASK, has_slur, is_slur, load_lexicon, mask_keywords
    from trendml.reports import redact

    assert len(load_lexicon()) >= 20
    data = shared_data_or_skip()
    texts = pd.read_csv(data / "davidson_hsol" / "davidson_tidy.csv").query("severity == 2")["text"]
    word = next(w for t in texts for w in re.findall(r"[^\W\d_]+", str(t)) if is_slur(w))
    masked = mask_keywords([word, "weather"])
    assert set(masked[0]) == {MASK} and masked[1] == "weather", "a slur is masked whole; other words stay"
    html = str(keywords_html([word, "weather"]))
    outside = re.sub(r'<span class="reveal-text" aria-hidden="true">[^<]*</span>', "", html)
    assert word not in outside and 'aria-label="masked keyword, press to reveal"' in html
    assert "weather" in outside
    assert not has_slur("people who like the weather in town")
    out = redact(f"{word} people said something awful")
    assert out.split()[0] == MASK * len(word) and "p" not in out.replace("people", "")
    lines = why_flagged(
        {"us_share": 0.89, "windows": [{"status": "growing", "density_ratio": 3.2, "us_lift_p": 0.012}] * 2}
    )
    assert lines[0].startswith("3.2x") and "growing for 2 windows" in lines
    assert "89 % US (p = 0.012, not significant at 0.01)" in lines


def test_one_form_token_is_used_once_under_concurrent_submits(ux_app):
    """Two submits of one form at the same moment (a double click 18 ms apart): one wins."""
    from concurrent.futures import ThreadPoolExecutor

    from trendml.store import ui_forms

    _, engine, _ = ux_app
    with Session(engine) as s:
        tokens = [ui_forms.issue_token(s, "t-concurrent", "ana") for _ in range(5)]

    def use(token: str) -> bool:
        with Session(engine) as s:
            won = ui_forms.use_token(s, token, "t-concurrent")
            s.commit()
            return won

    with ThreadPoolExecutor(4) as pool:
        for token in tokens:
            results = list(pool.map(use, [token] * 4))
            assert results.count(True) == 1, results
    with Session(engine) as s:
        assert ui_forms.get_token(s, tokens[0], "t-concurrent").used
        assert ui_forms.get_token(s, tokens[0], "another-trend") is None
        assert not ui_forms.use_token(s, "not-a-token", "t-concurrent")
