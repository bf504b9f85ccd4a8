"""``linear_proba`` gives exactly what scikit-learn's ``predict_proba`` gives (it skips only the
per-call validation), for two and more classes, dense and sparse input, and defers to anything that
is not a plain ``LogisticRegression``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from trendml.severity.linear import linear_proba
from trendml.severity.nb import NBLogisticRegression


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_probabilities_as_sklearn(n_classes, sparse, dtype):
    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(300, 12)).astype(dtype)
    y = rng.integers(0, n_classes, size=300)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    Xq = rng.normal(size=(7, 12)).astype(dtype)
    if sparse:
        Xq = sp.csr_matrix(Xq)
    np.testing.assert_array_equal(linear_proba(clf, Xq), clf.predict_proba(Xq))
    np.testing.assert_array_equal(linear_proba(clf, Xq[:1]), clf.predict_proba(Xq[:1]))


def test_other_classifiers_use_their_own_predict_proba_and_bad_width_is_refused():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(np.abs(rng.normal(size=(200, 10))))
    y = rng.integers(0, 3, size=200)
    nb = NBLogisticRegression().fit(X, y)
    np.testing.assert_array_equal(linear_proba(nb, X[:5]), nb.predict_proba(X[:5]))
    clf = LogisticRegression(max_iter=300).fit(X, y)
    with pytest.raises(ValueError, match="10"):
        linear_proba(clf, X[:, :9])


@pytest.mark.parametrize(
    "params",
    [
        {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True},
        {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 3, "sublinear_tf": True},
        {"binary": True, "use_idf": False},
        {"norm": None, "dtype": np.float32},
    ],
)
def test_tfidf_transform_gives_the_same_matrix_as_scikit_learn(small_data, params):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from trendml.severity.linear import scale_columns, tfidf_transform

    texts = small_data["text"].tolist()
    vec = TfidfVectorizer(**params).fit(texts[::2])
    # unseen texts, an empty one, one with no known term, one-item and many-item calls
    query = [*texts[1::2], "", "zzzqqq", "   "]
    for batch in (query, query[:1], query[-3:]):
        want = vec.transform(batch)
        got = tfidf_transform(vec, batch)
        assert got.shape == want.shape and got.dtype == want.dtype  # float32: scikit-learn's own
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)
    factors = np.random.default_rng(1).normal(size=want.shape[1])
    scaled = scale_columns(vec.transform(query), factors)
    assert abs(scaled - vec.transform(query).multiply(factors).tocsr()).max() == 0.0
