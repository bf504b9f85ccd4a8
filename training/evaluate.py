"""Evaluation of a severity model on held-out test sets: the metric dict logged to MLflow,
the TF-IDF + LR baseline and the confusion-matrix figure."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trendml.severity import metrics as M
from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)

SUBGROUP_DATASET = "toxigen_seeds"


def _clean(d: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if v is not None and not math.isnan(float(v))}


def evaluate_predictions(
    name: str, df: pd.DataFrame, proba: np.ndarray, pred: np.ndarray, *, prefix: str = "test"
) -> dict[str, float]:
    """Metrics of one test set, keyed ``{prefix}.{name}.{metric}``; subgroup AUCs with their row counts
    (``subgroup_n.<group>``) and the share of neutral identity statements scored hateful for ToxiGen."""
    y = df["severity"].to_numpy()
    out = {f"{prefix}.{name}.{k}": v for k, v in M.classification_report(y, proba, pred).items()}
    if name == SUBGROUP_DATASET and "target_group" in df.columns:
        groups = df["target_group"].astype(str).to_numpy()
        for g, v in M.subgroup_auc(y, proba, groups.tolist()).items():
            out[f"subgroup_auc.{g}"] = v
            out[f"subgroup_n.{g}"] = float((groups == g).sum())  # the rows behind that AUC (model card)
        neutral = y < M.HATE_FROM
        if neutral.any():
            out[f"{prefix}.{name}.neutral_scored_hateful"] = float((pred[neutral] >= M.HATE_FROM).mean())
    return _clean(out)


def evaluate_model(
    model: SeverityModel,
    test_sets: dict[str, pd.DataFrame],
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    prefix: str = "test",
) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """All metrics over ``test_sets`` and, per set, ``(y_true, y_pred)`` for the confusion plot."""
    metrics: dict[str, float] = {}
    preds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, df in test_sets.items():
        texts = df["text"].tolist()
        proba = model.predict_proba(texts, embed(texts))
        pred = model.decide(proba)
        metrics.update(evaluate_predictions(name, df, proba, pred, prefix=prefix))
        preds[name] = (df["severity"].to_numpy(), pred)
    return metrics, preds


THREAT_DATASET = "toxic_spans"


def threat_metrics(
    frame: pd.DataFrame, proba: np.ndarray, threshold: float | None, *, n_boot: int = 1000
) -> dict[str, float]:
    """``threat.*``: how well P(3) finds ToxicSpans' majority-threat posts among all its rows
    (``frame`` = every ToxicSpans row, ``proba`` = each row's probabilities: out-of-fold for training
    rows, the final model's for test rows), with bootstrap intervals and the decision rule's own
    recall/precision (``threshold``)."""
    rep = M.threat_report(frame["severity"].to_numpy() == 3, proba[:, 3], threshold=threshold, n_boot=n_boot)
    return _clean({f"threat.{k}": v for k, v in rep.items()})


def fit_baseline(train: pd.DataFrame) -> Any:
    """The reference: word 1-2-gram TF-IDF + logistic regression, class-weighted, argmax decision."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    return pipe.fit(train["text"].tolist(), train["severity"].to_numpy())


def evaluate_baseline(baseline: Any, test_sets: dict[str, pd.DataFrame]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, df in test_sets.items():
        proba = np.zeros((len(df), M.N_CLASSES))
        proba[:, baseline.classes_] = baseline.predict_proba(df["text"].tolist())
        pred = proba.argmax(axis=1)
        out.update(evaluate_predictions(name, df, proba, pred, prefix="baseline"))
    return {k: v for k, v in out.items() if not k.startswith(("subgroup_auc.", "subgroup_n."))}


def confusion_figure(preds: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """One row-normalised confusion matrix per test set (matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(preds)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.6 * max(1, len(names)), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        y, p = preds[name]
        cm = M.confusion(y, p).astype(float)
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(M.N_CLASSES):
            for j in range(M.N_CLASSES):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
        ax.set_title(name)
        ax.set_xlabel("predicted severity")
        ax.set_ylabel("true severity")
        ax.set_xticks(range(M.N_CLASSES))
        ax.set_yticks(range(M.N_CLASSES))
    fig.tight_layout()
    return fig
