"""Feedback into retraining (training/feedback.py): the label rule, and the round trip
decisions + QA reviews -> ``train severity --with-feedback`` -> ``models compare`` -> promotion
gate. Lives beside the report tests to reuse their store (real trends, analyst decisions, QA)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import call
from training.feedback import drop_test_rows, label_rows, read_feedback
from trendml.config import Settings

# The same subsample as the training tests' and the service harness's tiny models
# (tests/training/conftest.py TINY_ROWS/TINY_DATA): every text here (training rows, test and
# cross-dataset sets) is then embedded once per session through the shared ``cached_embedder``.
N_ROWS = 300
DATASETS = ["davidson", "toxigen_seeds"]


def quick_config() -> dict:
    """models/severity.yaml without the parts that only cost time here (augmentation, behaviour
    suite, baseline, the TF-IDF bases and the source gate: an embedding-only model): both runs use
    it, so the gate compares like with like."""
    import yaml

    from training.config import DEFAULT_CONFIG_PATH

    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    model = {**cfg["model"], "features": "embedding", "source_aware": False}
    return {
        **cfg,
        "model": model,
        "augment": {"templates": False, "swaps": False},
        "behaviour": False,
        "baseline": False,
    }


def test_label_rule():
    decisions = [
        {"id": "a", "action": "confirm", "severity": 0},
        {"id": "b", "action": "escalate", "severity": 2},
        {"id": "c", "action": "dismiss", "severity": 3},  # not a trend: no label
        {"id": "d", "action": "confirm", "severity": None},
        {"id": "e", "action": "confirm", "severity": 1},
    ]
    reviews = [
        {"item_id": "e", "reviewer": "r1", "severity": 3},  # QA beats the decision
        {"item_id": "f", "reviewer": "r1", "severity": 0},
        {"item_id": "f", "reviewer": "r2", "severity": 2},  # disagreement: no label
        {"item_id": "g", "reviewer": "r1", "severity": 1},
        {"item_id": "g", "reviewer": "r1", "severity": 2},  # the reviewer's latest wins
    ]
    texts = {k: f"feedback text {k}" for k in "abcdefg"}
    snap = label_rows(decisions, reviews, texts)
    got = dict(
        zip(snap.frame["id"], zip(snap.frame["severity"], snap.frame["origin"], strict=True), strict=True)
    )
    assert got == {
        "a": (1, "decision"),
        "b": (2, "decision"),
        "d": (1, "decision"),
        "e": (3, "qa"),
        "g": (2, "qa"),
    }
    assert snap.counts["n_dismissed_unlabelled"] == 1 and snap.counts["n_qa_disagreed"] == 1
    kept = drop_test_rows(snap, ["feedback text b", "not a feedback text"])
    assert kept.counts["n_dropped_test"] == 1 and "b" not in set(kept.frame["id"])
    assert kept.counts["n_rows"] == 4 and kept.sha256 != snap.sha256
    assert label_rows(decisions, reviews, texts).sha256 == snap.sha256


def _flipped_qa(url: str, settings: Settings) -> dict[str, int]:
    """QA reviews that contradict the data: every Davidson *training* row stored as an item and
    reviewed with a flipped label (0 <-> 2/3, 1 -> 0), plus a few *test* rows (which must be dropped)."""
    from training.config import load_config, validate_config
    from training.data import load_training_data
    from trendml.items import Item
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.items import add_items
    from trendml.store.qa import QASample, add_review

    cfg = validate_config(load_config(None))
    data = load_training_data(
        settings,
        DATASETS,
        explicit=True,
        seed=int(cfg["split"]["seed"]),
        test_fraction=dict(cfg["split"]["test_fraction"]),
        max_rows_per_dataset=N_ROWS,
    )
    frame = data.frame[data.frame["dataset"] == "davidson"]
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"].head(6)
    flip = {0: 3, 1: 0, 2: 0, 3: 0}
    engine = make_engine(url)
    labels: dict[str, int] = {}
    with make_sessionmaker(engine)() as s:
        rows = [
            (f"fb-train-{k}", t, flip[int(v)])
            for k, (t, v) in enumerate(zip(train["text"], train["severity"], strict=True))
        ]
        rows += [
            (f"fb-test-{k}", t, int(v))
            for k, (t, v) in enumerate(zip(test["text"], test["severity"], strict=True))
        ]
        add_items(s, [Item(id=i, text=t) for i, t, _ in rows])
        s.commit()
        for i, _, _label in rows:
            s.add(QASample(item_id=i, model_severity=0, model_version="test", batch="feedback-test"))
        s.commit()
        for i, _, label in rows:
            add_review(s, i, "qa-lead", label)
            labels[i] = label
        assert s.scalar(select(QASample).where(QASample.item_id == "fb-test-0")) is not None
    engine.dispose()
    return {"n_test_rows": len(test), "n_train_rows": len(train)}


@pytest.mark.slow
def test_feedback_round_trip_is_refused_when_it_loses_held_out(
    store_copy, report_store, tmp_path, monkeypatch, capsys, cached_embedder
):
    import mlflow

    from training.registry import PromotionRefused, promote
    from training.tracking import connect, mlflow_store
    from training.train import train_severity
    from trendml.trends.queries import trend_members

    home = tmp_path / "home"
    settings = Settings(home=home, database_url=store_copy)
    settings.ensure_home()
    champion = train_severity(
        settings,
        datasets=DATASETS,
        max_rows_per_dataset=N_ROWS,
        embedder=cached_embedder,
        run_name="champion",
        config=quick_config(),
    )
    assert champion.champion
    planted = _flipped_qa(store_copy, settings)
    expected = read_feedback(settings)

    challenger = train_severity(
        settings,
        datasets=DATASETS,
        max_rows_per_dataset=N_ROWS,
        embedder=cached_embedder,
        run_name="with-feedback",
        with_feedback=True,
        config=quick_config(),
    )
    m = challenger.metrics
    # the counts: test rows dropped, dismissed trends' members unlabelled
    from trendml.store.base import make_engine

    engine = make_engine(store_copy)
    dismissed = len(trend_members(engine, report_store.other_trends[1]))
    engine.dispose()
    assert m["feedback.n_dropped_test"] >= planted["n_test_rows"]
    assert m["feedback.n_dismissed_unlabelled"] == dismissed > 0
    assert m["feedback.n_rows"] == len(expected.frame) - m["feedback.n_dropped_test"]
    assert m["feedback.n_qa"] >= planted["n_train_rows"] and m["feedback.n_decisions"] > 0
    with mlflow_store(settings):
        run = connect(settings).get_run(challenger.run_id)
    assert run.data.params["feedback.snapshot_sha256"] == expected.sha256 == expected.read_sha256
    assert run.data.params["feedback.rows_sha256"] != expected.sha256  # test rows were dropped
    assert run.data.metrics["feedback.n_dropped_test"] == m["feedback.n_dropped_test"]
    assert mlflow.active_run() is None
    # the feedback rows are training rows, never a test set
    assert not any(k.startswith("test.feedback") for k in m)

    # it gains on the feedback rows ...
    assert m["feedback.agreement"] > m["feedback.champion_agreement"]
    # ... and loses on the held-out sets
    held_out = [f"test.{d}.macro_f1" for d in DATASETS]
    assert sum(m[k] for k in held_out) < sum(champion.metrics[k] for k in held_out)

    # compare shows every test set and the feedback columns, for both runs
    monkeypatch.setenv("TRENDML_HOME", str(home))
    monkeypatch.setenv("TRENDML_DATABASE_URL", store_copy)
    code, out, err = call(capsys, "models", "compare")
    assert code == 0, err
    blocks = re.split(r"(?=^run )", out, flags=re.M)
    mine = " ".join(next(b for b in blocks if "with-feedback" in b).split())
    theirs = " ".join(next(b for b in blocks if " champion " in b and "with-feedback" not in b).split())
    for short in ("dav.macro_f1", "toxigen_seeds.macro_f1"):
        assert short in mine and short in theirs
    assert "feedback.agreement" in mine and "feedback.champion_agreement" in mine

    # the gate refuses it: it loses on the held-out sets, whatever it gains on the feedback rows
    with pytest.raises(PromotionRefused) as refused:
        promote(settings, challenger.model_name, challenger.version, by="test")
    assert "macro-F1" in str(refused.value)


def test_with_feedback_and_no_feedback_exits_2(home, capsys):
    code, out, err = call(
        capsys, "train", "severity", "--with-feedback", "--data", "toxigen_seeds", "--max-rows", "60"
    )
    assert code == 2, err
    last = err.strip().splitlines()[-1]  # after the training stages' log lines
    assert last.startswith("error: --with-feedback found no labelled feedback")
