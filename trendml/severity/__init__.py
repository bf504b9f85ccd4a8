"""Severity pre-scoring: features, the estimator, pure metric functions and test splits.

0 none · 1 offensive · 2 hateful · 3 threat/violent (``trendml.datasets.SEVERITY_LABELS``).
"""

from __future__ import annotations

from trendml.severity import metrics
from trendml.severity.estimator import SeverityModel, fit_severity, severity_decision, severity_proba
from trendml.severity.scoring import score_items
from trendml.severity.splits import assign_splits, hashed_stratified_split

__all__ = [
    "SeverityModel",
    "assign_splits",
    "fit_severity",
    "hashed_stratified_split",
    "metrics",
    "score_items",
    "severity_decision",
    "severity_proba",
]
