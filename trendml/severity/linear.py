"""Probabilities of a fitted :class:`~sklearn.linear_model.LogisticRegression` from its
coefficients, and TF-IDF features from a fitted :class:`~sklearn.feature_extraction.text.TfidfVectorizer`,
each computed as scikit-learn computes them, without its per-call input validation.

Scoring one request's few items runs eight logistic regressions (three bases, the NB-weighted
one-vs-rest heads, the source gate, the stacker). scikit-learn validates the input of every
``predict_proba`` call (``check_array``, feature names, a dataframe check through ``narwhals``):
~0.4 ms each, ~9 ms of the ~11 ms a one-item ``score_vectors`` call took, whatever the batch size.
The arithmetic below is the same as ``LogisticRegression.predict_proba`` (``decision_function``
then ``expit`` for two classes, ``softmax`` for more), so the probabilities are identical; the
inputs are the classifier's own features, built by this package, so there is nothing to validate.

:func:`tfidf_transform` is ``TfidfVectorizer.transform`` the same way: scikit-learn's own counting
(``CountVectorizer.transform``), the tf-idf weighting as ``TfidfTransformer.transform`` does it,
and the l2 row norm by the Cython routine ``normalize`` calls, so the same bits, without
``validate_data`` (~1 ms a call for the two vectorizers, whatever the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.extmath import softmax
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2


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


def tfidf_transform(vec: Any, texts: Sequence[str]) -> Any:
    """``vec.transform(texts)`` for a fitted float64 ``TfidfVectorizer`` with ``norm`` "l2" or None
    (anything else is asked for its own ``transform``)."""
    tfidf = getattr(vec, "_tfidf", None)
    plain = (
        type(vec) is TfidfVectorizer
        and hasattr(tfidf, "idf_")
        and vec.norm in ("l2", None)
        and np.dtype(vec.dtype) == np.float64
    )
    if not plain:
        return vec.transform(texts)
    X = CountVectorizer.transform(vec, texts)  # scikit-learn's counting (float64), sorted indices
    if vec.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    X.data *= tfidf.idf_[X.indices]
    if vec.norm == "l2":
        inplace_csr_row_normalize_l2(X)  # what ``normalize`` runs once it has validated X
    return X


def scale_columns(X: Any, factors: np.ndarray) -> Any:
    """``X.multiply(factors).tocsr()`` for a CSR matrix ``X`` and a dense row of per-column factors:
    a copy of ``X`` with each stored value times its column's factor (the same products, without
    scipy's broadcasting through COO)."""
    out = X.copy()
    out.data = X.data * np.asarray(factors, dtype=np.float64)[X.indices]
    return out
