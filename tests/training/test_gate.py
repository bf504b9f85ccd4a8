"""The promotion gate (issue #21.1 + issue #11's floor rule): pure rule, then a real challenger trained on
ToxiGen only, refused against a champion tested on Davidson too."""

from __future__ import annotations

import pytest

from tests.training.conftest import TINY, TINY_ROWS
from training.config import load_config
from training.registry import (
    PromotionRefused,
    PromotionRule,
    champion_version,
    promote,
    promotion_decision,
)

FLOORS = {
    "test.davidson.macro_f1": {"min": 0.75},
    "test.davidson.ece": {"max": 0.05},
    "behaviour.overall_acc": {"min": 0.85},
    "threat.auc": {"min": 0.85},
}
CHAMP = {
    "test.davidson.macro_f1": 0.80,
    "test.toxigen_seeds.macro_f1": 0.60,
    "test.olid.macro_f1": 0.50,
    "test.davidson.ece": 0.03,
}
PARAMS = {
    "split_digest.davidson": "d1",
    "n_test.davidson": "4957",
    "split_digest.toxigen_seeds": "t1",
    "n_test.toxigen_seeds": "217",
    "split_digest.olid": "o1",
    "n_test.olid": "2648",
}


def test_gate_refuses_a_challenger_missing_a_champion_test_set():
    chal = {"test.toxigen_seeds.macro_f1": 0.95}  # better where tested, never tested on davidson/olid
    ok, reasons, _ = promotion_decision(chal, CHAMP)
    assert not ok
    assert "not tested on davidson, olid" in reasons[0]


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("split_digest.davidson", "other", "davidson test set differs: split digest other"),
        ("n_test.olid", "100", "olid test set differs: test row count 100"),
        ("split_digest.toxigen_seeds", None, "toxigen_seeds test set differs: split digest not recorded"),
    ],
)
def test_gate_refuses_other_splits(key, value, expect):
    chal_params = {k: v for k, v in PARAMS.items() if k != key} | ({key: value} if value else {})
    ok, reasons, _ = promotion_decision(
        dict(CHAMP), CHAMP, challenger_params=chal_params, champion_params=PARAMS
    )
    assert not ok and [r for r in reasons if expect in r], reasons
    ok, reasons, _ = promotion_decision(dict(CHAMP), CHAMP, challenger_params=PARAMS, champion_params=PARAMS)
    assert ok, reasons


def _robust(davidson: float, **extra: float) -> dict[str, float]:
    return {
        "test.davidson.macro_f1": davidson,
        "test.toxigen_seeds.macro_f1": 0.66,
        "test.olid.macro_f1": 0.55,
        "test.davidson.ece": 0.04,
        "behaviour.overall_acc": 0.9,
        "threat.auc": 0.9,
    } | extra


def test_floors_allow_a_davidson_giveback_of_up_to_003():
    # meets every floor, gives back 0.02 of Davidson macro-F1, gains elsewhere: promotable
    ok, reasons, compared = promotion_decision(_robust(0.78), CHAMP, floors=FLOORS)
    assert ok, reasons
    assert compared["behaviour.overall_acc"][1] == 0.9
    # the same mean without the floor metrics: refused, and the reason says why
    plain = {"test.davidson.macro_f1": 0.70, "test.toxigen_seeds.macro_f1": 0.61, "test.olid.macro_f1": 0.51}
    ok, reasons, _ = promotion_decision(plain | {"test.davidson.ece": 0.04}, CHAMP, floors=FLOORS)
    assert not ok and any("give-back" in r for r in reasons)
    # more than 0.03 given back: refused even with every floor met
    ok, reasons, _ = promotion_decision(
        _robust(0.765, **{"test.toxigen_seeds.macro_f1": 0.61, "test.olid.macro_f1": 0.50}),
        CHAMP,
        floors=FLOORS,
    )
    assert not ok and any("macro-F1" in r for r in reasons)
    # within 0.03 but losing on the other test sets: refused
    ok, reasons, _ = promotion_decision(
        _robust(0.78, **{"test.toxigen_seeds.macro_f1": 0.55, "test.olid.macro_f1": 0.50}),
        CHAMP,
        floors=FLOORS,
    )
    assert not ok


