"""The estimator on a small real subset: probabilities, decisions, embedder check, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from trendml.errors import InputError, ModelMismatchError, StateError
from trendml.severity import SeverityModel, score_items
from trendml.severity.metrics import macro_f1


def _test_part(small_data, small_vectors):
    test = (small_data["split"] == "test").to_numpy()
    return small_data[test], small_vectors[test]


def test_probabilities_and_decisions(fitted_small, small_data, small_vectors):
    df, vec = _test_part(small_data, small_vectors)
    proba = fitted_small.predict_proba(df["text"].tolist(), vec)
    assert proba.shape == (len(df), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba >= 0).all()
    assert np.allclose(proba[:, 3], 0.0)  # no threat rows in training: class 3 gets no mass
    pred = fitted_small.predict(df["text"].tolist(), vec)
    assert pred.dtype.kind == "i" and set(pred) <= {0, 1, 2}
    # better than the majority class on held-out rows (a real signal, not a constant)
    y = df["severity"].to_numpy()
    majority = np.bincount(small_data["severity"]).argmax()
    assert macro_f1(y, pred) > macro_f1(y, np.full_like(y, majority)) + 0.2
    assert fitted_small.predict_proba([], np.zeros((0, vec.shape[1]))).shape == (0, 4)


def test_input_validation(fitted_small, small_vectors):
    with pytest.raises(InputError):
        fitted_small.predict_proba(["a", "b"], small_vectors[:3])
    with pytest.raises(ModelMismatchError):
        fitted_small.predict_proba(["a"], np.zeros((1, 17), dtype=np.float32))
    with pytest.raises(StateError):
        SeverityModel().predict_proba(["a"], small_vectors[:1])
    with pytest.raises(InputError):
        SeverityModel(features="nope").fit(["a", "b"], small_vectors[:2], [0, 1])
    with pytest.raises(InputError):
        SeverityModel().fit(["a", "b"], small_vectors[:2], [1, 1])


def test_embedder_mismatch(fitted_small, cached_embedder):
    from trendml.embed import SentenceTransformerEmbedder

    fitted_small.check_embedder(cached_embedder)  # the one it was trained with
    other = SentenceTransformerEmbedder(name="some-other-encoder")
    with pytest.raises(ModelMismatchError, match="trained on"):
        fitted_small.check_embedder(other)
    from trendml.items import Item

    with pytest.raises(ModelMismatchError):
        score_items(fitted_small, [Item(id="x", text="hello")], other, model_name="m", model_version="1")


def test_save_load_round_trip(fitted_small, small_data, small_vectors, tmp_path):
    df, vec = _test_part(small_data, small_vectors)
    fitted_small.save(tmp_path / "m")
    loaded = SeverityModel.load(tmp_path / "m")
    assert loaded.embedder_id == fitted_small.embedder_id
    assert loaded.get_params() == fitted_small.get_params()
    texts = df["text"].tolist()
    np.testing.assert_allclose(loaded.predict_proba(texts, vec), fitted_small.predict_proba(texts, vec))


def test_load_errors(fitted_small, tmp_path):
    with pytest.raises(StateError, match="holds no severity model"):
        SeverityModel.load(tmp_path / "missing")
    d = fitted_small.save(tmp_path / "m")
    (d / "severity_model.skops").write_bytes(b"not a skops file")
    with pytest.raises(StateError, match="corrupt"):
        SeverityModel.load(d)
    d2 = fitted_small.save(tmp_path / "m2")
    (d2 / "severity_model.json").write_text("{broken")
    with pytest.raises(StateError, match="corrupt"):
        SeverityModel.load(d2)


def test_score_items_contract(fitted_small, cached_embedder, small_data):
    from trendml.items import Item

    items = [Item(id=f"i{k}", text=t) for k, t in enumerate(small_data["text"].iloc[:5])]
    items.append(Item(id="cap", caption="a caption only"))
    scores = score_items(
        fitted_small, items, cached_embedder, model_name="trendml-severity", model_version="7"
    )
    assert [s["id"] for s in scores] == [it.id for it in items]
    for s in scores:
        assert set(s) == {"id", "severity", "severity_probs", "model"}
        assert isinstance(s["severity"], int) and 0 <= s["severity"] <= 3
        assert len(s["severity_probs"]) == 4 and sum(s["severity_probs"]) == pytest.approx(1.0)
        assert s["model"] == {"name": "trendml-severity", "version": "7"}
    assert score_items(fitted_small, [], cached_embedder, model_name="m", model_version="1") == []


class NotAModelPart:
    """A type no severity model holds (the weights file's allow-list must refuse it)."""


def test_refuses_pickle_formats_and_unknown_types(fitted_small, small_vectors, tmp_path):
    import json

    import skops.io as sio

    d = fitted_small.save(tmp_path / "m")
    assert not list(d.glob("*.joblib")) and (d / "severity_model.skops").is_file()
    meta = json.loads((d / "severity_model.json").read_text())
    assert meta["format_version"] == 5
    texts = ["hello", "you are all idiots"]
    want = fitted_small.predict_proba(texts, small_vectors[:2])  # saving left the model usable
    np.testing.assert_allclose(SeverityModel.load(d).predict_proba(texts, small_vectors[:2]), want)
    # format 4 (each vocabulary a dict in the skops file) still loads, to the same predictions
    four = tmp_path / "four"
    four.mkdir()
    sio.dump(fitted_small.fitted_, four / "severity_model.skops")
    (four / "severity_model.json").write_text(json.dumps({**meta, "format_version": 4}))
    np.testing.assert_allclose(SeverityModel.load(four).predict_proba(texts, small_vectors[:2]), want)
    # a version stored before the safe format (a joblib pickle): refused with the retrain command
    old = tmp_path / "old"
    old.mkdir()
    (old / "severity_model.json").write_text(json.dumps({**meta, "format_version": 3}))
    (old / "severity_model.joblib").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(StateError, match=r"pickle.*retrain with `trendml train severity`"):
        SeverityModel.load(old)
    meta["format_version"] = 2
    (d / "severity_model.json").write_text(json.dumps(meta))
    with pytest.raises(StateError, match="format 2 .*no longer loads"):
        SeverityModel.load(d)
    meta["format_version"] = 99
    (d / "severity_model.json").write_text(json.dumps(meta))
    with pytest.raises(StateError, match="format_version 99"):
        SeverityModel.load(d)
    # a weights file holding a type outside the allow-list is refused before anything is built
    meta["format_version"] = 5
    (d / "severity_model.json").write_text(json.dumps(meta))
    sio.dump(NotAModelPart(), d / "severity_model.skops")
    with pytest.raises(StateError, match=r"allow-list: tests\.severity\.test_estimator\.NotAModelPart"):
        SeverityModel.load(d)
