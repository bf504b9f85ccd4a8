"""The MLflow lifecycle in a tmp store: train -> registered + champion; promotion refused / forced;
a failed run is FAILED and leaves the champion alone; models:/ URIs and directories resolve."""

from __future__ import annotations

import math

import pytest
from mlflow import MlflowClient

from tests.training.conftest import TINY, TINY_DATA, TINY_ROWS
from training.config import load_config
from training.registry import (
    PromotionRefused,
    PromotionRule,
    alias_history,
    champion_stack,
    champion_version,
    list_versions,
    load_severity_model,
    promote,
    promotion_decision,
    rollback,
)
from trendml.errors import InputError, ModelNotFoundError


def _client(settings):
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def test_first_version_is_registered_champion_with_evidence(first_run, registry_settings):
    assert first_run.version == "1" and first_run.champion
    assert champion_version(registry_settings) == "1"
    run = _client(registry_settings).get_run(first_run.run_id)
    assert run.info.status == "FINISHED"
    p, m = run.data.params, run.data.metrics
    assert len(p["data.davidson.sha256"]) == 64 and "split_digest.davidson" in p
    cfg = load_config(TINY)["model"]  # every config value is a param of the run
    for key in ("features", "source_aware", "n_repeats", "n_folds"):
        assert p[f"model.{key}"] == str(cfg[key])
    assert p["model.features"] == "stack_nb" and p["model.source_aware"] == "True"  # the defaults
    assert load_config(None)["model"] == cfg | {"n_folds": 3}  # models/severity.yaml == built-in defaults
    assert p["embedder"].startswith("all-MiniLM-L6-v2@")
    for ds in TINY_DATA:
        for k in ("macro_f1", "hate_f1", "ece", "macro_auc", "f1_0"):
            assert 0.0 <= m[f"test.{ds}.{k}"] <= 1.0
    assert "baseline.davidson.macro_f1" in m
    assert any(k.startswith("subgroup_auc.") for k in m)
    arts = {a.path for a in _client(registry_settings).list_artifacts(first_run.run_id)}
    assert {"confusion_matrix.png", "model_card.md"} <= arts
    # the logged model carries explicit pins (no local +cpu tag) and an input example
    model, name, version = load_severity_model("models:/trendml-severity/1", registry_settings)
    root = next(
        (registry_settings.models_dir / "registry" / "trendml-severity").glob(f"1-{first_run.run_id[:12]}")
    )
    reqs = next(root.rglob("requirements.txt")).read_text()
    assert "torch==" in reqs and "+cpu" not in reqs
    assert next(root.rglob("input_example.json")).is_file()
    assert (name, version) == ("trendml-severity", "1")


def test_store_settings_do_not_leak_into_the_environment(first_run):
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ


def test_uris_resolve(first_run, registry_settings, tmp_path):
    m1, _, v1 = load_severity_model(None, registry_settings)
    m2, _, v2 = load_severity_model("models:/trendml-severity@champion", registry_settings)
    assert v1 == v2 == champion_version(registry_settings)
    d = m1.save(tmp_path / "local")
    m3, name, v3 = load_severity_model(str(d), registry_settings)
    assert (name, v3) == ("local", "local") and m3.embedder_id == m1.embedder_id
    with pytest.raises(ModelNotFoundError, match="no version 99"):
        load_severity_model("models:/trendml-severity/99", registry_settings)
    with pytest.raises(ModelNotFoundError, match="no model"):
        load_severity_model("models:/unknown-model@champion", registry_settings)
    with pytest.raises(ModelNotFoundError, match="not understood"):
        load_severity_model("models:/a/b/c", registry_settings)


def test_no_registry_is_a_clear_error(tmp_path):
    from trendml.config import Settings

    empty = Settings(home=tmp_path / "empty")
    assert champion_version(empty) is None
    with pytest.raises(ModelNotFoundError, match="trendml train severity"):
        load_severity_model(None, empty)
    assert not (tmp_path / "empty" / "mlflow.db").exists()  # reading created nothing


def test_promotion_rule_pure():
    champ = {"test.a.macro_f1": 0.70, "test.b.macro_f1": 0.60, "subgroup_auc.x": 0.90}
    ok, reasons, _ = promotion_decision(
        {"test.a.macro_f1": 0.71, "test.b.macro_f1": 0.60, "subgroup_auc.x": 0.895}, champ
    )
    assert ok and not reasons
    ok, reasons, _ = promotion_decision(
        {"test.a.macro_f1": 0.80, "test.b.macro_f1": 0.60, "subgroup_auc.x": 0.88}, champ
    )
    assert not ok and "subgroup_auc.x" in reasons[0]
    ok, reasons, _ = promotion_decision({"test.a.macro_f1": 0.69, "test.b.macro_f1": 0.60}, champ)
    assert not ok and "macro-F1" in reasons[0]


