"""The per-item HTTP routes on the session server (issue 22): score answers with the language,
moderator outcomes, reading one item, erasure (404 afterwards) and the erasure log. Items of this
module have their own ids, so the session's other tests see the store as before."""

from __future__ import annotations

import json

from tests.service.harness import sign_in
from trendml.language import load_sample

EN_ID, ES_ID = "prod-api-en-1", "prod-api-es-1"


def _items():
    es = next(t for lang, t in load_sample() if lang == "es")
    en = next(t for lang, t in load_sample() if lang == "en")
    return [{"id": EN_ID, "text": en, "report_reason": "harassment"}, {"id": ES_ID, "text": es}]


def test_item_lifecycle_outcome_read_erase(server):
    r = server.request("POST", "/v1/items", "triage", json={"items": _items()})
    assert r.status_code == 200, r.text[:300]
    r = server.request("POST", "/v1/score", "triage", json={"items": _items()})
    assert r.status_code == 200, r.text[:300]
    by_id = {x["id"]: x for x in r.json()}
    assert by_id[EN_ID]["language"] == "en" and by_id[EN_ID]["language_supported"] is True
    assert by_id[ES_ID]["language"] == "es" and by_id[ES_ID]["language_supported"] is False
    assert by_id[ES_ID]["trend_id"] is None  # an unsupported language joins no trend

    path = f"/v1/items/{EN_ID}/outcome"
    body = {"action": "removed", "severity": 1, "policy_area": "harassment"}
    first = server.request("POST", path, "triage", json=body)
    assert first.status_code == 200, first.text[:300]
    again = server.request("POST", path, "triage", json=body)
    changed = server.request("POST", path, "triage", json={**body, "action": "restricted"})
    assert [x.json()["status"] for x in (first, again, changed)] == ["created", "unchanged", "changed"]
    assert again.json()["id"] == first.json()["id"] and changed.json()["previous_id"] == first.json()["id"]
    assert first.json()["moderator"] == "test-triage"

    for bad, field in (
        ({**body, "action": "deleted"}, "action"),
        ({**body, "severity": 7}, "severity"),
        ({**body, "severity": "2"}, "severity"),
        ({**body, "policy_area": "fraud"}, "policy_area"),
        ({"action": "none", "severity": 0}, "policy_area"),
    ):
        r = server.request("POST", path, "triage", json=bad)
        assert r.status_code == 422 and r.json()["field"].endswith(field), (field, r.text[:200])
    r = server.request("POST", "/v1/items/prod-api-unknown/outcome", "triage", json=body)
    assert r.status_code == 404 and r.json()["field"] == "item_id"
    assert server.request("POST", path, "analyst", json=body).status_code == 403

    got = server.request("GET", f"/v1/items/{EN_ID}", "analyst")
    assert got.status_code == 200
    item = got.json()
    assert item["outcome"]["action"] == "restricted" and len(item["outcome_history"]) == 2
    assert item["language"] == "en" and item["severity"] == by_id[EN_ID]["severity"]
    assert server.request("GET", f"/v1/items/{EN_ID}", "triage").status_code == 403
    assert server.request("GET", f"/v1/items/{ES_ID}", "analyst").json()["language_supported"] is False

    assert server.request("DELETE", f"/v1/items/{EN_ID}", "analyst").status_code == 403
    erased = server.request("DELETE", f"/v1/items/{EN_ID}", "admin")
    assert erased.status_code == 200 and erased.json()["erased"] == [EN_ID]
    assert server.request("GET", f"/v1/items/{EN_ID}", "analyst").status_code == 404
    assert server.request("DELETE", f"/v1/items/{EN_ID}", "admin").status_code == 404
    assert server.request("POST", path, "triage", json=body).status_code == 404  # scored, then erased
    log = server.request("GET", "/v1/erasures", "admin", params={"item_id": EN_ID})
    assert log.status_code == 200
    rows = log.json()
    assert [(e["item_id"], e["actor"], e["reason"]) for e in rows] == [(EN_ID, "test-admin", "request")]
    assert rows[0]["content_hash"] == item["content_hash"]
    leaked = item["text"] in json.dumps(rows) or item["text"] in log.text  # never printed
    assert not leaked, "the erasure log holds the item's text"
    assert server.request("GET", "/v1/erasures", "analyst").status_code == 403
    server.request("DELETE", f"/v1/items/{ES_ID}", "admin")  # leave the session's store as found


def test_monitoring_route_gauges_and_readyz(server):
    r = server.request("GET", "/v1/monitoring", "analyst", params={"refresh": "true"})
    assert r.status_code == 200, r.text[:300]
    snap = r.json()
    assert {"drift", "calibration", "unsupported_language", "cache", "bounds", "alerts"} <= snap.keys()
    assert snap["bounds"] == {"drift_psi": 0.25, "ece": 0.15}
    assert server.request("GET", "/v1/monitoring", "triage").status_code == 403
    metrics = server.request("GET", "/metrics", "analyst").text
    for name in ("trendml_severity_drift_psi", "trendml_calibration_ece", "trendml_monitoring_degraded"):
        assert name in metrics, name
    c, _ = sign_in(server, server.keys["analyst"])
    page = c.get("/ui/model")
    assert page.status_code == 200 and "Live monitoring" in page.text and "monitoring-facts" in page.text
    c.close()
    ready = server.request("GET", "/readyz")
    assert ready.status_code == 200
    if snap["alerts"]:  # a crossed bound makes the service say so (service.monitoring: tested in process)
        assert ready.text.strip() == "degraded"
