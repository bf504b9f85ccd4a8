"""Time windows: parse ``1d``/``6h``/``30m`` specs and group items into epoch-aligned windows.

Windows are aligned to the Unix epoch (a ``1d`` window starts at 00:00 UTC), so the same item
falls in the same window whether it arrives alone, in a batch or in a later incremental run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from trendml.errors import InputError
from trendml.items import Item

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPEC = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MIN_WINDOW = timedelta(minutes=1)


def parse_window(spec: str | timedelta) -> timedelta:
    """``"1d"`` -> ``timedelta(days=1)``; units s, m, h, d, w. Raises :class:`InputError`."""
    if isinstance(spec, timedelta):
        td = spec
    else:
        m = _SPEC.match(str(spec))
        if not m:
            raise InputError(
                f'window is "{spec}"; expected a number and a unit such as 1d, 6h, 30m or 1w',
                field="window",
            )
        td = timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()])
    if td < MIN_WINDOW:
        raise InputError(f"window is {td}; expected at least 1 minute, such as 1h or 1d", field="window")
    return td


def format_window(td: timedelta) -> str:
    """Inverse of :func:`parse_window` for whole units (``86400 s`` -> ``1d``)."""
    secs = int(td.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if secs % _UNIT_SECONDS[unit] == 0:
            return f"{secs // _UNIT_SECONDS[unit]}{unit}"
    return f"{secs}s"


def window_start(ts: datetime, window: timedelta) -> datetime:
    """Start of the epoch-aligned window that holds ``ts`` (UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    k = (ts.astimezone(UTC) - _EPOCH) // window
    return _EPOCH + k * window


@dataclass(frozen=True)
class WindowSlice:
    """One window of a stream: its bounds and the positions of its items in the input."""

    start: datetime
    end: datetime
    index: np.ndarray  # positions into the caller's items, in canonical (created_at, id) order


def split_windows(items: Sequence[Item], window: timedelta) -> list[WindowSlice]:
    """Group items into windows in time order. Input order does not matter: inside a window
    items are put in canonical ``(created_at, id)`` order so results never depend on it.

    Raises :class:`InputError` naming the first item without ``created_at``.
    """
    missing = [it.id for it in items if it.created_at is None]
    if missing:
        raise InputError(
            f'{len(missing)} items have no created_at (first: id "{missing[0][:60]}"); expected an ISO-8601 '
            "time such as 2026-03-01T12:00:00Z on every item (trend detection groups items by time)",
            field="created_at",
        )
    order = sorted(range(len(items)), key=lambda i: (items[i].created_at, items[i].id))
    groups: dict[datetime, list[int]] = {}
    for i in order:
        created = items[i].created_at
        assert created is not None
        groups.setdefault(window_start(created, window), []).append(i)
    return [
        WindowSlice(start=s, end=s + window, index=np.asarray(groups[s], dtype=np.int64))
        for s in sorted(groups)
    ]
