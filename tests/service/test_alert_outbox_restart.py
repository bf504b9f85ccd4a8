"""Must-show of issue 16: webhook delivery survives a receiver outage and a service crash (outbox).

ONE extra ``trendml serve`` (on a copy of the session home, with a policy whose webhooks point at a
loopback receiver): its detection queues the alerts in the outbox with the run; its delivery loop
posts them; the receiver dies in the middle of the second request; the server keeps retrying with
backoff into the refused port, and is then killed (SIGKILL, as a crash). The receiver comes back on
the same port and a fresh sender (``trendml alerts deliver``, the loop's code, run in the test's own
process, not the dead server's) delivers the rest from the outbox: every alert arrives, signed;
repeats only for the request the dying receiver never answered (at least once: receivers dedupe by
the alert id)."""

from __future__ import annotations

import json
import shutil
import signal
import time

import yaml

from tests.conftest import call
from tests.service.alert_receiver import Receiver
from tests.service.harness import start_server

SECRET = "restart-test-secret"


def _policy(path, url: str):
    from trendml.policy import DEFAULT_POLICY_PATH

    obj = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    obj["alerts"] = [
        {"name": "restart-test-new", "when": "trend_new", "min_size": 5, "notify": ["hook"]},
        {
            "name": "restart-test-emerging",
            "when": "trend_emerging",
            "min_size": 5,
            "notify": ["hook", "chat"],
        },
    ]
    obj["webhooks"] = {
        "hook": {"url": url, "format": "json", "secret_env": "TRENDML_WEBHOOK_SECRET"},
        "chat": {"url": url, "format": "slack", "secret_env": "TRENDML_WEBHOOK_SECRET"},
    }
    obj["alert_delivery"] = {"max_attempts": 50, "backoff_s": 0.2, "max_backoff_s": 1.0, "timeout_s": 2}
    path.write_text(yaml.safe_dump(obj))
    return path


def test_delivery_survives_a_receiver_outage_and_a_service_crash(
    service_home, keys, detected, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    shutil.copytree(service_home, home, ignore=shutil.ignore_patterns("server-*.log", "bentoml"))
    rx = Receiver(secret=SECRET, die_at=2)
    env = {
        "TRENDML_POLICY": str(_policy(tmp_path / "policy.yaml", rx.url)),
        "TRENDML_WEBHOOK_SECRET": SECRET,
        "TRENDML_ALERT_DELIVERY_INTERVAL_S": "0.3",
    }
    server = start_server(home, keys=keys, **env)
    try:
        r = server.request("POST", "/v1/detect", "admin", json={"reset": True})
        assert r.status_code == 200, r.text[:300]
        n_alerts = r.json()["n_alerts"]
        assert n_alerts >= 2
        assert rx.stopped.wait(60), "the receiver got (at least) two deliveries and died"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the server retries into the refused port, with backoff
            alerts = server.request("GET", "/v1/alerts", "analyst", params={"limit": 1000}).json()["items"]
            retried = [
                d for a in alerts for d in a["deliveries"] if d["status"] == "pending" and d["attempts"] >= 2
            ]
            if retried:
                break
            time.sleep(0.3)
        assert retried and all(d["last_error"] for d in retried)
    finally:
        server.stop(signal.SIGKILL)  # a crash: nothing of the server survives
    ours = [a for a in alerts if a["rule"].startswith("restart-test")]
    expected = {(a["id"], d["webhook"]) for a in ours for d in a["deliveries"]}
    assert len(ours) == n_alerts and any(d["status"] == "pending" for a in ours for d in a["deliveries"])

    back = Receiver(rx.port, secret=SECRET)
    for k, v in {**env, "TRENDML_HOME": str(home)}.items():
        monkeypatch.setenv(k, v)
    try:  # a fresh sender: the real `trendml alerts deliver` entry point (in-process: no start-up cost)
        code, _, err = call(capsys, "alerts", "deliver", "--until-empty", "60")
        assert code == 0, err[-500:]
        code, out, _ = call(capsys, "alerts", "list", "--json", "--limit", "1000")
        listed = json.loads(out)
    finally:
        back.stop()
    got = rx.received + back.received
    assert {r["alert_id"] for r in got} == {a for a, _ in expected}  # nothing lost
    per_delivery = {}
    for r in got:
        key = (r["alert_id"], "chat" if "text" in r["body"] else "hook")
        per_delivery[key] = per_delivery.get(key, 0) + 1
    assert set(per_delivery) == expected
    assert sum(n - 1 for n in per_delivery.values()) <= 1  # the one request never answered, at most
    assert all(r["signed_ok"] for r in got)  # HMAC-SHA256 with the configured secret
    mine = [a for a in listed["items"] if a["rule"].startswith("restart-test")]
    assert mine and all(d["status"] == "delivered" for a in mine for d in a["deliveries"])
