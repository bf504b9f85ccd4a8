"""NB-weighted logistic regression (NB-LR, the logistic variant of NBSVM; Wang & Manning 2012).

Per class ``c`` the features are scaled by the naive-Bayes log-count ratio
``r_c = log((p_c / |p_c|_1) / (q_c / |q_c|_1))`` with ``p_c = alpha + sum of the rows of class c`` and
``q_c = alpha + sum of the other rows``; a one-vs-rest logistic regression is fitted on
``X * r_c``. The per-class scores are normalised to sum to 1, so the output can be stacked like any
other base's probabilities. An optional severity base (``features="stack_nb"``); the measured
effect is in docs/severity.md.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from trendml.severity.linear import linear_proba, scale_columns

logger = logging.getLogger(__name__)


def nb_log_count_ratio(
    X: sp.spmatrix | np.ndarray,
    positive: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    alpha: float = 1.0,
) -> np.ndarray:
    """The log-count ratio ``r`` (one value per feature) of the rows where ``positive`` is true
    against the others, with add-``alpha`` smoothing; rows are weighted by ``sample_weight``."""
    positive = np.asarray(positive, dtype=bool)
    sw = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    Xs = sp.csr_matrix(X)
    p = alpha + np.asarray(Xs.T @ (sw * positive)).ravel()
    q = alpha + np.asarray(Xs.T @ (sw * ~positive)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


class NBLogisticRegression(ClassifierMixin, BaseEstimator):
    """One-vs-rest logistic regression on NB-scaled features (see the module docstring).

    ``class_weight`` applies to each binary problem (``"balanced"``: the class against the rest).
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        alpha: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 2000,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.alpha = alpha
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(
        self, X: sp.spmatrix | np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> NBLogisticRegression:
        X = sp.csr_matrix(X, dtype=np.float64)
        y = np.asarray(y)
        if X.shape[0] != len(y):
            raise ValueError(f"X has {X.shape[0]} rows and y {len(y)} labels; expected one label per row")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("y has fewer than 2 classes; expected at least 2")
        self.ratios_ = np.zeros((len(self.classes_), X.shape[1]))
        self.estimators_: list[LogisticRegression] = []
        for k, c in enumerate(self.classes_):
            positive = y == c
            self.ratios_[k] = nb_log_count_ratio(X, positive, sample_weight=sample_weight, alpha=self.alpha)
            clf = LogisticRegression(
                C=self.C,
                class_weight=self.class_weight,
                solver="liblinear",
                max_iter=self.max_iter,
                random_state=self.random_state,
            )
            clf.fit(X.multiply(self.ratios_[k]).tocsr(), positive, sample_weight=sample_weight)
            self.estimators_.append(clf)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Each class's one-vs-rest probability, normalised over the classes (rows sum to 1)."""
        check_is_fitted(self, "estimators_")
        X = sp.csr_matrix(X, dtype=np.float64)
        scores = np.column_stack(
            [
                linear_proba(clf, scale_columns(X, r))[:, 1]
                for clf, r in zip(self.estimators_, self.ratios_, strict=True)
            ]
        )
        scores = np.clip(scores, 1e-12, None)
        return scores / scores.sum(axis=1, keepdims=True)

    def predict(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
