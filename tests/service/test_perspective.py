"""POST /v1alpha1/comments:analyze over real HTTP on the session server: a Perspective client's
request shape, the documented attribute mapping, doNotStore, and Perspective's error shape."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from service.perspective import ATTRIBUTES, attribute_scores
from trendml.config import Settings
from trendml.text import content_hash

PATH = "/v1alpha1/comments:analyze"
SIX = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"]


@pytest.fixture(scope="module")
def ready(server, champion):
    if champion is None:
        pytest.skip("the severity package (training.registry) is not available")
    return server


def _perspective_error(r, code: int, status: str) -> str:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "status"}, body
    assert body["error"]["code"] == code and body["error"]["status"] == status
    return body["error"]["message"]


def test_mapping_is_cumulative():
    s = attribute_scores([0.1, 0.2, 0.3, 0.4])
    assert set(s) == set(SIX) == set(ATTRIBUTES)
    assert s["TOXICITY"] == pytest.approx(0.9) and s["THREAT"] == pytest.approx(0.4)
    assert s["SEVERE_TOXICITY"] == s["IDENTITY_ATTACK"] == pytest.approx(0.7)
    assert s["INSULT"] == s["PROFANITY"] == s["TOXICITY"]
    with pytest.raises(ValueError):
        attribute_scores([0.5, 0.5])


def test_perspective_client_request_shape(ready):
    """The request a Perspective client sends (their docs' curl / googleapiclient examples,
    rewritten): the key in ``?key=``, ``alt=json`` added by the discovery client, one attribute."""
    body = {
        "comment": {"text": "what a friendly note to the whole team"},
        "languages": ["en"],
        "requestedAttributes": {"TOXICITY": {}},
        "spanAnnotations": True,
    }
    with ready.client() as c:
        r = c.post(PATH, params={"key": ready.keys["triage"], "alt": "json"}, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"attributeScores", "languages"}
    assert out["languages"] == ["en"]
    summary = out["attributeScores"]["TOXICITY"]["summaryScore"]
    assert summary["type"] == "PROBABILITY" and 0.0 <= summary["value"] <= 1.0
    assert list(out["attributeScores"]) == ["TOXICITY"]


def test_six_attributes_follow_the_level_probabilities_and_are_audited(ready):
    text = "the build failed again, please look at the logs before lunch"
    token = f"pc-{uuid.uuid4().hex[:12]}"
    score = ready.request(
        "POST", "/v1/score", "triage", json={"items": [{"id": f"persp-{token}", "text": text}]}
    )
    assert score.status_code == 200, score.text
    probs = score.json()[0]["severity_probs"]
    r = ready.request(
        "POST",
        PATH,
        "triage",  # the Bearer header works too
        json={
            "comment": {"text": text},
            "requestedAttributes": {name: {} for name in SIX},
            "clientToken": token,
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["clientToken"] == token
    got = {k: v["summaryScore"]["value"] for k, v in out["attributeScores"].items()}
    expected = {
        "TOXICITY": 1 - probs[0],
        "INSULT": 1 - probs[0],
        "PROFANITY": 1 - probs[0],
        "SEVERE_TOXICITY": probs[2] + probs[3],
        "IDENTITY_ATTACK": probs[2] + probs[3],
        "THREAT": probs[3],
    }
    assert got == pytest.approx(expected, abs=1e-4)
    con = sqlite3.connect(ready.home / "trendml.db")
    rows = con.execute(
        "SELECT input_hash, key_name, trend_status FROM score_audit WHERE item_id = ?",
        (f"perspective:{token}",),
    ).fetchall()
    con.close()
    assert rows == [(content_hash(text), "test-triage", "not_assigned")]


def test_threshold_leaves_low_scores_out(ready):
    r = ready.request(
        "POST",
        PATH,
        "triage",
        json={
            "comment": {"text": "see you at the meeting tomorrow"},
            "requestedAttributes": {"THREAT": {"scoreThreshold": 1.0}, "TOXICITY": {"scoreThreshold": 0.0}},
            "doNotStore": True,
        },
    )
    assert r.status_code == 200, r.text
    scores = r.json()["attributeScores"]
    assert "TOXICITY" in scores
    assert "THREAT" not in scores or scores["THREAT"]["summaryScore"]["value"] >= 1.0


def test_do_not_store_writes_nothing(ready):
    marker = f"do not keep this sentence {uuid.uuid4().hex}"
    cache_path = Settings(home=ready.home).embedding_cache_path

    def counts() -> tuple[int, int]:
        con = sqlite3.connect(ready.home / "trendml.db")
        audit = con.execute("SELECT COUNT(*) FROM score_audit").fetchone()[0]
        con.close()
        con = sqlite3.connect(cache_path)
        cached = con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        con.close()
        return audit, cached

    before = counts()
    with ready.client() as c:
        r = c.post(
            PATH,
            params={"key": ready.keys["triage"]},
            json={"comment": {"text": marker}, "requestedAttributes": {"TOXICITY": {}}, "doNotStore": True},
        )
    assert r.status_code == 200, r.text
    assert counts() == before
    assert marker not in ready.log.read_text(errors="replace")


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"requestedAttributes": {"TOXICITY": {}}}, "comment.text"),
        ({"comment": {"text": "   "}, "requestedAttributes": {"TOXICITY": {}}}, "comment.text"),
        ({"comment": {"text": "x" * 10_001}, "requestedAttributes": {"TOXICITY": {}}}, "too long"),
        ({"comment": {"text": "hello there"}, "requestedAttributes": {"SPAM": {}}}, "SPAM"),
        ({"comment": {"text": "hello there"}, "requestedAttributes": {}}, "requestedAttributes"),
        (
            {
                "comment": {"text": "hello there"},
                "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}},
            },
            "scoreType",
        ),
        (
            {"comment": {"text": "bonjour"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"]},
            "languages",
        ),
    ],
    ids=[
        "no-text",
        "blank-text",
        "text-over-limit",
        "unknown-attribute",
        "no-attribute",
        "score-type",
        "language",
    ],
)
def test_bad_requests_answer_400_in_perspective_shape(ready, body, needle):
    with ready.client() as c:
        r = c.post(PATH, params={"key": ready.keys["triage"]}, json=body)
    assert needle in _perspective_error(r, 400, "INVALID_ARGUMENT")


def test_invalid_json_is_400(ready):
    with ready.client() as c:
        r = c.post(
            PATH,
            params={"key": ready.keys["triage"]},
            content=b"{comment: ",
            headers={"content-type": "application/json"},
        )
    assert "JSON" in _perspective_error(r, 400, "INVALID_ARGUMENT")


def test_keys_are_checked_with_perspective_errors(ready):
    body = {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}}
    with ready.client() as c:
        bad = c.post(PATH, params={"key": "tml_not-a-key"}, json=body)
        none = c.post(PATH, json=body)
        wrong_role = c.post(PATH, params={"key": ready.keys["analyst"]}, json=body)
    assert "unknown or revoked" in _perspective_error(bad, 401, "UNAUTHENTICATED")
    assert "no API key" in _perspective_error(none, 401, "UNAUTHENTICATED")
    assert "triage" in _perspective_error(wrong_role, 403, "PERMISSION_DENIED")
    # the key never reaches the access log through the query string
    assert "tml_not-a-key" not in ready.log.read_text(errors="replace")
