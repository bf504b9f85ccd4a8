"""What the model page puts first: the metrics a promotion is decided on, against their floors,
with the change from the previous champion (the full metric list follows, folded).

The floors mirror ``training/config.py``'s ``promotion.floors`` (the service does not import the
training shell; ``tests/service/test_dashboard_ux.py`` checks that the two agree)."""

from __future__ import annotations

from typing import Any

#: (metric key, what it means to an analyst, floor kind, floor value, shown as a percentage)
DECISION_METRICS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("test.davidson.macro_f1", "macro-F1 on held-out tweets (Davidson)", "min", 0.75, False),
    ("test.davidson.hate_f1", "F1 of the hateful level (Davidson)", "min", 0.47, False),
    ("threat.auc", "separates threats from the rest (AUC)", "min", 0.85, False),
    ("threat.recall_at_p40", "threats found at 40 % precision", "min", 0.6, True),
    (
        "test.toxigen_seeds.neutral_scored_hateful",
        "fairness: neutral statements about groups scored hateful",
        "max",
        0.08,
        True,
    ),
    ("test.davidson.ece", "calibration error (Davidson)", "max", 0.05, False),
    ("test.toxigen_seeds.ece", "calibration error (ToxiGen)", "max", 0.05, False),
    ("test.toxic_spans.ece", "calibration error (ToxicSpans)", "max", 0.05, False),
    ("behaviour.overall_acc", "behavioural test suite accuracy", "min", 0.85, True),
    ("behaviour.min_functionality_acc", "worst behavioural functionality", "min", 0.60, True),
    ("lodo.olid.auc_ge1", "unseen dataset: OLID offensive-or-worse (AUC)", "min", 0.80, False),
    ("lodo.hateval.auc_ge2", "unseen dataset: HatEval hateful-or-worse (AUC)", "min", 0.65, False),
)


def _fmt(value: float | None, as_pct: bool) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.1f} %" if as_pct else f"{value:.3f}"


def decision_rows(
    metrics: dict[str, float], previous: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """One row per decision metric the champion reports: value, floor, met or not, change."""
    rows = []
    for key, label, kind, floor, as_pct in DECISION_METRICS:
        value = metrics.get(key)
        if value is None:
            continue
        met = value >= floor if kind == "min" else value <= floor
        before = (previous or {}).get(key)
        change = None
        if before is not None:
            delta = value - before
            better = delta >= 0 if kind == "min" else delta <= 0
            sign = "+" if delta >= 0 else "−"
            amount = f"{abs(delta) * 100:.1f} pts" if as_pct else f"{abs(delta):.3f}"
            change = f"{sign}{amount} ({'better' if better or delta == 0 else 'worse'})"
        rows.append(
            {
                "key": key,
                "label": label,
                "value": _fmt(value, as_pct),
                "floor": f"{'at least' if kind == 'min' else 'at most'} {_fmt(floor, as_pct)}",
                "met": met,
                "change": change,
            }
        )
    return rows


def metric_value(key: str, value: float) -> str:
    """A logged metric for the full list: counts as whole numbers, the rest with 3 decimals."""
    if float(value).is_integer() and abs(value) >= 2:
        return f"{int(value):,}"
    return f"{value:.3f}"
