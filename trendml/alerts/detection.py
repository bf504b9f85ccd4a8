"""Alerts of a detection run, queued in the run's own transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from trendml.alerts.outbox import enqueue_op, suppression
from trendml.alerts.rules import AlertCandidate, evaluate
from trendml.policy import Policy

logger = logging.getLogger(__name__)


def queue_alerts(
    state: Any, windows: Sequence[Any], policy: Policy, session: Session
) -> list[AlertCandidate]:
    """Evaluate ``policy.alerts`` over the run's ``windows`` (``WindowResult``: ``start``, ``trends``)
    and add the outbox rows to ``state``'s pending transaction (:meth:`TrendState.also_write`): inside
    :meth:`TrendState.batch` they commit together with the run, or not at all. ``session`` reads the
    analysts' decisions and the alerts already stored."""
    from trendml.trends.queries import trend_members

    if not policy.alerts or not windows:
        return []
    dismissed, alerted = suppression(session, lambda tid: trend_members(state.engine, tid))
    found = evaluate(
        [(w.start, w.trends) for w in windows], policy.alerts, dismissed=dismissed, alerted=alerted
    )
    if found:
        state.also_write(enqueue_op(found))
        logger.info("detection raised %d alerts", len(found))
    return found
