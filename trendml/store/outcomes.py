"""Moderator outcomes per item: the action a moderator took, the final severity and the policy area.

``POST /v1/items/{id}/outcome`` writes here. Idempotent: recording the outcome an item already has
(same action, severity and policy area) stores nothing; a different one is appended as a change
(``previous_id`` points at the row it replaces), so the latest row per item is its outcome and the
history stays readable. Outcomes are a label source for retraining (``training/feedback.py``) and
what the weekly report measures pre-score precision against (``trendml/reports/outcomes.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import InputError
from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)

ACTIONS = ("none", "removed", "restricted", "escalated")
_CHUNK = 500


class ItemOutcome(Base):
    """One moderator decision on one stored item (the latest row per item is its outcome)."""

    __tablename__ = "item_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(256), index=True)
    action: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int] = mapped_column(Integer)
    policy_area: Mapped[str] = mapped_column(String(64))
    moderator: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the row this one changes (null for an item's first outcome)
    previous_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "action": self.action,
            "severity": self.severity,
            "policy_area": self.policy_area,
            "moderator": self.moderator,
            "previous_id": self.previous_id,
            "decided_at": _aware(self.decided_at).isoformat(),
        }


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_outcome` did: ``status`` is created, unchanged or changed."""

    outcome: ItemOutcome
    status: str


def check_outcome(action: str, severity: int, policy_area: str, areas: Sequence[str] | None = None) -> None:
    """Raise :class:`InputError` naming the field when an outcome is not valid."""
    if action not in ACTIONS:
        raise InputError(f'action is "{action}"; expected one of {", ".join(ACTIONS)}', field="action")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= 3:
        raise InputError(f"severity is {severity!r}; expected an integer 0..3", field="severity")
    if areas is not None and policy_area not in areas:
        raise InputError(
            f'policy_area is "{policy_area}"; expected one of {", ".join(areas)} (models/policy.yaml)',
            field="policy_area",
        )


def latest_outcome(session: Session, item_id: str) -> ItemOutcome | None:
    stmt = select(ItemOutcome).where(ItemOutcome.item_id == item_id).order_by(ItemOutcome.id.desc()).limit(1)
    return session.scalars(stmt).first()


def record_outcome(
    session: Session,
    item_id: str,
    *,
    action: str,
    severity: int,
    policy_area: str,
    moderator: str,
    key_id: int | None = None,
    areas: Sequence[str] | None = None,
    commit: bool = True,
    decided_at: datetime | None = None,
) -> Recorded:
    """Record an outcome (validated; ``areas``: the policy's areas) and commit (unless ``commit``
    is false: a batch commits once). The same outcome as the item's latest is not stored again
    (``unchanged``). ``decided_at`` (default now; never later than now) backdates an imported or
    simulated decision."""
    check_outcome(action, severity, policy_area, areas)
    last = latest_outcome(session, item_id)
    if last is not None and (last.action, last.severity, last.policy_area) == (action, severity, policy_area):
        return Recorded(last, "unchanged")
    row = ItemOutcome(
        item_id=item_id,
        action=action,
        severity=int(severity),
        policy_area=policy_area,
        moderator=moderator,
        key_id=key_id,
        previous_id=last.id if last is not None else None,
        decided_at=min(_aware(decided_at), utcnow()) if decided_at is not None else utcnow(),
    )
    session.add(row)
    if commit:
        session.commit()
    else:
        session.flush()
    return Recorded(row, "created" if last is None else "changed")


def outcome_history(session: Session, item_id: str) -> list[ItemOutcome]:
    return list(
        session.scalars(select(ItemOutcome).where(ItemOutcome.item_id == item_id).order_by(ItemOutcome.id))
    )


def latest_outcomes(session: Session, item_ids: Sequence[str] | None = None) -> dict[str, ItemOutcome]:
    """The latest outcome per item (of ``item_ids``, or of every item when None)."""
    out: dict[str, ItemOutcome] = {}
    if item_ids is None:
        for row in session.scalars(select(ItemOutcome).order_by(ItemOutcome.id)):
            out[row.item_id] = row
        return out
    unique = list(dict.fromkeys(item_ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        for row in session.scalars(
            select(ItemOutcome).where(ItemOutcome.item_id.in_(chunk)).order_by(ItemOutcome.id)
        ):
            out[row.item_id] = row
    return out


def delete_outcomes(session: Session, item_id: str) -> int:
    """Remove an item's outcomes (erasure); no commit. Returns the rows removed."""
    rows = outcome_history(session, item_id)
    for r in rows:
        session.delete(r)
    return len(rows)
