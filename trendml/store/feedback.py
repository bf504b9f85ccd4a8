"""Analyst feedback on trends (confirm / dismiss / escalate + note), exportable as labels.

Export rule (documented in docs/service.md): the *latest* action per trend decides; a
``confirm`` or ``escalate`` marks the trend's member items as abuse (``label=1``), a
``dismiss`` as not-a-campaign (``label=0``). Rows carry the severity the item was scored with,
so retraining can weigh them; the item text is joined from the items table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import InputError
from trendml.store.base import Base
from trendml.store.items import _aware, get_items, utcnow

logger = logging.getLogger(__name__)

ACTIONS = ("confirm", "dismiss", "escalate")
LABEL_OF_ACTION = {"confirm": 1, "escalate": 1, "dismiss": 0}


class TrendFeedback(Base):
    """One analyst decision on one trend."""

    __tablename__ = "trend_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trend_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    analyst: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trend_id": self.trend_id,
            "action": self.action,
            "note": self.note,
            "analyst": self.analyst,
            "created_at": _aware(self.created_at).isoformat(),
        }


def add_feedback(
    session: Session, trend_id: str, action: str, note: str | None, analyst: str
) -> TrendFeedback:
    """Store one decision and commit."""
    if action not in ACTIONS:
        raise InputError(f'action is "{action}"; expected one of {", ".join(ACTIONS)}', field="action")
    row = TrendFeedback(trend_id=trend_id, action=action, note=note, analyst=analyst, created_at=utcnow())
    session.add(row)
    session.commit()
    return row


def list_feedback(session: Session, trend_id: str | None = None) -> list[TrendFeedback]:
    stmt = select(TrendFeedback).order_by(TrendFeedback.id)
    if trend_id is not None:
        stmt = stmt.where(TrendFeedback.trend_id == trend_id)
    return list(session.scalars(stmt))


def latest_actions(session: Session) -> dict[str, TrendFeedback]:
    """The latest decision per trend id."""
    out: dict[str, TrendFeedback] = {}
    for row in list_feedback(session):
        out[row.trend_id] = row
    return out


def export_labels(session: Session, members: Callable[[str], Sequence[str]]) -> Iterable[dict[str, Any]]:
    """Label rows for retraining: one per member item of each trend with feedback.

    ``members(trend_id)`` gives a trend's member item ids (from the trend state). Yields dicts with
    ``id, text, caption, label, action, trend_id, severity, model_version, analyst, decided_at``.
    Items not in the items table are yielded without text (their ids are still useful).
    """
    for trend_id, fb in latest_actions(session).items():
        ids = list(members(trend_id))
        rows = get_items(session, ids)
        for item_id in ids:
            row = rows.get(item_id)
            yield {
                "id": item_id,
                "text": row.text if row else None,
                "caption": row.caption if row else None,
                "label": LABEL_OF_ACTION[fb.action],
                "action": fb.action,
                "trend_id": trend_id,
                "severity": row.severity if row else None,
                "model_version": row.model_version if row else None,
                "analyst": fb.analyst,
                "decided_at": _aware(fb.created_at).isoformat(),
            }


def latest_feedback(session: Session, trend_id: str) -> TrendFeedback | None:
    """The current (latest) decision on one trend, or None."""
    return session.scalars(
        select(TrendFeedback)
        .where(TrendFeedback.trend_id == trend_id)
        .order_by(TrendFeedback.id.desc())
        .limit(1)
    ).first()
