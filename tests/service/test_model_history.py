"""The champion alias history through the real service (issue #21.4): GET /v1/model/history (any key,
newest first) and the dashboard's model page."""

from __future__ import annotations


def test_alias_history_api_and_model_page(server, champion):
    assert champion
    assert server.request("GET", "/v1/model/history").status_code == 401
    r = server.request("GET", "/v1/model/history", "triage")
    assert r.status_code == 200, r.text
    events = r.json()
    assert events, "the first registration is recorded"
    current = server.request("GET", "/v1/model", "triage").json()["model"]["version"]
    assert events[0]["to_version"] == current  # newest first
    assert [e["seq"] for e in events] == sorted((e["seq"] for e in events), reverse=True)
    first = events[-1]
    assert first["action"] == "register" and first["from_version"] is None and not first["forced"]
    assert first["at"] and "@" in first["by"]

    from tests.service.harness import sign_in

    c, _ = sign_in(server, server.keys["analyst"])
    try:
        page = c.get("/ui/model")
    finally:
        c.close()
    assert page.status_code == 200
    html = page.text
    assert 'id="alias-history"' in html and "register" in html
    assert f'<dd id="champion-version">{current}</dd>' in html
