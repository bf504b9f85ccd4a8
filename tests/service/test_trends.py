"""Items -> detection -> trend API -> feedback over real HTTP, on the small demo stream."""

from __future__ import annotations

from datetime import datetime


def test_items_are_stored_once(server, small_stream, detected):
    assert detected["stored"] == len(small_stream.items)
    again = [it.model_dump(mode="json") for it in small_stream.items[:5]]
    r = server.request("POST", "/v1/items", "triage", json={"items": again})
    assert r.json()["stored"] == 0 and r.json()["duplicates"] == 5


def test_detection_covers_every_window(small_stream, detected):
    d = detected["detect"]
    assert d["n_items"] >= len(small_stream.items)
    assert d["n_windows"] >= small_stream.n_windows
    assert d["n_trends"] > 0


def test_detection_is_incremental(server, detected):
    r = server.request("POST", "/v1/detect", "admin", json={})
    assert r.status_code == 200
    assert r.json()["n_items"] == 0  # every stored window is already processed


def test_list_trends_paging_and_filters(server, detected):
    full = server.request("GET", "/v1/trends?limit=500", "analyst").json()
    assert full["total"] == len(full["items"]) > 0
    ids = [t["trend_id"] for t in full["items"]]
    assert len(set(ids)) == len(ids)
    page = server.request("GET", "/v1/trends?limit=2&offset=1", "analyst").json()
    assert page["total"] == full["total"]
    assert [t["trend_id"] for t in page["items"]] == ids[1:3]
    for value in ("true", "false"):
        sub = server.request("GET", f"/v1/trends?emerging={value}&limit=500", "analyst").json()["items"]
        assert all(t["emerging"] is (value == "true") for t in sub)
    statuses = {t["status"] for t in full["items"]}
    for status in statuses:
        sub = server.request("GET", f"/v1/trends?status={status}&limit=500", "analyst").json()
        assert sub["total"] == sum(t["status"] == status for t in full["items"])
    us = server.request("GET", "/v1/trends?region=us&limit=500", "analyst").json()["items"]
    assert {t["trend_id"] for t in us} <= set(ids)
    for t in us:  # over-represented in its latest window: it has US members there
        last = server.request("GET", f"/v1/trends/{t['trend_id']}", "analyst").json()["windows"][-1]
        assert last["region_counts"].get("US", 0) > 0
    assert server.request("GET", "/v1/trends?status=bogus", "analyst").status_code == 422
    assert server.request("GET", "/v1/trends?since=2100-01-01T00:00:00Z", "analyst").json()["total"] == 0
    last = max(datetime.fromisoformat(t["last_seen"].replace("Z", "+00:00")) for t in full["items"])
    recent = server.request(
        "GET", "/v1/trends", "analyst", params={"since": last.isoformat(), "limit": 500}
    ).json()
    assert 0 < recent["total"] <= full["total"]
    assert all(t["last_seen"] >= last.isoformat().replace("+00:00", "Z") for t in recent["items"])


def test_trend_detail_has_timeline_keywords_and_scored_representatives(server, small_stream, detected):
    listed = server.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
    longest = None
    for t in listed:
        detail = server.request("GET", f"/v1/trends/{t['trend_id']}", "analyst")
        assert detail.status_code == 200
        d = detail.json()
        assert d["trend_id"] == t["trend_id"]
        starts = [w["start"] for w in d["windows"]]
        assert starts == sorted(starts) and len(starts) >= 1
        assert d["windows"][-1]["size"] == d["size"]
        if longest is None or len(starts) > len(longest["windows"]):
            longest = d
    stream_ids = {it.id for it in small_stream.items}
    reps = longest["representatives"]
    assert reps and all(r["id"] in stream_ids for r in reps)
    assert all(r["text"] or r["caption"] for r in reps)  # joined from the items table
    assert isinstance(longest["keywords"], list)


def test_feedback_is_stored_and_exported_as_labels(server, detected):
    listed = server.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
    first, second = listed[0]["trend_id"], listed[-1]["trend_id"]
    r = server.request("POST", f"/v1/trends/{first}/feedback", "analyst", json={"action": "dismiss"})
    assert r.status_code == 201
    r = server.request(
        "POST", f"/v1/trends/{first}/feedback", "analyst", json={"action": "confirm", "note": "coordinated"}
    )
    assert r.status_code == 201
    assert r.json()["analyst"] == "test-analyst"
    if second != first:
        server.request("POST", f"/v1/trends/{second}/feedback", "admin", json={"action": "dismiss"})
    detail = server.request("GET", f"/v1/trends/{first}", "analyst").json()
    assert detail["feedback"] == "confirm"
    assert [f["action"] for f in detail["feedback_history"]][-2:] == ["dismiss", "confirm"]
    listed_again = server.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
    assert {t["trend_id"]: t["feedback"] for t in listed_again}[first] == "confirm"
    export = server.request("GET", "/v1/feedback/export", "admin").json()
    by_trend = {}
    for row in export:
        by_trend.setdefault(row["trend_id"], set()).add(row["label"])
    assert by_trend[first] == {1}  # the latest decision wins
    if second != first:
        assert by_trend[second] == {0}
    assert all(row["text"] or row["caption"] for row in export)


def test_trend_members_on_request(server, small_stream, detected):
    trend_id = server.request("GET", "/v1/trends?limit=1", "analyst").json()["items"][0]["trend_id"]
    plain = server.request("GET", f"/v1/trends/{trend_id}", "analyst").json()
    assert all(w["member_ids"] is None for w in plain["windows"])
    full = server.request("GET", f"/v1/trends/{trend_id}", "analyst", params={"members": "true"}).json()
    stream_ids = {it.id for it in small_stream.items}
    for w in full["windows"]:
        assert len(w["member_ids"]) == w["size"]
        assert set(w["member_ids"]) <= stream_ids
        assert set(w["representative_ids"]) <= set(w["member_ids"])


def test_dashboard_is_mounted_and_signs_in_by_itself(server):
    r = server.request("GET", "/ui/trends", follow_redirects=False)
    assert r.status_code in (302, 303, 307) and "/ui/login" in r.headers["location"]
    assert server.request("GET", "/ui/login").status_code == 200


def test_feedback_export_cli_matches_the_endpoint(server, detected, tmp_path):
    import json

    from tests.service.harness import cli

    listed = server.request("GET", "/v1/trends?limit=1", "analyst").json()["items"]
    server.request(
        "POST", f"/v1/trends/{listed[0]['trend_id']}/feedback", "analyst", json={"action": "escalate"}
    )
    target = tmp_path / "labels.jsonl"
    proc = cli(server.home, "feedback", "export", "-o", str(target))
    assert proc.returncode == 0, proc.stderr[-1000:]
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    api = server.request("GET", "/v1/feedback/export", "admin").json()
    key = lambda r: (r["trend_id"], r["id"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, api)) and rows
    assert {r["label"] for r in rows} <= {0, 1}
