"""Source-aware calibration: the stacker also sees P(training source | embedding)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trendml.errors import InputError
from trendml.severity import SeverityModel
from trendml.severity.metrics import macro_f1


@pytest.fixture(scope="module")
def parts(small_data, small_vectors):
    train = (small_data["split"] == "train").to_numpy()
    texts = np.array(small_data["text"].tolist(), dtype=object)
    return {
        "tr_texts": texts[train].tolist(),
        "tr_vec": small_vectors[train],
        "tr_y": small_data["severity"].to_numpy()[train],
        "tr_src": small_data["dataset"].to_numpy()[train],
        "te_texts": texts[~train].tolist(),
        "te_vec": small_vectors[~train],
        "te_y": small_data["severity"].to_numpy()[~train],
        "te_src": small_data["dataset"].to_numpy()[~train],
    }


@pytest.fixture(scope="module")
def aware(parts, cached_embedder):
    from trendml.embed.base import embedder_id

    model = SeverityModel(embedder_id=embedder_id(cached_embedder), source_aware=True, n_folds=2)
    return model.fit(parts["tr_texts"], parts["tr_vec"], parts["tr_y"], sources=parts["tr_src"])


def test_gate_is_a_stacker_input(aware, parts, fitted_small):
    fitted = aware.fitted_
    assert list(fitted.source_gate.classes_) == ["davidson", "toxigen_seeds"]
    assert fitted.info["sources"] == ["davidson", "toxigen_seeds"]
    k = len(fitted.classes)
    # two bases' log-probabilities plus one column per source
    assert fitted.calibrator.coef_.shape[1] == 2 * k + 2
    assert fitted_small.fitted_.source_gate is None  # off by default in the estimator
    # the gate tells the two sources apart on held-out rows
    p_tox = fitted.source_gate.predict_proba(parts["te_vec"])[:, 1]
    assert roc_auc_score(parts["te_src"] == "toxigen_seeds", p_tox) > 0.95


def test_probabilities_decisions_and_round_trip(aware, parts, tmp_path):
    proba = aware.predict_proba(parts["te_texts"], parts["te_vec"])
    assert proba.shape == (len(parts["te_texts"]), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    y = parts["te_y"]
    pred = aware.decide(proba)
    majority = np.bincount(parts["tr_y"]).argmax()
    assert macro_f1(y, pred) > macro_f1(y, np.full_like(y, majority)) + 0.2
    loaded = SeverityModel.load(aware.save(tmp_path / "m"))
    assert loaded.get_params()["source_aware"] is True
    np.testing.assert_allclose(loaded.predict_proba(parts["te_texts"], parts["te_vec"]), proba)


def test_less_offensive_mass_on_statements(aware, parts, fitted_small):
    """The reason it exists: ToxiGen statements are never labelled "offensive"; with the source as
    a stacker input that class gets less probability on them than with one shared calibrator."""
    tox = parts["te_src"] == "toxigen_seeds"
    texts = [t for t, m in zip(parts["te_texts"], tox, strict=True) if m]
    plain = fitted_small.predict_proba(texts, parts["te_vec"][tox])[:, 1].mean()
    with_source = aware.predict_proba(texts, parts["te_vec"][tox])[:, 1].mean()
    assert with_source < plain


def test_bad_configurations(parts, small_vectors):
    tr = parts["tr_texts"], parts["tr_vec"], parts["tr_y"]
    with pytest.raises(InputError, match="one source"):
        SeverityModel(source_aware=True, n_folds=2).fit(*tr)
    with pytest.raises(InputError, match="needs embeddings"):
        SeverityModel(source_aware=True, features="tfidf", n_folds=2).fit(*tr, sources=parts["tr_src"])
    with pytest.raises(InputError, match="calibration"):
        SeverityModel(source_aware=True, features="embedding", calibration="none", n_folds=2).fit(
            *tr, sources=parts["tr_src"]
        )
    # a source too small for every training fold to hold it: no gate (its columns would not match)
    few = np.array(parts["tr_src"], dtype=object)
    few[np.flatnonzero(parts["tr_src"] == "toxigen_seeds")[3:]] = "davidson"
    assert (few == "toxigen_seeds").sum() == 3
    small = SeverityModel(source_aware=True, n_folds=2).fit(*tr, sources=few)
    assert small.fitted_.source_gate is None
    # a single source: nothing to condition on, the model fits without a gate
    one = SeverityModel(source_aware=True, n_folds=2).fit(*tr, sources=["davidson"] * len(parts["tr_y"]))
    assert one.fitted_.source_gate is None
    assert one.fitted_.calibrator.coef_.shape[1] == 2 * len(one.fitted_.classes)


def test_repeated_cross_fitting(parts, aware):
    """n_repeats > 1: the stacker and decision weights see out-of-fold predictions of several splits."""
    tr = parts["tr_texts"], parts["tr_vec"], parts["tr_y"]
    twice = SeverityModel(source_aware=True, n_folds=2, n_repeats=2).fit(*tr, sources=parts["tr_src"])
    # same bases (refitted on all rows either way), a different stacker
    np.testing.assert_allclose(
        twice.fitted_.bases[0].classifier.coef_, aware.fitted_.bases[0].classifier.coef_
    )
    assert not np.allclose(twice.fitted_.calibrator.coef_, aware.fitted_.calibrator.coef_)
    proba = twice.predict_proba(parts["te_texts"], parts["te_vec"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    for bad in (0, 1.5, "3", True):
        with pytest.raises(InputError, match="n_repeats"):
            SeverityModel(n_repeats=bad, n_folds=2).fit(*tr)
