"""Alerts: rules over detected trends (:mod:`.rules`), the outbox tables written in the same
transaction as the detection results (:mod:`.outbox`), and the webhook payloads with their
HMAC-SHA256 signature (:mod:`.payload`). Delivery itself (network) is a shell's job:
``service/alert_delivery.py`` (the service's loop and ``trendml alerts deliver``). See docs/alerts.md."""

from __future__ import annotations

from trendml.alerts.outbox import (
    AlertDeliveryRow,
    AlertRow,
    enqueue_op,
    list_alerts,
    replay_alert,
    suppression,
)
from trendml.alerts.rules import AlertCandidate, evaluate, rule_matches

__all__ = [
    "AlertCandidate",
    "AlertDeliveryRow",
    "AlertRow",
    "enqueue_op",
    "evaluate",
    "list_alerts",
    "replay_alert",
    "rule_matches",
    "suppression",
]