def test_promote_refused_then_forced_and_failed_run(first_run, registry_settings, cached_embedder):
    from training.train import train_severity

    weak = train_severity(
        registry_settings,
        datasets=TINY_DATA,
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config={
            "model": {
                "features": "embedding",
                "C_embedding": 0.001,
                "class_weight": None,
                "tune_decision": False,
                "n_folds": 2,
            },
            "baseline": False,
        },
        run_name="tiny-weak",
    )
    assert weak.version not in (None, "1") and not weak.champion
    assert champion_version(registry_settings) == "1"
    mean = lambda m: sum(m[f"test.{d}.macro_f1"] for d in TINY_DATA) / len(TINY_DATA)  # noqa: E731
    assert mean(weak.metrics) < mean(first_run.metrics)  # precondition: the challenger is worse

    with pytest.raises(PromotionRefused, match="macro-F1"):
        promote(registry_settings, "trendml-severity", weak.version, rule=PromotionRule())
    assert champion_version(registry_settings) == "1"

    decision = promote(registry_settings, "trendml-severity", weak.version, force=True, rule=PromotionRule())
    assert decision.forced and champion_version(registry_settings) == weak.version
    tags = _client(registry_settings).get_model_version("trendml-severity", weak.version).tags
    assert tags["promotion.forced"] == "true" and "macro-F1" in tags["promotion.override_reasons"]
    rows = {r["version"]: r for r in list_versions(registry_settings)}
    assert rows[weak.version]["champion"] and not rows["1"]["champion"]

    # an invalid config is refused before any run exists (issue #21.7)
    n_versions = len(list_versions(registry_settings))
    client = _client(registry_settings)
    exp = client.get_experiment_by_name("trendml-severity")
    n_runs = len(client.search_runs([exp.experiment_id]))
    for bad in ({"features": "no-such-features"}, {"features": "tfidf", "source_aware": True}):
        with pytest.raises(InputError, match="config model"):
            train_severity(
                registry_settings,
                datasets=TINY_DATA,
                embedder=cached_embedder,
                max_rows_per_dataset=TINY_ROWS,
                config={"model": bad},
                run_name="tiny-invalid",
            )
    assert len(client.search_runs([exp.experiment_id])) == n_runs
    # a run that fails mid-way (more folds than rows) is FAILED, registers nothing, keeps the champion
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever scikit-learn raises
        train_severity(
            registry_settings,
            datasets=TINY_DATA,
            embedder=cached_embedder,
            max_rows_per_dataset=TINY_ROWS,
            config={"model": {"n_folds": 100_000}, "baseline": False},
            run_name="tiny-broken",
        )
    broken = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'tiny-broken'")
    assert [r.info.status for r in broken] == ["FAILED"]
    assert champion_version(registry_settings) == weak.version
    assert len(list_versions(registry_settings)) == n_versions

    # promoting the better model back is allowed by the rule (no force needed)
    back = promote(registry_settings, "trendml-severity", "1", rule=PromotionRule())
    assert back.allowed and not back.forced and champion_version(registry_settings) == "1"

    # issue #21.4: a bad forced promotion is undone by `rollback`, judged on the floors only
    promote(registry_settings, "trendml-severity", weak.version, force=True, rule=PromotionRule(), by="a@h")
    strict = PromotionRule(floors={"test.davidson.macro_f1": {"min": 0.99}})
    with pytest.raises(PromotionRefused, match=r"rollback .* to version 1 refused: test.davidson.macro_f1"):
        rollback(registry_settings, rule=strict, by="b@h")
    assert champion_version(registry_settings) == weak.version  # refused: nothing moved
    # the weak model's better subgroup AUCs would refuse a promotion back; a rollback never compares
    picky = PromotionRule(max_subgroup_auc_drop=-1.0, floors={"test.davidson.macro_f1": {"min": 0.2}})
    d = rollback(registry_settings, rule=picky, by="b@h")
    assert (d.version, d.previous, d.forced, d.action) == ("1", weak.version, False, "rollback")
    assert champion_version(registry_settings) == "1"
    events = alias_history(registry_settings)
    moves = [(e["action"], e["from"], e["to"], e["forced"]) for e in events]
    assert moves[-4:] == [
        ("promote", "1", weak.version, True),
        ("promote", weak.version, "1", False),
        ("promote", "1", weak.version, True),
        ("rollback", weak.version, "1", False),
    ]
    assert moves[0] == ("register", None, "1", False)
    assert events[-1]["by"] == "b@h" and events[-2]["by"] == "a@h" and events[-1]["at"] >= events[0]["at"]
    assert "macro-F1" in "; ".join(events[-2]["reasons"])  # the override's reasons are kept
    assert champion_stack(events)[-1] == "1"
    # the chain of champions is now 1, weak, 1: a second rollback would target the weak one (floors)
    with pytest.raises(PromotionRefused, match=f"to version {weak.version} refused"):
        rollback(registry_settings, rule=strict)
    assert champion_version(registry_settings) == "1"


def test_compare_runs(first_run, registry_settings):
    from training.compare import compare_runs

    df = compare_runs(registry_settings)
    assert first_run.run_id in set(df["run_id"])
    row = df[df["run_id"] == first_run.run_id].iloc[0]
    assert row["version"] == "1" and row["status"] == "FINISHED"
    assert not math.isnan(row["test.davidson.macro_f1"])
