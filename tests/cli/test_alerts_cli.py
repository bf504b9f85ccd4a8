"""``trendml alerts test | list | replay | deliver`` in-process against a loopback receiver."""

from __future__ import annotations

import json

from tests.conftest import call
from tests.service.alert_receiver import Receiver


def test_alerts_test_signs_and_reports_refusals(home, capsys, monkeypatch):
    monkeypatch.setenv("MY_HOOK_SECRET", "k3y")
    rx = Receiver(secret="k3y")
    try:
        code, out, err = call(capsys, "alerts", "test", rx.url, "--secret-env", "MY_HOOK_SECRET")
        assert code == 0, err
        code, _, err = call(capsys, "alerts", "test", rx.url, "--format", "slack")
        assert code == 0, err
    finally:
        rx.stop()
    first, second = rx.received
    assert first["signed_ok"] and first["alert_id"].startswith("al-test-") and first["body"]["test"] is True
    assert "text" in second["body"] and second["alert_id"] in second["body"]["text"]
    code, _, err = call(capsys, "alerts", "test", rx.url)  # the receiver is gone now
    assert code == 1 and "did not accept" in err
    code, _, err = call(capsys, "alerts", "test", "ftp://x")
    assert code == 2 and "expected an http(s) URL" in err


def test_alerts_list_replay_deliver_on_an_empty_outbox(home, capsys):
    code, out, _ = call(capsys, "alerts", "list", "--json")
    assert code == 0 and json.loads(out) == {"total": 0, "items": []}
    code, _, err = call(capsys, "alerts", "replay", "al-nope")
    assert code == 2 and "does not exist" in err
    code, out, err = call(capsys, "alerts", "deliver")
    assert code == 0 and "0 pending" in out + err
