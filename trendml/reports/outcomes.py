"""Pre-scores against moderator outcomes: precision and recall per level and the confusion matrix.

Pure functions over ``(pre_score, outcome_severity)`` pairs (the loader in
:mod:`trendml.reports.load` pairs each item's latest outcome decided in the period with the
severity it was pre-scored with). Precision of level L: of the items pre-scored L, the share whose
moderator outcome is L; recall of L: of the items moderators put at L, the share pre-scored L.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LEVELS = (0, 1, 2, 3)


def confusion(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """4x4 counts: row = pre-score level, column = outcome level."""
    m = [[0] * len(LEVELS) for _ in LEVELS]
    for pre, final in pairs:
        m[int(pre)][int(final)] += 1
    return m


def per_level(matrix: list[list[int]]) -> dict[str, dict[str, Any]]:
    """Precision, recall and support per level from a :func:`confusion` matrix (None where the
    denominator is 0)."""
    out: dict[str, dict[str, Any]] = {}
    for k in LEVELS:
        predicted = sum(matrix[k])
        actual = sum(matrix[r][k] for r in LEVELS)
        tp = matrix[k][k]
        out[str(k)] = {
            "precision": round(tp / predicted, 4) if predicted else None,
            "recall": round(tp / actual, 4) if actual else None,
            "pre_scored": predicted,
            "outcomes": actual,
        }
    return out


def outcome_section(
    pairs: Iterable[tuple[int, int]], actions: Mapping[str, int] | None = None, *, unscored: int = 0
) -> dict[str, Any]:
    """The report's ``outcomes`` section: ``n`` paired items, accuracy, per-level precision/recall,
    the confusion matrix, the count of outcomes per action and outcomes on items with no pre-score."""
    pairs = [(int(a), int(b)) for a, b in pairs]
    m = confusion(pairs)
    n = len(pairs)
    return {
        "n": n,
        "n_unscored": int(unscored),
        "accuracy": round(sum(m[k][k] for k in LEVELS) / n, 4) if n else None,
        "per_level": per_level(m),
        "confusion": m,
        "actions": dict(actions or {}),
    }
