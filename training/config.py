"""The severity training config (``models/severity.yaml``), merged over built-in defaults."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import yaml

from trendml.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "models" / "severity.yaml"

DEFAULTS: dict[str, Any] = {
    "name": "trendml-severity",
    "experiment": "trendml-severity",
    "datasets": ["davidson", "toxigen_seeds", "toxic_spans"],
    "split": {"seed": 20260301, "test_fraction": {"default": 0.2, "toxigen_seeds": 0.3}},
    "model": {
        "features": "stack_nb",
        "C": 1.0,
        "C_embedding": 1.0,
        "C_nb": 1.0,
        "class_weight": "balanced",
        "calibration": "vector",
        "tune_decision": True,
        "n_folds": 3,
        "n_repeats": 1,
        "random_state": 0,
        "source_aware": True,
        "C_source": 1.0,
        "threat_min_precision": 0.5,
        "threat_head": False,
        "C_threat": 1.0,
    },
    "annotator_weights": True,
    "augment": {"templates": True, "swaps": True, "more_templates": False},
    # per-row weight multipliers for the base learners only (training/data.py::dataset_weights)
    "base_weights": {},
    # per-row weight multipliers for the threat head only (model.threat_head; 0 leaves rows out)
    "threat_head_weights": {},
    # the threat threshold chosen on this dataset's training rows only (null: all training rows)
    "threat_threshold_on": None,
    "threat_soft_labels": True,
    "behaviour": True,
    "lodo": False,
    "lodo_model": {},
    "baseline": True,
    "promotion": {
        "max_subgroup_auc_drop": 0.01,
        # issue #11: a challenger that meets every floor below may give back this much Davidson
        # macro-F1 (the other test sets' mean macro-F1 must still not drop); see docs/severity.md
        "max_davidson_macro_f1_giveback": 0.03,
        # held-out floors, judged whenever a run reports the metric ({min: x} or {max: x})
        "floors": {
            "test.davidson.macro_f1": {"min": 0.75},
            "test.davidson.hate_f1": {"min": 0.47},
            "test.davidson.ece": {"max": 0.05},
            "test.toxigen_seeds.ece": {"max": 0.05},
            "test.toxic_spans.ece": {"max": 0.05},
            "test.toxigen_seeds.neutral_scored_hateful": {"max": 0.08},
            "threat.auc": {"min": 0.85},
            "threat.recall_at_p40": {"min": 0.6},
            "lodo.olid.auc_ge1": {"min": 0.80},
            "lodo.hateval.auc_ge2": {"min": 0.65},
            "behaviour.overall_acc": {"min": 0.85},
            "behaviour.min_functionality_acc": {"min": 0.60},
        },
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(source: str | Path | dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults, then the YAML file (default ``models/severity.yaml`` when it exists) or dict, then
    ``overrides`` (nested dicts merge)."""
    cfg = copy.deepcopy(DEFAULTS)
    if isinstance(source, dict):
        cfg = _merge(cfg, source)
    else:
        path = Path(source) if source is not None else DEFAULT_CONFIG_PATH
        if source is not None and not path.is_file():
            raise InputError(
                f"config file {path} does not exist; expected a YAML file like models/severity.yaml"
            )
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise InputError(
                    f"config file {path} is not valid YAML ({exc}); expected a mapping"
                ) from None
            if not isinstance(loaded, dict):
                raise InputError(f"config file {path} holds a {type(loaded).__name__}; expected a mapping")
            cfg = _merge(cfg, loaded)
    return _merge(cfg, overrides)


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"model.C": "1.0", ...}``: the config as MLflow params."""
    out: dict[str, str] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return out


def validate_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Refuse a config that could only fail later, before any MLflow run is created
    (:class:`InputError` naming the key); returns ``cfg``."""
    from trendml.severity.estimator import SeverityModel
    from trendml.severity.features import FEATURE_SETS

    model = cfg.get("model")
    if not isinstance(model, dict):
        raise InputError(
            f"config model is {type(model).__name__}; expected a mapping of SeverityModel parameters"
        )
    try:
        SeverityModel(**model)
    except TypeError as exc:
        raise InputError(
            f"config model has an unknown parameter ({exc}); expected SeverityModel's parameters; "
            "see models/severity.yaml"
        ) from None
    features, calibration = model.get("features"), model.get("calibration", "vector")
    if features not in FEATURE_SETS:
        raise InputError(
            f'config model.features is "{features}"; expected one of {", ".join(FEATURE_SETS)}; '
            "fix models/severity.yaml or --config"
        )
    if calibration not in ("vector", "none"):
        raise InputError(f'config model.calibration is "{calibration}"; expected "vector" or "none"')
    n_repeats = model.get("n_repeats", 1)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise InputError(f"config model.n_repeats is {n_repeats!r}; expected an integer >= 1")
    if str(features).startswith("stack") and calibration == "none":
        raise InputError(f'config model.features "{features}" needs model.calibration "vector" (the stacker)')
    if model.get("source_aware"):
        if features == "tfidf":
            raise InputError(
                'config model.source_aware is true but model.features is "tfidf"; expected features with '
                "an embedding block (embedding, both, stack, stack_nb) or source_aware: false"
            )
        if calibration == "none":
            raise InputError(
                'config model.source_aware needs model.calibration "vector"; or set source_aware: false'
            )
    datasets = cfg.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        raise InputError(f"config datasets is {datasets!r}; expected a list of dataset names")
    fractions = (cfg.get("split") or {}).get("test_fraction") or {}
    for name, f in fractions.items():
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f < 1:
            raise InputError(f"config split.test_fraction.{name} is {f!r}; expected a number between 0 and 1")
    soft = cfg.get("threat_soft_labels", True)
    if soft not in (True, False, "base"):
        raise InputError(f'config threat_soft_labels is {soft!r}; expected true, false or "base"')
    on = cfg.get("threat_threshold_on")
    if on is not None and not isinstance(on, str):
        raise InputError(
            f"config threat_threshold_on is {on!r}; expected a dataset name (toxic_spans) or null"
        )
    for key in ("base_weights", "threat_head_weights"):
        base_weights = cfg.get(key) or {}
        if not isinstance(base_weights, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for k, v in base_weights.items()
        ):
            raise InputError(
                f"config {key} is {base_weights!r}; expected a mapping of dataset (or "
                '"dataset.severity") to a number >= 0, e.g. {augment: 3.0, toxigen_seeds.0: 3.0}'
            )
    floors = (cfg.get("promotion") or {}).get("floors") or {}
    for key, floor in floors.items():
        if (
            not isinstance(floor, dict)
            or not floor
            or set(floor) - {"min", "max"}
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in floor.values())
        ):
            raise InputError(
                f"config promotion.floors.{key} is {floor!r}; expected {{min: NUMBER}} and/or {{max: NUMBER}}"
            )
    return cfg
