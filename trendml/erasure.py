"""Erasure of stored items and the retention rule (docs/items.md, "Erasure and retention").

:func:`erase_items` removes an item's text everywhere trendml holds it, in one transaction on the
application database:

- the ``items`` row (text, caption and everything else about it);
- the item's id in the trend state: trend members, representatives, retired trends' members and
  the windows' history samples (:mod:`trendml.trends.forget`);
- analyst and QA notes that quote the text: the quote is replaced by ``[erased]``;
- QA samples of the item;
- then the embedding cache entry of its content hash, unless another stored item has the same
  content (the cache is a separate SQLite file: it is cleaned after the database commit).

Kept, because they hold no text: score audit rows (input hash), moderator outcomes, trend sizes
and counts, the admin audit log. Each erased item gets an :class:`~trendml.store.erasure_log.Erasure`
row (who, when, id, content hash) in the same transaction.

:func:`apply_retention` erases every item received more than ``days`` days ago.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trendml.errors import InputError

logger = logging.getLogger(__name__)

REDACTED = "[erased]"
MIN_QUOTE_CHARS = 8


@dataclass
class ErasureResult:
    erased: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    cache_entries: int = 0
    detail: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased": self.erased,
            "unknown": self.unknown,
            "cache_entries": self.cache_entries,
            "detail": self.detail,
        }


def _redact_notes(session: Session, quotes: Sequence[str]) -> int:
    from trendml.store.feedback import TrendFeedback
    from trendml.store.qa import QAReview

    quotes = [q for q in {q.strip() for q in quotes if q} if len(q) >= MIN_QUOTE_CHARS]
    if not quotes:
        return 0
    n = 0
    for model in (TrendFeedback, QAReview):
        for row in session.scalars(select(model).where(model.note.is_not(None))):
            note = row.note
            for q in quotes:
                if q in note:
                    note = note.replace(q, REDACTED)
            if note != row.note:
                row.note = note
                n += 1
    return n


def erase_items(
    session: Session,
    item_ids: Sequence[str],
    *,
    actor: str,
    key_id: int | None = None,
    reason: str = "request",
    cache_path: str | Path | None = None,
    search_dir: str | Path | None = None,
) -> ErasureResult:
    """Erase ``item_ids`` (module doc) and commit; ids not stored are returned as ``unknown``.
    ``search_dir`` (``TRENDML_HOME/search``): the semantic search index drops them at once too."""
    from trendml.store.erasure_log import Erasure
    from trendml.store.items import StoredItem, get_items
    from trendml.store.qa import QASample
    from trendml.trends.forget import forget_items
    from trendml.utc import utcnow

    if reason not in ("request", "retention"):
        raise InputError(f'reason is "{reason}"; expected request or retention', field="reason")
    ids = list(dict.fromkeys(str(i) for i in item_ids))
    rows = get_items(session, ids)
    result = ErasureResult(erased=[i for i in ids if i in rows], unknown=[i for i in ids if i not in rows])
    if not rows:
        return result
    hashes = {i: r.content_hash for i, r in rows.items()}
    quotes = [q for r in rows.values() for q in (r.text, r.caption) if q]
    notes = _redact_notes(session, quotes)
    sampled = 0
    for s in session.scalars(select(QASample).where(QASample.item_id.in_(list(rows)))):
        session.delete(s)
        sampled += 1
    trend = _forget_in_trends(session, list(rows), forget_items)
    now = utcnow()
    for item_id, row in rows.items():
        session.delete(row)
        session.add(
            Erasure(
                item_id=item_id,
                content_hash=hashes[item_id],
                actor=actor,
                key_id=key_id,
                reason=reason,
                at=now,
                detail={"notes_redacted": notes, "qa_samples": sampled, **trend},
            )
        )
    session.flush()
    still_used = set(
        session.scalars(
            select(StoredItem.content_hash).where(StoredItem.content_hash.in_(sorted(set(hashes.values()))))
        )
    )
    session.commit()
    result.detail = {"notes_redacted": notes, "qa_samples": sampled, **trend}
    orphaned = sorted(set(hashes.values()) - still_used)
    if cache_path is not None and orphaned and Path(cache_path).exists():
        from trendml.embed import EmbeddingCache

        cache = EmbeddingCache(cache_path)
        try:
            result.cache_entries = cache.delete_hashes(orphaned)
        finally:
            cache.close()
    if search_dir is not None and result.erased:
        from trendml.search.vector import forget_ids

        result.detail["search_index"] = forget_ids(search_dir, result.erased)
    logger.info(
        "erased %d items (%s; %d cache entries, %d unknown ids)",
        len(result.erased),
        reason,
        result.cache_entries,
        len(result.unknown),
    )
    return result


def _forget_in_trends(session: Session, ids: list[str], forget: Any) -> dict[str, int]:
    """The trend state's part of an erasure; nothing when the database has no trend tables yet."""
    from sqlalchemy import inspect

    if not inspect(session.get_bind()).has_table("trend_observations"):
        return {"observations": 0, "retired": 0, "windows": 0}
    return forget(session, ids)


def expired_ids(
    session: Session, days: int, *, now: datetime | None = None, limit: int = 10_000
) -> list[str]:
    """Ids of items received more than ``days`` days before ``now`` (oldest first)."""
    from trendml.store.items import StoredItem
    from trendml.utc import utcnow

    cutoff = (now or utcnow()) - timedelta(days=days)
    stmt = (
        select(StoredItem.id)
        .where(StoredItem.received_at < cutoff)
        .order_by(StoredItem.received_at, StoredItem.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def apply_retention(
    session: Session,
    days: int,
    *,
    actor: str = "retention",
    cache_path: str | Path | None = None,
    search_dir: str | Path | None = None,
    now: datetime | None = None,
    batch: int = 500,
) -> int:
    """Erase every item received more than ``days`` days ago (in batches); returns how many.
    ``days`` <= 0 keeps everything."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise InputError(
            f"retention days is {days!r}; expected a whole number of days", field="retention_days"
        )
    if days <= 0:
        return 0
    total = 0
    while True:
        ids = expired_ids(session, days, now=now, limit=batch)
        if not ids:
            return total
        total += len(erase_items(
                session, ids, actor=actor, reason="retention", cache_path=cache_path, search_dir=search_dir
            ).erased
        )


def count_expired(session: Session, days: int, *, now: datetime | None = None) -> int:
    from trendml.store.items import StoredItem
    from trendml.utc import utcnow

    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    return int(
        session.scalar(select(func.count()).select_from(StoredItem).where(StoredItem.received_at < cutoff))
        or 0
    )
