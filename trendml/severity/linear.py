"""Probabilities of a fitted :class:`~sklearn.linear_model.LogisticRegression` from its
coefficients, computed as scikit-learn computes them, without its per-call input validation.

Scoring one request's few items runs eight logistic regressions (three bases, the NB-weighted
one-vs-rest heads, the source gate, the stacker). scikit-learn validates the input of every
``predict_proba`` call (``check_array``, feature names, a dataframe check through ``narwhals``):
~0.4 ms each, ~9 ms of the ~11 ms a one-item ``score_vectors`` call took, whatever the batch size.
The arithmetic below is the same as ``LogisticRegression.predict_proba`` (``decision_function``
then ``expit`` for two classes, ``softmax`` for more), so the probabilities are identical; the
inputs are the classifier's own features, built by this package, so there is nothing to validate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.utils.extmath import softmax


def linear_proba(clf: Any, X: Any) -> np.ndarray:
    """``clf.predict_proba(X)``; computed from ``coef_`` and ``intercept_`` for a plain fitted
    ``LogisticRegression`` (anything else is asked for its own ``predict_proba``)."""
    if type(clf) is not LogisticRegression or not hasattr(clf, "coef_"):
        return clf.predict_proba(X)
    if X.shape[1] != clf.coef_.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, but the classifier expects {clf.coef_.shape[1]}")
    scores = np.asarray(X @ clf.coef_.T) + clf.intercept_
    if len(clf.classes_) <= 2:
        p = expit(scores.reshape(-1))
        return np.stack([1 - p, p], axis=1)
    return softmax(scores, copy=False)
