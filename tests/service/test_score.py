"""POST /v1/score over real HTTP: results, priority rule, audit rows, adaptive batching."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from trendml.items import Item
from trendml.priority import priority
from trendml.text import content_hash


@pytest.fixture(scope="module")
def ready(server, champion):
    assert champion
    return server


def _items(small_stream, start: int, n: int) -> list[dict]:
    return [
        {"id": f"score-{start + k}", "text": it.text, "caption": it.caption, "region": it.region}
        for k, it in enumerate(small_stream.items[start : start + n])
    ]


def _check(results: list[dict], sent: list[dict], version: str) -> None:
    assert [r["id"] for r in results] == [s["id"] for s in sent]
    for r in results:
        assert r["severity"] in (0, 1, 2, 3)
        assert len(r["severity_probs"]) == 4 and abs(sum(r["severity_probs"]) - 1) < 1e-3
        assert r["priority"] == priority(r["severity"], emerging=r["emerging"])
        assert r["model"]["version"] == version and r["model"]["name"]
        assert r["trend_id"] is None or isinstance(r["trend_id"], str)
        if r["trend_id"] is None:
            assert r["emerging"] is False


def test_score_batch_and_single_agree(ready, small_stream):
    version = ready.request("GET", "/v1/model", "triage").json()["model"]["version"]
    sent = _items(small_stream, 0, 20)
    r = ready.request("POST", "/v1/score", "triage", json={"items": sent})
    assert r.status_code == 200, r.text
    batch = r.json()
    _check(batch, sent, version)
    alone = ready.request("POST", "/v1/score", "triage", json={"items": [sent[3]]}).json()[0]
    assert alone["severity"] == batch[3]["severity"]
    assert alone["severity_probs"] == pytest.approx(batch[3]["severity_probs"], abs=1e-5)
    assert len({r["severity"] for r in batch}) >= 1


def test_every_scored_item_is_audited(ready, small_stream, service_home):
    sent = _items(small_stream, 40, 5)
    results = ready.request("POST", "/v1/score", "triage", json={"items": sent}).json()
    con = sqlite3.connect(service_home / "trendml.db")
    rows = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT item_id, input_hash, model_version, severity, priority, scored_at FROM score_audit "
            f"WHERE item_id IN ({','.join('?' * len(sent))})",
            [s["id"] for s in sent],
        )
    }
    con.close()
    for s, res in zip(sent, results, strict=True):
        input_hash, version, severity, prio, scored_at = rows[s["id"]]
        assert input_hash == content_hash(Item.model_validate(s).content)
        assert version == res["model"]["version"]
        assert (severity, prio) == (res["severity"], res["priority"])
        assert scored_at


def test_concurrent_requests_are_batched_and_answered_in_order(ready, small_stream):
    version = ready.request("GET", "/v1/model", "triage").json()["model"]["version"]
    requests = [_items(small_stream, 100 + 3 * k, 3) for k in range(24)]

    def call(sent):
        with ready.client("triage") as c:
            return sent, c.post("/v1/score", json={"items": sent})

    with ThreadPoolExecutor(12) as ex:
        answers = list(ex.map(call, requests))
    for sent, r in answers:
        assert r.status_code == 200, r.text
        _check(r.json(), sent, version)
    # BentoML's own Prometheus metrics count these requests
    metrics = ready.request("GET", "/metrics", "admin").text
    assert 'endpoint="/v1/score",http_response_code="200"' in metrics


def test_scores_join_detected_trends(ready, detected, small_stream):
    """Items of a trend's latest window, scored again, are placed in that trend (assign, no refit)."""
    trends = ready.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
    last_seen = max(t["last_seen"] for t in trends)
    latest = [t for t in trends if t["last_seen"] == last_seen]
    assert latest
    by_id = {it.id: it for it in small_stream.items}
    hits = total = 0
    for t in latest[:5]:
        detail = ready.request("GET", f"/v1/trends/{t['trend_id']}", "analyst").json()
        reps = [by_id[i] for i in detail["windows"][-1]["representative_ids"] if i in by_id]
        sent = [{"id": f"again-{it.id}", "text": it.text, "caption": it.caption} for it in reps]
        if not sent:
            continue
        results = ready.request("POST", "/v1/score", "triage", json={"items": sent}).json()
        for r in results:
            total += 1
            hits += r["trend_id"] == t["trend_id"]
            if r["trend_id"] == t["trend_id"]:
                assert r["emerging"] == t["emerging"]
    assert total and hits / total >= 0.5, (hits, total)
