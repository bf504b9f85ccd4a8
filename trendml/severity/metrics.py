"""Pure metric functions on labels and probabilities (numpy in, floats/dicts out).

Classes are severities 0..3. "Hate" means severity >= 2 (hateful or threat), so a dataset without
class 3 (Davidson) and a model that predicts 3 for some hateful rows are scored consistently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

logger = logging.getLogger(__name__)

N_CLASSES = 4
HATE_FROM = 2


def _labels_present(y_true: np.ndarray) -> list[int]:
    return sorted(int(c) for c in np.unique(y_true))


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Macro-F1 over the classes present in ``y_true`` (a class the test set lacks does not count)."""
    y_true = np.asarray(y_true)
    return float(
        f1_score(y_true, np.asarray(y_pred), labels=_labels_present(y_true), average="macro", zero_division=0)
    )


def per_class_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[int, float]:
    """F1 of each class present in ``y_true``."""
    y_true = np.asarray(y_true)
    labels = _labels_present(y_true)
    scores = f1_score(y_true, np.asarray(y_pred), labels=labels, average=None, zero_division=0)
    return {c: float(s) for c, s in zip(labels, scores, strict=True)}


def hate_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """F1 of the binary task "hateful or worse" (severity >= 2) vs the rest."""
    t = np.asarray(y_true) >= HATE_FROM
    p = np.asarray(y_pred) >= HATE_FROM
    return float(f1_score(t, p, zero_division=0))


def hate_auc(y_true: Sequence[int], proba: np.ndarray) -> float:
    """ROC AUC of P(severity >= 2) for the binary task "hateful or worse"; NaN if one side is empty."""
    t = np.asarray(y_true) >= HATE_FROM
    if t.all() or not t.any():
        return float("nan")
    return float(roc_auc_score(t, np.asarray(proba)[:, HATE_FROM:].sum(axis=1)))


def ovr_auc(y_true: Sequence[int], proba: np.ndarray) -> dict[int, float]:
    """One-vs-rest ROC AUC per class present in ``y_true`` (needs >= 1 positive and >= 1 negative)."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    out: dict[int, float] = {}
    for c in _labels_present(y_true):
        pos = y_true == c
        if pos.all():
            continue
        out[c] = float(roc_auc_score(pos, proba[:, c]))
    return out


def macro_ovr_auc(y_true: Sequence[int], proba: np.ndarray) -> float:
    aucs = ovr_auc(y_true, proba)
    return float(np.mean(list(aucs.values()))) if aucs else float("nan")


def expected_calibration_error(y_true: Sequence[int], proba: np.ndarray, *, n_bins: int = 15) -> float:
    """Top-label ECE: rows binned by their highest probability into ``n_bins`` equal-width bins;
    the sum over bins of (bin share) x |accuracy - mean confidence|."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if len(y_true) == 0:
        raise ValueError("ECE of an empty set is undefined; expected at least one row")
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    # bin i holds (i/n, (i+1)/n]; confidence 0 goes to the first bin
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def subgroup_auc(
    y_true: Sequence[int], proba: np.ndarray, groups: Sequence[str], *, min_per_side: int = 2
) -> dict[str, float]:
    """Subgroup AUC (Borkan et al. 2019): within each identity group, the ROC AUC of P(severity >= 2)
    separating hateful from non-hateful mentions of that group. A low value means neutral mentions
    of the group are scored as hateful as attacks on it. Groups with fewer than ``min_per_side``
    rows on either side are left out."""
    y_true = np.asarray(y_true)
    score = np.asarray(proba)[:, HATE_FROM:].sum(axis=1)
    groups_arr = np.asarray(groups, dtype=object)
    out: dict[str, float] = {}
    for g in sorted(set(groups_arr.tolist())):
        sel = groups_arr == g
        t = y_true[sel] >= HATE_FROM
        if t.sum() < min_per_side or (~t).sum() < min_per_side:
            continue
        out[str(g)] = float(roc_auc_score(t, score[sel]))
    return out


