"""Report periods: a daily or weekly UTC range ending on a given day."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from trendml.errors import InputError

logger = logging.getLogger(__name__)

PERIODS = {"daily": 1, "weekly": 7}


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, made of ``days`` whole days; ``last_day`` is the day the period ends on."""

    kind: str
    start: datetime
    end: datetime
    last_day: date

    @property
    def days(self) -> list[date]:
        n = (self.end - self.start).days
        return [self.start.date() + timedelta(days=k) for k in range(n)]

    @property
    def label(self) -> str:
        if self.kind == "daily":
            return self.last_day.isoformat()
        return f"{self.days[0].isoformat()} to {self.last_day.isoformat()}"

    def contains(self, dt: datetime | None) -> bool:
        return dt is not None and self.start <= dt < self.end


def parse_day(value: str | date | None, *, today: date | None = None) -> date:
    """A ``YYYY-MM-DD`` string (or a date) as a date; ``None`` is yesterday in UTC (the last complete
    day: a period ending today would end with a partial day that looks like a collapse)."""
    if value is None:
        return (today or datetime.now(UTC).date()) - timedelta(days=1)
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(
            f'date is "{value}"; expected a day as YYYY-MM-DD such as 2026-03-07', field="date"
        ) from None


def report_period(kind: str, last_day: str | date | None = None, *, today: date | None = None) -> Period:
    """The ``daily`` (that day) or ``weekly`` (the 7 days ending on that day) period, in UTC."""
    if kind not in PERIODS:
        raise InputError(f'period is "{kind}"; expected one of {", ".join(PERIODS)}', field="period")
    day = parse_day(last_day, today=today)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    start = end - timedelta(days=PERIODS[kind])
    return Period(kind=kind, start=start, end=end, last_day=day)
