"""``trendml up --no-serve`` (the main job without the final ``serve``) on the session home:
champion present, items stored, detection run, a demo key printed that the running server accepts,
and ONE demo key however often ``up`` runs (issue 19 item 8)."""

from __future__ import annotations

import re

from tests.service.harness import cli


def test_up_prepares_everything_and_prints_a_working_curl(server, champion, detected):
    proc = cli(
        server.home, "up", "--no-serve", "--windows", "3", "--per-window", "40", "--port", str(server.port)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stderr + proc.stdout
    assert champion and "champion severity model: version" in out
    assert re.search(r"items: \d+ stored, \d+ already there, \d+ in the store", out)
    assert "detection:" in out
    key = re.search(r"demo key \(admin, shown once\): (tml_\S+)", out).group(1)
    assert f"curl -s -X POST {server.url}/v1/score -H 'Authorization: Bearer {key}'" in out
    assert f"{server.url}/v1/docs" in out
    # the printed key works against the running service (same database)
    r = server.request("GET", "/v1/keys", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    # a second run stores nothing new and detects nothing new (idempotent)
    again = cli(server.home, "up", "--no-serve", "--windows", "3", "--per-window", "40")
    assert again.returncode == 0
    assert re.search(r"items: 0 stored", again.stderr + again.stdout)
    # ONE demo key: the second run gave it a new secret; the first run's key stops working
    key2 = re.search(r"demo key \(admin, shown once\): (tml_\S+)", again.stderr + again.stdout).group(1)
    assert key2 != key
    assert server.request("GET", "/v1/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    listed = server.request("GET", "/v1/keys", headers={"Authorization": f"Bearer {key2}"})
    assert listed.status_code == 200
    assert [k["name"] for k in listed.json()].count("demo") == 1
    log = server.request("GET", "/v1/audit", headers={"Authorization": f"Bearer {key2}"}).json()
    assert [e["action"] for e in log if "demo" in (e["target"] or "")][:2] == ["key.rotate", "key.create"]
