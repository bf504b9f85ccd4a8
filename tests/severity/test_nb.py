"""NB-weighted logistic regression: the log-count ratio by hand, the estimator, the stack_nb option."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from trendml.severity import SeverityModel
from trendml.severity.metrics import macro_f1
from trendml.severity.nb import NBLogisticRegression, nb_log_count_ratio


def test_log_count_ratio_by_hand():
    X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [0.0, 3.0, 0.0]]))
    positive = np.array([True, False, False])
    r = nb_log_count_ratio(X, positive, alpha=1.0)
    # p = 1 + row0 = [2, 1, 3] (sum 6); q = 1 + row1 + row2 = [1, 5, 2] (sum 8)
    expected = [math.log((2 / 6) / (1 / 8)), math.log((1 / 6) / (5 / 8)), math.log((3 / 6) / (2 / 8))]
    np.testing.assert_allclose(r, expected)
    # sample weights scale each row's counts: weight 2 on row 0 gives p = [3, 1, 5] (sum 9)
    rw = nb_log_count_ratio(X, positive, sample_weight=np.array([2.0, 1.0, 1.0]), alpha=1.0)
    np.testing.assert_allclose(rw[0], math.log((3 / 9) / (1 / 8)))
    # dense input gives the same ratios
    np.testing.assert_allclose(nb_log_count_ratio(X.toarray(), positive), r)


def test_nb_logistic_regression_learns_and_normalises():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    # each class fires its own block of 5 features more often, plus shared noise features
    X = rng.random((120, 20)) < 0.15
    for c in range(3):
        X[y == c, 5 * c : 5 * c + 5] |= rng.random((40, 5)) < 0.6
    X = sp.csr_matrix(X.astype(float))
    clf = NBLogisticRegression().fit(X[::2], y[::2])
    assert list(clf.classes_) == [0, 1, 2]
    assert clf.ratios_.shape == (3, 20)
    # the class's own block has positive log-count ratios, on average, the other blocks negative
    assert clf.ratios_[1, 5:10].mean() > 0 > clf.ratios_[1, 0:5].mean()
    proba = clf.predict_proba(X[1::2])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert macro_f1(y[1::2], clf.predict(X[1::2])) > 0.7
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        NBLogisticRegression().fit(X[:5], np.zeros(5))


def test_stack_nb_model(small_data, small_vectors, cached_embedder, tmp_path):
    from trendml.embed.base import embedder_id

    train = (small_data["split"] == "train").to_numpy()
    texts = small_data["text"].tolist()
    tr_texts = [t for t, m in zip(texts, train, strict=True) if m]
    te_texts = [t for t, m in zip(texts, train, strict=True) if not m]
    model = SeverityModel(embedder_id=embedder_id(cached_embedder), features="stack_nb", n_folds=2)
    model.fit(tr_texts, small_vectors[train], small_data["severity"].to_numpy()[train])
    kinds = [type(b.classifier).__name__ for b in model.fitted_.bases]
    assert kinds == ["LogisticRegression", "LogisticRegression", "NBLogisticRegression"]
    # both TF-IDF bases use one fitted vectorizer set (fitted and applied once)
    assert model.fitted_.bases[1].vectorizers is model.fitted_.bases[2].vectorizers
    # the stacker sees three bases' log-probabilities
    assert model.fitted_.calibrator.coef_.shape[1] == 3 * len(model.fitted_.classes)
    proba = model.predict_proba(te_texts, small_vectors[~train])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    y = small_data["severity"].to_numpy()[~train]
    majority = np.bincount(small_data["severity"]).argmax()
    pred = model.decide(proba)
    assert macro_f1(y, pred) > macro_f1(y, np.full_like(y, majority)) + 0.2
    # the shared TF-IDF matrix gives the same probabilities as transforming per base
    from trendml.severity.estimator import _base_proba

    fitted = model.fitted_
    per_base = [_base_proba(b, fitted.classes, te_texts, small_vectors[~train]) for b in fitted.bases]
    memo: dict = {}
    shared = [_base_proba(b, fitted.classes, te_texts, small_vectors[~train], memo) for b in fitted.bases]
    assert len(memo) == 1
    for a, b in zip(per_base, shared, strict=True):
        np.testing.assert_allclose(a, b)
    loaded = SeverityModel.load(model.save(tmp_path / "m"))
    assert loaded.get_params()["features"] == "stack_nb"
    assert loaded.fitted_.bases[1].vectorizers is loaded.fitted_.bases[2].vectorizers
    np.testing.assert_allclose(loaded.predict_proba(te_texts, small_vectors[~train]), proba)