def test_floors_refuse_misses_and_missing_metrics():
    champ = CHAMP | {"behaviour.overall_acc": 0.9, "threat.auc": 0.9}
    ok, reasons, _ = promotion_decision(_robust(0.81, **{"threat.auc": 0.70}), champ, floors=FLOORS)
    assert not ok and reasons == ["threat.auc = 0.7000 misses its floor (>= 0.85)"]
    no_suite = {k: v for k, v in _robust(0.81).items() if not k.startswith("behaviour.")}
    ok, reasons, _ = promotion_decision(no_suite, champ, floors=FLOORS)
    assert not ok and "does not report behaviour.overall_acc" in reasons[0]
    # a floor the champion misses too is not a regression when the challenger is no worse on it
    weak_champ = champ | {"test.davidson.ece": 0.09}
    ok, reasons, _ = promotion_decision(
        _robust(0.81, **{"test.davidson.ece": 0.07}), weak_champ, floors=FLOORS
    )
    assert ok, reasons
    ok, reasons, _ = promotion_decision(
        _robust(0.81, **{"test.davidson.ece": 0.10}), weak_champ, floors=FLOORS
    )
    assert not ok and "test.davidson.ece" in reasons[0]


def test_rule_from_config_has_issue11_floors():
    rule = PromotionRule.from_config(load_config(None))
    assert rule.max_davidson_macro_f1_giveback == 0.03 and rule.max_subgroup_auc_drop == 0.01
    assert rule.floors["behaviour.min_functionality_acc"] == {"min": 0.6}
    assert rule.floors["test.toxigen_seeds.neutral_scored_hateful"] == {"max": 0.08}
    assert rule.floors["lodo.hateval.auc_ge2"] == {"min": 0.65}


def test_toxigen_only_challenger_is_refused(first_run, registry_settings, cached_embedder):
    """Issue #21.1 as reported: a model tested on ToxiGen only must not replace one tested on Davidson."""
    from training.train import train_severity

    champ = champion_version(registry_settings)
    narrow = train_severity(
        registry_settings,
        datasets=["toxigen_seeds"],
        embedder=cached_embedder,
        max_rows_per_dataset=TINY_ROWS,
        config=TINY | {"baseline": False},
        run_name="tiny-toxigen-only",
    )
    assert narrow.version is not None and not narrow.champion
    with pytest.raises(PromotionRefused, match="not tested on davidson") as info:
        promote(registry_settings, "trendml-severity", narrow.version, rule=PromotionRule())
    assert "--force" in str(info.value)
    assert champion_version(registry_settings) == champ


def test_champion_stack_and_rebase_are_pure():
    from pathlib import Path

    from service.models import client_safe
    from training.registry import champion_stack
    from training.tracking import _rebased
    from trendml.config import Settings

    ev = lambda a, f, t: {"action": a, "from": f, "to": t}  # noqa: E731
    events = [ev("register", None, "1"), ev("promote", "1", "2"), ev("promote", "2", "3")]
    assert champion_stack(events) == ["1", "2", "3"]
    assert champion_stack([*events, ev("rollback", "3", "2")]) == ["1", "2"]
    assert champion_stack([*events, ev("rollback", "3", "2"), ev("rollback", "2", "1")]) == ["1"]

    root = Path("/new/home/mlartifacts")
    assert _rebased("file:///old/h/mlartifacts/trendml-severity/1/abc", root) == (
        "file:///new/home/mlartifacts/trendml-severity/1/abc"
    )
    assert _rebased("/old/h/mlartifacts/x", root) == "/new/home/mlartifacts/x"
    assert _rebased("file:///new/home/mlartifacts/x", root) is None  # already here
    assert _rebased("models:/m-123", root) is None and _rebased("file:///elsewhere/mlruns/0", root) is None

    msg = (
        "StateError: /srv/h/models/registry/x/model.joblib is corrupt (sqlite:////srv/h/mlflow.db, /opt/a/b)"
    )
    safe = client_safe(msg, Settings(home=Path("/srv/h")))
    assert "/srv" not in safe and "/opt" not in safe and safe.startswith("StateError: $TRENDML_HOME/")
