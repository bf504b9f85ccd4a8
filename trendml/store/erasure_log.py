"""The erasure log: which item was erased, when, by whom, and the hash of its content (never text).

Written in the same transaction that erases the item (:mod:`trendml.erasure`), so an erased item
always has its log row. Readable by an auditor through ``GET /v1/erasures`` and
``trendml items erasures``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base
from trendml.store.items import _aware, utcnow

logger = logging.getLogger(__name__)


class Erasure(Base):
    """One erased item."""

    __tablename__ = "erasure_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(256), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    #: the key's name, ``cli`` or ``retention``
    actor: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: ``request`` (an erasure request) or ``retention`` (older than the retention period)
    reason: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: what was removed where (counts only)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "content_hash": self.content_hash,
            "actor": self.actor,
            "key_id": self.key_id,
            "reason": self.reason,
            "at": _aware(self.at).isoformat(),
            "detail": self.detail,
        }


def list_erasures(
    session: Session, *, item_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[Erasure]:
    """Erasures, newest first (of one item id when given)."""
    stmt = select(Erasure)
    if item_id is not None:
        stmt = stmt.where(Erasure.item_id == item_id)
    return list(session.scalars(stmt.order_by(Erasure.id.desc()).offset(offset).limit(limit)))
