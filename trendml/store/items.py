"""Stored flagged items (input of trend detection) and their latest severity score.

One row per item id. ``POST /v1/items`` inserts; ``POST /v1/score`` and detection fill
the score columns (``severity``, ``severity_probs``, ``model_version``) so a trend's
representative items can be shown with their scores without re-scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.items import Item
from trendml.store.base import Base
from trendml.text import content_hash
from trendml.utc import aware as _aware
from trendml.utc import utcnow

logger = logging.getLogger(__name__)

_CHUNK = 500


class StoredItem(Base):
    """A flagged item kept for trend detection."""

    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(2), nullable=True, index=True)
    source: Mapped[str | None] = mapped_column(String(128), nullable=True)
    report_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    severity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    severity_probs: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: detected language (ISO 639-1, ``und`` when undetermined; :mod:`trendml.language`); null for
    #: rows stored before detection
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)

    def to_item(self) -> Item:
        """The stored item, not validated again (it was validated when stored; limits may have
        changed since, and a stored row must stay readable)."""
        return Item.model_construct(
            id=self.id,
            text=self.text,
            caption=self.caption,
            created_at=_aware(self.created_at),
            region=self.region,
            source=self.source,
            report_reason=self.report_reason,
        )


def _row(item: Item, language: str | None = None) -> StoredItem:
    from trendml.language import detect_language

    return StoredItem(
        language=language if language is not None else detect_language(item.content)[0],
        id=item.id,
        text=item.text,
        caption=item.caption,
        created_at=item.created_at,
        region=item.region,
        source=item.source,
        report_reason=item.report_reason,
        content_hash=content_hash(item.content),
        received_at=utcnow(),
    )


def existing_ids(session: Session, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found.update(session.scalars(select(StoredItem.id).where(StoredItem.id.in_(chunk))))
    return found


def add_items(session: Session, items: Iterable[Item]) -> tuple[int, int]:
    """Insert items whose id is not stored yet; return ``(stored, duplicates)``.

    An id already stored is left as it is (the first report wins) and counted as a duplicate.
    Commits. Safe under concurrent writers: a race on the same id is retried row by row.
    """
    items = list(items)
    first: dict[str, Item] = {}
    for it in items:
        first.setdefault(it.id, it)  # a repeated id: the first one wins, as for stored ids
    batch = list(first.values())
    n_in_request_dups = len(items) - len(batch)
    known = existing_ids(session, [it.id for it in batch])
    new = [it for it in batch if it.id not in known]
    from trendml.language import detect_languages

    languages = dict(zip([it.id for it in new], detect_languages([it.content for it in new]), strict=True))
    try:
        session.add_all([_row(it, languages[it.id]) for it in new])
        session.commit()
        stored = len(new)
    except IntegrityError:
        session.rollback()
        stored = 0
        for it in new:
            try:
                session.add(_row(it, languages[it.id]))
                session.commit()
                stored += 1
            except IntegrityError:
                session.rollback()
    return stored, len(batch) - stored + n_in_request_dups


def id_chunks(ids: Iterable[str], size: int = _CHUNK) -> Iterable[list[str]]:
    """``ids`` without repeats, in lists of at most ``size`` (one ``IN (...)`` query each)."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def get_items(session: Session, ids: Sequence[str]) -> dict[str, StoredItem]:
    out: dict[str, StoredItem] = {}
    for chunk in id_chunks(ids):
        out.update(
            {row.id: row for row in session.scalars(select(StoredItem).where(StoredItem.id.in_(chunk)))}
        )
    return out


def items_for_detection(
    session: Session, *, since: datetime | None = None, before: datetime | None = None
) -> list[StoredItem]:
    """Stored items that have a ``created_at`` in ``[since, before)``, oldest first."""
    stmt = select(StoredItem).where(StoredItem.created_at.is_not(None))
    if since is not None:
        stmt = stmt.where(StoredItem.created_at >= since)
    if before is not None:
        stmt = stmt.where(StoredItem.created_at < before)
    return list(session.scalars(stmt.order_by(StoredItem.created_at, StoredItem.id)))


def count_items(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(StoredItem)) or 0)


def content_conflicts(session: Session, items: Sequence[Item]) -> list[int]:
    """Indexes of ``items`` whose id is stored with other content (another content hash).

    Reads two columns, not the rows: the service asks this once per score request."""
    stored: dict[str, str | None] = {}
    for chunk in id_chunks(it.id for it in items):
        stmt = select(StoredItem.id, StoredItem.content_hash).where(StoredItem.id.in_(chunk))
        stored.update({row.id: row.content_hash for row in session.execute(stmt)})
    return [i for i, it in enumerate(items) if it.id in stored and stored[it.id] != content_hash(it.content)]


def record_scores(session: Session, scores: Iterable[dict[str, Any]]) -> int:
    """Write severity scores onto stored items (ids not stored are skipped); no commit.

    A score that carries ``content_hash`` is written only onto a row with that same content hash,
    so a score of other text can never overwrite a stored item's score."""
    scores = list(scores)
    rows = get_items(session, [s["id"] for s in scores])
    for s in scores:
        row = rows.get(s["id"])
        if row is not None and s.get("content_hash") not in (None, row.content_hash):
            continue
        if row is not None:
            row.severity = int(s["severity"])
            row.severity_probs = [float(p) for p in s["severity_probs"]]
            row.model_version = str(s["model"]["version"])
    return sum(1 for s in scores if s["id"] in rows)
