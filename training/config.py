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
    },
    "annotator_weights": True,
    "augment": {"templates": True, "swaps": True},
    "threat_soft_labels": True,
    "behaviour": True,
    "lodo": False,
    "lodo_model": {},
    "baseline": True,
    "promotion": {"max_subgroup_auc_drop": 0.01},
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
