"""Audit log of every score the service returned: item id, input hash, model, scores, time.

Written in the same transaction that acknowledges a ``POST /v1/score`` batch, so an answer
the caller received always has its audit row (SQLite ``synchronous=FULL``; PostgreSQL
commits are durable by default).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base
from trendml.store.items import id_chunks, utcnow

logger = logging.getLogger(__name__)


class ScoreAudit(Base):
    """One scored item, as answered."""

    __tablename__ = "score_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(256), index=True)
    input_hash: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[int] = mapped_column(Integer)
    severity_probs: Mapped[list[float]] = mapped_column(JSON)
    trend_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    emerging: Mapped[bool | None] = mapped_column(nullable=True)
    #: assigned / outlier / no_state / unavailable (assignment could not run: see /v1/model)
    trend_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    priority: Mapped[int] = mapped_column(Integer)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: The API key that made the call (its id and name); null for rows written before keys were
    #: recorded (older databases get the columns from :mod:`trendml.store.admin_audit`).
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(128), nullable=True)


def add_audit(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Append audit rows (keys: item_id, input_hash, model_name, model_version, severity,
    severity_probs, trend_id, emerging, priority, and optionally trend_status, key_id, key_name); no
    commit."""
    now = utcnow()
    values = [{"scored_at": now, **row} for row in rows]
    if values:  # one executemany, no ORM objects (the service writes one per scored item)
        session.execute(insert(ScoreAudit), values)
    return len(values)


def latest_audit_values(session: Session, item_ids: Iterable[str], column: Any) -> dict[str, Any]:
    """``item_id -> column`` of each item's latest audit row (``column``: a ``ScoreAudit``
    attribute, e.g. ``ScoreAudit.severity``); items never scored are absent."""
    out: dict[str, Any] = {}
    for chunk in id_chunks(item_ids):
        stmt = select(ScoreAudit.item_id, column).where(ScoreAudit.item_id.in_(chunk)).order_by(ScoreAudit.id)
        out.update({item_id: value for item_id, value in session.execute(stmt)})  # later rows win
    return out


def audit_for(session: Session, item_ids: Sequence[str]) -> list[ScoreAudit]:
    stmt = select(ScoreAudit).where(ScoreAudit.item_id.in_(list(item_ids))).order_by(ScoreAudit.id)
    return list(session.scalars(stmt))


def count_audit(session: Session, *, model_version: str | None = None) -> int:
    stmt = select(func.count()).select_from(ScoreAudit)
    if model_version is not None:
        stmt = stmt.where(ScoreAudit.model_version == model_version)
    return int(session.scalar(stmt) or 0)
