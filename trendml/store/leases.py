"""Named leases in the store: one holder at a time across processes and machines (service replicas).

A lease is a row ``(name, holder, expires_at_s)``. Taking it is one atomic statement on SQLite and
PostgreSQL alike: an ``INSERT`` when no row exists, else an ``UPDATE ... WHERE`` the row has expired
or already belongs to the caller (the database serialises the two writers; exactly one sees a row
count of 1). The holder renews it while it works and deletes it when done; a holder that dies stops
renewing and the lease lapses after its time to live, so a crashed replica never blocks the others
for longer than that. Times are UNIX seconds (a float column compares the same on every backend).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Float, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.store.base import Base

logger = logging.getLogger(__name__)


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at_s: Mapped[float] = mapped_column(Float)
    expires_at_s: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at_s: float
    expires_at_s: float


def acquire_lease(
    session: Session, name: str, holder: str, *, ttl_s: float, now: float | None = None
) -> bool:
    """Take (or renew) lease ``name`` for ``holder`` for ``ttl_s`` seconds; False if another holder has
    it and it has not expired. Commits."""
    now = time.time() if now is None else now
    expires = now + ttl_s
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.expires_at_s < now) | (Lease.holder == holder))
        .values(holder=holder, acquired_at_s=now, expires_at_s=expires)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken == 1:
        session.commit()
        return True
    session.rollback()
    exists = session.execute(select(Lease.name).where(Lease.name == name)).first() is not None
    if exists:
        session.rollback()
        return False
    try:
        session.add(Lease(name=name, holder=holder, acquired_at_s=now, expires_at_s=expires))
        session.commit()
        return True
    except IntegrityError:  # another process inserted it first
        session.rollback()
        return False


def renew_lease(session: Session, name: str, holder: str, *, ttl_s: float, now: float | None = None) -> bool:
    """Extend ``holder``'s lease; False when it no longer holds it (it lapsed and was taken). Commits."""
    now = time.time() if now is None else now
    n = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at_s=now + ttl_s)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return n == 1


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Give the lease back (only if ``holder`` still holds it). Commits."""
    n = session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder)).rowcount
    session.commit()
    return n == 1


def lease_info(session: Session, name: str) -> LeaseInfo | None:
    row = session.get(Lease, name)
    if row is None:
        return None
    return LeaseInfo(row.name, row.holder, row.acquired_at_s, row.expires_at_s)
