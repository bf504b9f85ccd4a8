"""``kill -9`` while the service is scoring and while it runs a reset detection: after a restart
every acknowledged score is in the audit log (with the key that asked), and the trend state is
whole: the listing is the one from before the unanswered detection run, or, if the run answered
before the kill, the one it produced (never a part of either). Nothing else acknowledged before the
kill is lost either: a stored item, an analyst's decision with its note, a score's audit row with
its model version (this was tests/service/test_persistence.py, which started two more servers)."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time

import httpx

from tests.service.harness import start_server


def _listing(srv) -> list[tuple[str, int]]:
    out, offset = [], 0
    while True:
        page = srv.request("GET", "/v1/trends", "analyst", params={"limit": 500, "offset": offset}).json()
        out += [(t["trend_id"], t["size"]) for t in page["items"]]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return sorted(out)


KILL_AFTER_S = 1.0


def test_kill_9_during_scoring_and_detection(server, detected, service_home, keys, champion):
    assert champion
    srv = start_server(service_home, keys=keys)
    before = _listing(srv)
    assert before, "the session's detection left trends"
    # acknowledged writes of every kind, before the stress below
    r = srv.request("POST", "/v1/items", "triage", json={"items": [{"id": "persist-1", "text": "kept"}]})
    assert r.json()["stored"] == 1
    decision = {"action": "escalate", "note": "persist-note"}
    r = srv.request("POST", f"/v1/trends/{before[0][0]}/feedback", "analyst", json=decision)
    assert r.status_code == 201
    feedback_id = r.json()["id"]
    r = srv.request("POST", "/v1/score", "triage", json={"items": [{"id": "persist-s", "text": "kept"}]})
    assert r.status_code == 200
    scored_version = r.json()[0]["model"]["version"]
    acked: list[str] = []
    detect_answer: dict[str, object] = {}
    stop = threading.Event()

    def score(worker: int) -> None:
        k = 0
        with srv.client("triage", timeout=120) as c:
            while not stop.is_set():
                item_id = f"kill9-{worker}-{k}"
                k += 1
                try:
                    r = c.post("/v1/score", json={"items": [{"id": item_id, "text": f"fault test {k}"}]})
                except httpx.HTTPError:
                    continue  # slow under load, or the server is gone (then stop is set)
                if r.status_code == 200:
                    acked.append(item_id)

    def detect() -> None:
        try:
            r = srv.request("POST", "/v1/detect", "admin", json={"reset": True}, timeout=300)
            detect_answer["status"] = r.status_code
        except httpx.HTTPError:
            detect_answer["status"] = None

    threads = [threading.Thread(target=score, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 180
    while len(acked) < 8 and time.monotonic() < deadline:  # scoring is under way
        time.sleep(0.1)
    det = threading.Thread(target=detect)
    det.start()
    time.sleep(KILL_AFTER_S)  # detection is running (it takes seconds); scoring goes on
    stop.set()
    srv.stop(signal.SIGKILL)
    for t in [*threads, det]:
        t.join(timeout=60)
    assert acked, "some scores were acknowledged before the kill"

    again = start_server(service_home, keys=keys)
    try:
        after = _listing(again)
        if detect_answer.get("status") == 200:
            # the run finished and answered before the kill: its result is what must be there
            assert after, "the acknowledged detection's trends are there"
        else:
            assert after == before, "an unanswered reset left the old trend state whole"
        again_item = {"items": [{"id": "persist-1", "text": "kept"}]}
        r = again.request("POST", "/v1/items", "triage", json=again_item)
        assert r.json()["stored"] == 0 and r.json()["duplicates"] == 1
    finally:
        again.stop()
    con = sqlite3.connect(service_home / "trendml.db")
    note = con.execute("SELECT action, note FROM trend_feedback WHERE id = ?", (feedback_id,)).fetchone()
    assert note == ("escalate", "persist-note")
    audit = con.execute(
        "SELECT model_version, input_hash FROM score_audit WHERE item_id = 'persist-s'"
    ).fetchall()
    assert audit and audit[0][0] == scored_version and len(audit[0][1]) == 64
    marks = ",".join("?" * len(acked))
    sql = f"SELECT item_id, key_name FROM score_audit WHERE item_id IN ({marks})"
    rows = dict(con.execute(sql, acked).fetchall())
    con.close()
    missing = [i for i in acked if i not in rows]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged scores lost"
    assert set(rows.values()) == {"test-triage"}
