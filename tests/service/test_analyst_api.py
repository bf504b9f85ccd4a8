"""Issue 16 on the session server (read-only: no test here changes what other tests read): search by
keyword and meaning, the alerts list, the curation routes' refusals, the role table."""

from __future__ import annotations

KEYS = {"id", "score", "severity", "trend_id", "created_at", "region"}


def _a_keyword(server) -> tuple[str, str]:
    """A trend and one of its keywords (never printed)."""
    for t in server.request("GET", "/v1/trends", "analyst", params={"limit": 50}).json()["items"]:
        for kw in t["keywords"]:
            if kw.isalpha() and len(kw) > 3:
                return t["trend_id"], kw
    raise AssertionError("no trend with a plain keyword")


def test_search_keyword_semantic_and_filters(server, detected):
    trend_id, kw = _a_keyword(server)
    r = server.request("GET", "/v1/search", "analyst", params={"q": kw, "limit": 50})
    assert r.status_code == 200, r.status_code
    body = r.json()
    assert body["engine"] == "sqlite-fts5" and body["total"] >= len(body["items"]) > 0
    assert all(set(i) >= KEYS for i in body["items"])
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    # the trend filter keeps that trend's members only, and they carry its id
    r = server.request("GET", "/v1/search", "analyst", params={"q": kw, "trend_id": trend_id, "limit": 200})
    mine = r.json()["items"]
    assert mine and {i["trend_id"] for i in mine} == {trend_id}
    # semantic: by text (embedded by the service) and "more like this" (an item's stored vector)
    r = server.request("GET", "/v1/search", "analyst", params={"q": kw, "mode": "semantic", "limit": 10})
    assert r.status_code == 200 and r.json()["engine"] == "hnswlib" and len(r.json()["items"]) == 10
    like = mine[0]["id"]
    r = server.request("GET", "/v1/search", "analyst", params={"like": like, "mode": "semantic", "limit": 10})
    hits = r.json()["items"]
    assert len(hits) == 10 and like not in {i["id"] for i in hits} and hits[0]["score"] > 0.5
    assert sum(i["trend_id"] == trend_id for i in hits) >= 3  # neighbours share its trend
    r = server.request("GET", "/v1/search", "analyst", params={"q": kw, "min_severity": 3, "limit": 200})
    assert all(i["severity"] == 3 for i in r.json()["items"])


def test_search_and_curation_refuse_bad_input_naming_the_field(server, detected):
    for params, field in (
        ({"q": "x", "mode": "fuzzy"}, "mode"),
        ({"q": "  "}, "q"),
        ({"mode": "semantic", "like": "no-such-item"}, "like"),
        ({"q": "x", "min_severity": 7}, "min_severity"),
        ({"q": "x", "since": "yesterday"}, "since"),
    ):
        r = server.request("GET", "/v1/search", "analyst", params=params)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.status_code)
    r = server.request("POST", "/v1/trends/t-none/merge", "analyst", json={"into": "t-other"})
    assert r.status_code == 404 and r.json()["field"] == "trend_id"
    r = server.request("POST", "/v1/trends/t-none/rename", "analyst", json={"title": ""})
    assert r.status_code == 422 and r.json()["field"] == "title"
    assert server.request("GET", "/v1/search", "triage", params={"q": "x"}).status_code == 403
    assert server.request("POST", "/v1/alerts/al-x/replay", "analyst").status_code == 403
    r = server.request("POST", "/v1/alerts/al-none/replay", "admin")
    assert r.status_code == 404 and r.json()["field"] == "alert_id"


def test_alerts_list_shape(server, detected):
    r = server.request("GET", "/v1/alerts", "analyst")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(body["items"]) or len(body["items"]) == 100
    for a in body["items"]:
        assert {"id", "rule", "trend_id", "created_at", "deliveries"} <= set(a)
        # the shipped webhooks have no URL: alerts wait in the outbox, never attempted
        assert all(d["status"] == "pending" and d["attempts"] == 0 for d in a["deliveries"])
