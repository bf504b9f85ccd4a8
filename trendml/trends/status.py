"""A trend's status in a window, written once: the detector sets it, the store keeps it, the API,
the dashboard and the reports filter and show it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class TrendStatus(StrEnum):
    """``new`` (first window), then by the growth z-score against its own history: ``growing``,
    ``stable`` or ``fading``. A ``str``: it is stored, compared and serialised as its value."""

    NEW = "new"
    GROWING = "growing"
    STABLE = "stable"
    FADING = "fading"


#: the status values, in order (for validation messages, filters and the dashboard's select)
STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in TrendStatus)

#: the same values as a ``Literal`` type (API query parameters keep their plain-string schema)
StatusName = Literal[STATUS_VALUES]  # type: ignore[valid-type]


def parse_status(value: str) -> TrendStatus | None:
    """The status named ``value``, or ``None`` when it names none."""
    return TrendStatus._value2member_map_.get(value)  # type: ignore[return-value]
