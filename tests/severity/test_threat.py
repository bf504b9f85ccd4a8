"""The threat rule on real rows: ToxicSpans' threat posts give the model level 3, the threshold is
chosen on training folds, it survives save/load, and a model without it (format 2) keeps its rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trendml.severity import SeverityModel
from trendml.severity.estimator import threat_threshold_for


@pytest.fixture(scope="module")
def threat_data(small_data, small_vectors, cached_embedder):
    from trendml.datasets import load_toxic_spans
    from trendml.text import normalise_text

    ts = load_toxic_spans()
    ts = pd.concat([ts[ts["severity"] == 3].iloc[::2], ts[ts["severity"] == 1].iloc[::30]], ignore_index=True)
    ts["text"] = ts["text"].map(normalise_text)
    df = pd.concat([small_data.drop(columns="split"), ts.drop(columns="split")], ignore_index=True)
    vec = np.vstack([small_vectors, cached_embedder.encode(ts["text"].tolist())])
    return df, vec


@pytest.fixture(scope="module")
def threat_model(threat_data, cached_embedder):
    from trendml.embed.base import embedder_id

    df, vec = threat_data
    # with the threat head (one more stacker input), so the rule and the head are tested on one fit
    model = SeverityModel(
        embedder_id=embedder_id(cached_embedder), n_folds=3, threat_min_precision=0.3, threat_head=True
    )
    return model.fit(df["text"].tolist(), vec, df["severity"].to_numpy(), sources=df["dataset"].to_numpy())


def test_threshold_by_hand():
    y = np.array([1] * 20 + [0] * 10 + [1] * 5 + [0] * 65, dtype=bool)
    p = np.linspace(1, 0, 100)
    # precision of the top 35 rows is 25/35 = 0.71; of the top 30, 20/30 = 0.67; top 25 rows: 20/25
    assert threat_threshold_for(y, p, 0.7) == pytest.approx(p[34])
    assert threat_threshold_for(y, p, 0.99) is None  # only the top 20 reach it: too few rows to trust
    assert threat_threshold_for(np.zeros(100, bool), p, 0.5) is None
    # threats are 60 % of the rows: flagging everything meets precision 0.5, so there is no rule
    many = np.array([1, 1, 0] * 33 + [1], dtype=bool)
    assert threat_threshold_for(many, p, 0.5) is None
    # the same with weights: 20 % of the rows, but weighted to 50 % of the mass (balanced classes)
    y2 = np.array([1, 0, 0, 0, 0] * 20, dtype=bool)
    assert threat_threshold_for(y2, p, 0.5, np.where(y2, 4.0, 1.0)) is None


def test_threat_rule_is_learned_and_applied(threat_model, threat_data):
    df, vec = threat_data
    t = threat_model.fitted_.threat_threshold
    assert t is not None and 0 < t < 1
    assert threat_model.oof_proba_.shape == (len(df), 4)
    oof_p3 = threat_model.oof_proba_[:, 3]
    y3 = df["severity"].to_numpy() == 3
    # the rule reaches its precision on the training folds, and ranks threats above the rest
    assert y3[oof_p3 >= t].mean() >= 0.3
    assert oof_p3[y3].mean() > 3 * oof_p3[~y3].mean()
    proba = threat_model.predict_proba(df["text"].tolist(), vec)
    pred = threat_model.decide(proba)
    np.testing.assert_array_equal(pred == 3, proba[:, 3] >= t)
    assert set(np.unique(pred)) <= {0, 1, 2, 3}


def test_threat_rule_survives_save_and_old_files_keep_theirs(threat_model, threat_data, tmp_path):
    df, vec = threat_data
    texts = df["text"].tolist()[:50]
    d = threat_model.save(tmp_path / "m")
    meta = json.loads((d / "severity_model.json").read_text())
    assert meta["format_version"] == 5 and meta["info"]["threat_threshold"] > 0
    loaded = SeverityModel.load(d)
    np.testing.assert_array_equal(loaded.predict(texts, vec[:50]), threat_model.predict(texts, vec[:50]))
    # a model without a threshold (its rule off) decides by the plain weighted argmax
    del loaded.fitted_.threat_threshold
    proba = loaded.predict_proba(texts, vec[:50])
    expected = np.argmax(proba * loaded.fitted_.decision_weights, axis=1)
    np.testing.assert_array_equal(loaded.decide(proba), expected)


def test_threat_head_is_a_stacker_input_and_survives_save(threat_model, threat_data, tmp_path):
    df, vec = threat_data
    texts, y = df["text"].tolist(), df["severity"].to_numpy()
    model = threat_model
    fitted = model.fitted_
    head = fitted.bases[-1]
    # one more base than plain `stack`: threat vs rest, on the embedding beside the shared TF-IDF block
    assert len(fitted.bases) == 3 and head.uses_embeddings and head.vectorizers is fitted.bases[1].vectorizers
    assert list(head.classifier.classes_) == [0, 3]
    assert head.classifier.n_features_in_ == vec.shape[1] + fitted.bases[1].classifier.n_features_in_
    oof_p3 = model.oof_proba_[:, 3]
    assert oof_p3[y == 3].mean() > 3 * oof_p3[y != 3].mean()
    loaded = SeverityModel.load(model.save(tmp_path / "m"))
    assert loaded.threat_head is True
    np.testing.assert_allclose(
        loaded.predict_proba(texts[:40], vec[:40]), model.predict_proba(texts[:40], vec[:40])
    )


def test_threat_head_weights_and_threshold_source():
    """``threat_weight`` 0 leaves a source's rows out of the threat head (its threat-sounding rows
    labelled offensive no longer pull the head's P(3) down), and ``threat_rows`` chooses the threshold
    on those rows' out-of-fold predictions only. Small synthetic rows: the mechanics, not quality."""
    from trendml.errors import InputError
    from trendml.severity.estimator import _base_proba

    rng = np.random.default_rng(0)
    n = 300
    src = np.where(np.arange(n) % 2 == 0, "tweets", "comments")
    y = rng.integers(0, 3, n)
    word = rng.random(n) < 0.25
    y[(src == "comments") & word] = 3  # in "comments" the word marks a threat...
    y[(src == "tweets") & word] = 1  # ...in "tweets" the same word is labelled offensive
    pairs = enumerate(zip(word, y, strict=True))
    texts = [f"{'menace ' if w else ''}token{v} filler{i % 11}" for i, (w, v) in pairs]
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    params = {"features": "stack", "source_aware": True, "threat_head": True, "threat_min_precision": 0.5}
    params["tune_decision"] = False  # not what this test is about (and the slowest step at this size)
    full = SeverityModel(**params).fit(texts, emb, y, sources=src)
    comments = src == "comments"
    part = SeverityModel(**params).fit(
        texts, emb, y, sources=src, threat_weight=np.where(comments, 1.0, 0.0), threat_rows=comments
    )
    sel = (src == "tweets") & word
    sel_texts = [t for t, s in zip(texts, sel, strict=True) if s]

    def head_p3(model):  # noqa: ANN001, ANN202
        return _base_proba(model.fitted_.bases[-1], np.arange(4), sel_texts, emb[sel], {})[:, 3]

    assert head_p3(part).mean() > head_p3(full).mean() + 0.2
    expected = threat_threshold_for(y[comments] == 3, part.oof_proba_[comments, 3], 0.5)
    assert expected is not None and part.fitted_.threat_threshold == pytest.approx(expected)
    with pytest.raises(InputError, match="threat_rows"):
        SeverityModel(**params).fit(texts, emb, y, sources=src, threat_rows=np.zeros(n, bool))
