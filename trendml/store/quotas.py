"""Per-key request quotas kept in the store, so every service worker process (and replica) draws on
one token bucket per key.

A bucket is a row ``(key_id, tokens, updated_at_s)``. Taking a token is one atomic ``UPDATE ...
WHERE`` the refilled level is at least one, on SQLite and PostgreSQL alike (the database serialises
concurrent writers, so two workers never spend the same token); a missing row is inserted full
minus the token taken. A refused request writes nothing: the refill is computed from the stored
level and time, so the wait it reports stays exact. Times are UNIX seconds.
"""

from __future__ import annotations

import time

from sqlalchemy import Float, Integer, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base


class QuotaBucket(Base):
    __tablename__ = "quota_buckets"

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at_s: Mapped[float] = mapped_column(Float)


def take_token(
    session: Session, key_id: int, *, per_minute: float, burst: float, now: float | None = None
) -> float:
    """Spend one of ``key_id``'s tokens: 0.0 when the request may go, else the seconds until one is
    back. The bucket holds at most ``burst`` tokens and refills at ``per_minute`` per minute. Commits."""
    if per_minute <= 0 or burst < 1:
        raise ValueError(
            f"per_minute={per_minute!r}, burst={burst!r}; expected per_minute > 0 and burst >= 1 "
            "(quotas are off when per_minute is 0: do not call this then)"
        )
    now = time.time() if now is None else now
    rate = per_minute / 60.0
    refilled = QuotaBucket.tokens + (now - QuotaBucket.updated_at_s) * rate
    level = case((refilled > burst, burst), else_=refilled)
    for _ in range(5):  # another round only when another worker changed the row between two statements
        taken = session.execute(
            update(QuotaBucket)
            .where(QuotaBucket.key_id == key_id, level >= 1.0)
            .values(tokens=level - 1.0, updated_at_s=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken == 1:
            session.commit()
            return 0.0
        row = session.execute(
            select(QuotaBucket.tokens, QuotaBucket.updated_at_s).where(QuotaBucket.key_id == key_id)
        ).first()
        if row is not None:
            session.rollback()
            tokens = min(burst, row.tokens + (now - row.updated_at_s) * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate
            continue
        try:
            session.add(QuotaBucket(key_id=key_id, tokens=burst - 1.0, updated_at_s=now))
            session.commit()
            return 0.0
        except IntegrityError:
            session.rollback()
    return 1.0 / rate  # five rounds lost to other writers: refuse briefly rather than spin
