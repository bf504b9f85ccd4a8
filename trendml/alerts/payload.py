"""Webhook payloads (generic JSON and Slack-compatible) and their HMAC-SHA256 signature.

Every delivery carries the alert id in its body and in ``X-Trendml-Alert-Id``: delivery is at least
once, so receivers dedupe by it. With a secret, ``X-Trendml-Signature: sha256=<hex>`` is the
HMAC-SHA256 of ``<X-Trendml-Timestamp>.<body bytes>`` under the secret (docs/alerts.md shows how to
check it). Pure functions: no network here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

ALERT_ID_HEADER = "X-Trendml-Alert-Id"
SIGNATURE_HEADER = "X-Trendml-Signature"
TIMESTAMP_HEADER = "X-Trendml-Timestamp"
ATTEMPT_HEADER = "X-Trendml-Attempt"


def slack_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` plus blocks) for the generic ``alert`` dict."""
    mix = alert.get("severity_share")
    share = f", {mix:.0%} at severity >= {alert.get('min_severity', 0)}" if mix is not None else ""
    text = (
        f"trendml alert `{alert['rule']}`: trend {alert['trend_id']} ({alert.get('status')}, "
        f"{alert.get('size')} items{share}) in the window of {alert.get('window_start')} "
        f"[alert {alert['alert_id']}]"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"alert_id: {alert['alert_id']}"}],
            },
        ],
        "alert_id": alert["alert_id"],
    }


def body_bytes(alert: Mapping[str, Any], fmt: str) -> bytes:
    """The request body for a webhook of format ``fmt`` (``json`` or ``slack``)."""
    obj = slack_body(alert) if fmt == "slack" else dict(alert)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


def headers(
    alert_id: str, body: bytes, *, timestamp: str, attempt: int, secret: str | None
) -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        ALERT_ID_HEADER: alert_id,
        TIMESTAMP_HEADER: timestamp,
        ATTEMPT_HEADER: str(attempt),
        "User-Agent": "trendml-alerts",
    }
    if secret:
        out[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return out
