"""Adapter between the service and the trend engine (:mod:`trendml.trends`).

The service only calls the methods below. When the trend engine is not importable the
backend reports ``available = False``: scoring still works (``trend_id`` is null), trend
listings are empty and detection answers 503 with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from trendml.items import Item

logger = logging.getLogger(__name__)


class TrendBackend:
    def __init__(self, engine: Any, sessionmaker: Any) -> None:
        self.engine = engine
        self.Session = sessionmaker
        self.reason: str | None = None
        try:
            import trendml.trends  # noqa: F401
        except ImportError as exc:
            self.available = False
            self.reason = (
                f"the trend engine is not available ({exc}); expected the trendml.trends package; "
                "trend features are off until it is installed"
            )
        else:
            self.available = hasattr(trendml.trends, "TrendDetector")
            if not self.available:
                self.reason = "trendml.trends has no TrendDetector yet; trend features are off"

    # Filled in against the trend engine's API --------------------------------------------
    def assign(self, items: Sequence[Item], vectors: np.ndarray) -> list[tuple[str | None, bool]]:
        return [(None, False) for _ in items]

    def detect(self, items: Sequence[Item], vectors: np.ndarray, severity: Sequence[int] | None) -> dict[str, Any]:
        return {"n_windows": 0, "n_trends": 0, "n_emerging": 0}

    def list_trends(
        self,
        *,
        status: str | None = None,
        emerging: bool | None = None,
        region: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        return []

    def get_trend(self, trend_id: str) -> dict[str, Any] | None:
        return None

    def members(self) -> dict[str, list[str]]:
        return {}
