"""Emerging-trend detection: time windows, HDBSCAN per window, stable trend ids, emergence
(burst vs history, novelty, density ratio), US-specific lift, c-TF-IDF keywords.

Heavy imports (hdbscan, sklearn, scipy) happen when a window is clustered.
"""

from __future__ import annotations

from trendml.trends.detector import DetectionResult, TrendDetector, WindowResult, assign
from trendml.trends.record import TrendSnapshot
from trendml.trends.state import TrendState
from trendml.trends.windows import parse_window, split_windows, window_start

__all__ = [
    "DetectionResult",
    "TrendDetector",
    "TrendSnapshot",
    "TrendState",
    "WindowResult",
    "assign",
    "parse_window",
    "split_windows",
    "window_start",
]
