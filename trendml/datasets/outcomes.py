"""Simulated moderator outcomes for a demo stream (the weekly report's pre-score precision needs them).

A moderator's final severity is the item's dataset label, except that with probability ``noise``
it is one level off (moderators disagree with the annotators too); the action follows from the
severity (0 none, 1 restricted, 2 removed, 3 escalated) and the policy area from the item's report
reason (``policy.policy_area``). Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

ACTION_OF_SEVERITY = {0: "none", 1: "restricted", 2: "removed", 3: "escalated"}


def simulate_outcomes(
    items: Sequence[Any],
    labels: Mapping[str, int],
    *,
    policy: Any = None,
    share: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Outcomes (``item_id, action, severity, policy_area, decided_at``) for ``share`` of the labelled
    items; ``decided_at`` is 1-12 hours after the item was posted (``None`` for an item without a time),
    as a moderation queue would decide it."""
    rng = np.random.default_rng(seed)
    out = []
    for it in items:
        if it.id not in labels or rng.random() >= share:
            continue
        sev = int(labels[it.id])
        if rng.random() < noise:
            sev = int(np.clip(sev + rng.choice([-1, 1]), 0, 3))
        area = policy.policy_area(it.report_reason) if policy is not None else "other"
        delay = timedelta(hours=float(rng.uniform(1.0, 12.0)))
        out.append(
            {
                "item_id": it.id,
                "action": ACTION_OF_SEVERITY[sev],
                "severity": sev,
                "policy_area": area,
                "decided_at": it.created_at + delay if it.created_at is not None else None,
            }
        )
    return out
