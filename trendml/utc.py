"""UTC time helpers, defined once. Everything trendml stores is UTC; SQLite hands datetimes back
naive, PostgreSQL aware: these put both on one footing."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    """``dt`` as an aware UTC datetime (a naive one is taken as UTC); ``None`` stays ``None``."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def naive(dt: datetime) -> datetime:
    """``dt`` as a naive UTC datetime (how the tables compare it); a naive one is taken as UTC."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def iso_z(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z`` suffix (a naive ``dt`` is taken as UTC); ``None`` stays ``None``."""
    dt = aware(dt)
    return dt.isoformat().replace("+00:00", "Z") if dt is not None else None
