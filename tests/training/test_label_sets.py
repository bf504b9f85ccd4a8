"""A champion with a different label set and decision rule: a 3-level version (no threat data) and a
4-level one (ToxicSpans threat rows, threat rule) live in one registry; promoting either way keeps
every version loadable and scoring, with the run's threat, behaviour and label-set evidence logged."""

from __future__ import annotations

import numpy as np
from mlflow import MlflowClient

from tests.training.conftest import TINY, TINY_ROWS
from training.registry import champion_version, load_severity_model, promote
from trendml.config import Settings

# evaluation only, not what this test is about (the four-level run keeps the suite: its metrics are checked)
CHEAP = {"behaviour": False, "baseline": False}


def test_label_set_change_keeps_every_version_loading(tmp_path, cached_embedder):
    from training.train import train_severity

    settings = Settings(home=tmp_path / "home")
    three = train_severity(
        settings,
        datasets=["davidson", "toxigen_seeds"],
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config={**TINY, **CHEAP, "augment": {"templates": False, "swaps": False}},  # no threat rows at all
        run_name="three-levels",
    )
    four = train_severity(
        settings,
        datasets=["davidson", "toxigen_seeds", "toxic_spans"],
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config={**TINY, "baseline": False, "model": {**TINY["model"], "threat_min_precision": 0.2}},
        run_name="four-levels",
    )
    assert three.champion and not four.champion
    client = MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )
    assert client.get_run(three.run_id).data.tags["trendml.label_set"] == "0,1,2"
    assert client.get_run(four.run_id).data.tags["trendml.label_set"] == "0,1,2,3"
    m = four.metrics
    assert m["threat.n_pos"] >= 5 and 0.0 <= m["threat.auc"] <= 1.0
    assert m["threat.auc_lo"] <= m["threat.auc"] <= m["threat.auc_hi"]
    assert 0.0 <= m["behaviour.overall_acc"] <= 1.0 and "behaviour.counter_speech.acc" in m
    assert "threat.auc" not in three.metrics  # no ToxicSpans: no threat evaluation

    texts = ["we will see you at the meeting tomorrow", "thanks for the help"]
    promote(settings, "trendml-severity", four.version, force=True)
    assert champion_version(settings) == four.version
    for ref in ("models:/trendml-severity@champion", f"models:/trendml-severity/{three.version}"):
        model, _, version = load_severity_model(ref, settings)
        proba = model.predict_proba(texts, cached_embedder.encode(texts))
        assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1.0)
        assert set(model.decide(proba)) <= {0, 1, 2, 3}
    champ, _, _ = load_severity_model("models:/trendml-severity@champion", settings)
    assert list(champ.fitted_.classes) == [0, 1, 2, 3]
    old, _, _ = load_severity_model(f"models:/trendml-severity/{three.version}", settings)
    assert list(old.fitted_.classes) == [0, 1, 2] and old.fitted_.threat_threshold is None