def confusion(y_true: Sequence[int], y_pred: Sequence[int]) -> np.ndarray:
    """4x4 confusion matrix (rows: true severity, columns: predicted)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(N_CLASSES)))


def classification_report(
    y_true: Sequence[int], proba: np.ndarray, y_pred: Sequence[int] | None = None
) -> dict[str, float]:
    """The flat metric dict logged per test set: macro_f1, hate_f1, f1_<c>, auc_<c>, macro_auc,
    hate_auc, ece."""
    proba = np.asarray(proba)
    pred = proba.argmax(axis=1) if y_pred is None else np.asarray(y_pred)
    out: dict[str, float] = {
        "n": float(len(pred)),
        "macro_f1": macro_f1(y_true, pred),
        "hate_f1": hate_f1(y_true, pred),
        "macro_auc": macro_ovr_auc(y_true, proba),
        "hate_auc": hate_auc(y_true, proba),
        "ece": expected_calibration_error(y_true, proba),
    }
    out.update({f"f1_{c}": v for c, v in per_class_f1(y_true, pred).items()})
    out.update({f"auc_{c}": v for c, v in ovr_auc(y_true, proba).items()})
    return out


def auc_at_least(y_true: Sequence[int], proba: np.ndarray, level: int) -> float:
    """ROC AUC of P(severity >= level) for the binary task "severity >= level"; NaN if one side is
    empty (level 1: offensive or worse vs not, as OLID's OFF/NOT)."""
    t = np.asarray(y_true) >= level
    if t.all() or not t.any():
        return float("nan")
    return float(roc_auc_score(t, np.asarray(proba)[:, level:].sum(axis=1)))


def recall_at_precision(y_true: Sequence[bool], score: Sequence[float], min_precision: float) -> float:
    """The highest recall of ``score >= t`` over thresholds ``t`` whose precision is >= ``min_precision``
    (0 when none is); ties in ``score`` are cut together."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s_sorted, hits = s[order], np.cumsum(y[order])
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # cut only between different scores
    precision = hits / np.arange(1, len(s) + 1)
    ok = last & (precision >= min_precision)
    return float(hits[ok].max() / y.sum()) if ok.any() else 0.0


def bootstrap_interval(
    stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(indices)`` over ``n_boot`` resamples of ``n`` rows
    (resamples where the statistic is undefined are dropped)."""
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    if len(vals) == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def threat_report(
    is_threat: Sequence[bool],
    p_threat: Sequence[float],
    *,
    threshold: float | None = None,
    min_precision: float = 0.4,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Level-3 ranking and decision quality: ``auc`` of P(3), ``recall_at_p40`` (best recall at
    precision >= ``min_precision``) with bootstrap intervals (``*_lo``/``*_hi``, 95 %), and the
    ``rule_recall``/``rule_precision`` of ``P(3) >= threshold`` (the model's decision rule)."""
    y = np.asarray(is_threat, dtype=bool)
    s = np.asarray(p_threat, dtype=np.float64)
    out: dict[str, float] = {"n": float(len(y)), "n_pos": float(y.sum())}
    if not y.any() or y.all():
        return out

    def auc(idx: np.ndarray) -> float:
        return float(roc_auc_score(y[idx], s[idx])) if 0 < y[idx].sum() < len(idx) else float("nan")

    def rec(idx: np.ndarray) -> float:
        return recall_at_precision(y[idx], s[idx], min_precision)

    out["auc"] = auc(np.arange(len(y)))
    out["auc_lo"], out["auc_hi"] = bootstrap_interval(auc, len(y), n_boot=n_boot, seed=seed)
    out["recall_at_p40"] = rec(np.arange(len(y)))
    out["recall_at_p40_lo"], out["recall_at_p40_hi"] = bootstrap_interval(
        rec, len(y), n_boot=n_boot, seed=seed
    )
    if threshold is not None:
        flagged = s >= threshold
        out["rule_recall"] = float((flagged & y).sum() / y.sum())
        out["rule_precision"] = float((flagged & y).sum() / flagged.sum()) if flagged.any() else 0.0
    return out
