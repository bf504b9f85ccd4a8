"""Nothing acknowledged is lost: writes answered by one server survive SIGKILL and a restart."""

from __future__ import annotations

import signal
import sqlite3

from tests.service.harness import start_server


def test_acknowledged_writes_survive_kill_and_restart(server, detected, service_home, keys):
    ready = server.request("GET", "/readyz").status_code == 200
    trend_id = server.request("GET", "/v1/trends?limit=1", "analyst").json()["items"][0]["trend_id"]
    first = start_server(service_home, keys=keys, need_ready=ready)
    try:
        r = first.request(
            "POST", "/v1/items", "triage", json={"items": [{"id": "persist-1", "text": "kept"}]}
        )
        assert r.json()["stored"] == 1
        r = first.request(
            "POST",
            f"/v1/trends/{trend_id}/feedback",
            "analyst",
            json={"action": "escalate", "note": "persist-note"},
        )
        assert r.status_code == 201
        feedback_id = r.json()["id"]
        scored_version = None
        if ready:
            r = first.request(
                "POST", "/v1/score", "triage", json={"items": [{"id": "persist-s", "text": "kept"}]}
            )
            assert r.status_code == 200
            scored_version = r.json()[0]["model"]["version"]
    finally:
        first.stop(signal.SIGKILL)  # no clean shutdown: only what was committed can survive

    second = start_server(service_home, keys=keys, need_ready=ready)
    try:
        detail = second.request("GET", f"/v1/trends/{trend_id}", "analyst").json()
        notes = {f["id"]: f for f in detail["feedback_history"]}
        assert notes[feedback_id]["action"] == "escalate" and notes[feedback_id]["note"] == "persist-note"
        r = second.request(
            "POST", "/v1/items", "triage", json={"items": [{"id": "persist-1", "text": "kept"}]}
        )
        assert r.json() == {"stored": 0, "duplicates": 1, "total": r.json()["total"]}
        # the trend state survived too: same trend listed
        ids = [
            t["trend_id"] for t in second.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
        ]
        assert trend_id in ids
    finally:
        second.stop()
    if scored_version is not None:
        con = sqlite3.connect(service_home / "trendml.db")
        rows = con.execute(
            "SELECT model_version, input_hash FROM score_audit WHERE item_id = 'persist-s'"
        ).fetchall()
        con.close()
        assert rows and rows[0][0] == scored_version and len(rows[0][1]) == 64
