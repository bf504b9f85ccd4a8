"""Erasure in the trend state: an erased item's id leaves every trend's members and representatives,
the retired trends' member lists and the windows' history samples (with its vector).

One call runs inside the caller's transaction (:mod:`trendml.erasure`) and bumps the state's
generation, so readers reload and a detection run that started before the erasure cannot commit
over it (its compare-and-swap on the generation fails; the next run sees the item gone).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trendml.trends.state import TrendObservation, TrendRetired, TrendVersion, TrendWindow, _pack, _unpack

logger = logging.getLogger(__name__)


def forget_items(session: Session, item_ids: Collection[str]) -> dict[str, int]:
    """Remove ``item_ids`` from the trend state (no commit). Returns counts of the rows changed."""
    ids = set(item_ids)
    out = {"observations": 0, "retired": 0, "windows": 0}
    if not ids:
        return out
    for obs in session.scalars(select(TrendObservation)):
        payload = json.loads(obs.payload)
        members = payload.get("member_ids") or []
        reps = payload.get("representative_ids") or []
        if ids.isdisjoint(members) and ids.isdisjoint(reps):
            continue
        payload["member_ids"] = [i for i in members if i not in ids]
        payload["representative_ids"] = [i for i in reps if i not in ids]
        obs.payload = json.dumps(payload)
        out["observations"] += 1
    for row in session.scalars(select(TrendRetired)):
        members = json.loads(row.member_ids or "[]")
        if not ids.isdisjoint(members):
            row.member_ids = json.dumps([i for i in members if i not in ids])
            out["retired"] += 1
    for w in session.scalars(select(TrendWindow).where(TrendWindow.history.is_not(None))):
        hist_ids, vectors = _unpack(w.history)
        keep = [k for k, i in enumerate(hist_ids) if i not in ids]
        if len(keep) == len(hist_ids):
            continue
        w.history = _pack([hist_ids[k] for k in keep], vectors[keep])
        w.history_n = len(keep)
        out["windows"] += 1
    if any(out.values()):
        session.execute(
            update(TrendVersion)
            .where(TrendVersion.id == 1)
            .values(generation=TrendVersion.generation + 1, changed_at=datetime.now(UTC).replace(tzinfo=None))
        )
    return out
