"""Resolve a model reference into a loaded :class:`SeverityModel`, and move the champion alias.

References: ``models:/trendml-severity@champion`` (an alias), ``models:/trendml-severity/3`` (a
version), or a local directory (one written by ``SeverityModel.save``, or a downloaded MLflow model
that holds one). Registry downloads are cached under ``TRENDML_HOME/models/registry/NAME/``
(``VERSION-RUNID``) so a hot-swap reload is a local read.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from training.tracking import CHAMPION, MODEL_NAME, connect, mlflow_store, store_exists
from trendml.config import Settings
from trendml.errors import ModelNotFoundError, StateError, TrendmlError
from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)

DEFAULT_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[^/@]+))$")
_MODEL_FILE = "severity_model.json"


class PromotionRefused(TrendmlError):
    """The challenger does not meet the promotion rule (and ``--force`` was not given)."""


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, alias, version)`` of a ``models:/`` URI; :class:`ModelNotFoundError` if malformed."""
    m = _URI.match(uri.strip())
    if not m:
        raise ModelNotFoundError(
            f'model URI "{uri}" is not understood; expected models:/NAME@ALIAS, models:/NAME/VERSION '
            "or a local model directory"
        )
    return m["name"], m["alias"], m["version"]


def _find_model_dir(root: Path) -> Path | None:
    if (root / _MODEL_FILE).is_file():
        return root
    found = sorted(root.rglob(_MODEL_FILE))
    return found[0].parent if found else None


def _resolve_version(client, name: str, alias: str | None, version: str | None) -> str:  # noqa: ANN001
    from mlflow.exceptions import MlflowException

    try:
        if alias is not None:
            return str(client.get_model_version_by_alias(name, alias).version)
        return str(client.get_model_version(name, str(version)).version)
    except MlflowException:
        pass
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise ModelNotFoundError(
            f'the registry has no model "{name}"; expected {MODEL_NAME} registered by training; '
            "run `trendml train severity`"
        ) from None
    if alias == CHAMPION:
        raise ModelNotFoundError(
            f'"{name}" has no {CHAMPION} version yet; expected one set by training or promotion; '
            f"run `trendml train severity` or `trendml models promote {name} --version N`"
        )
    what = f"alias @{alias}" if alias is not None else f"version {version}"
    raise ModelNotFoundError(
        f'"{name}" has no {what}; expected an existing version or alias; see `trendml models list`'
    )


def champion_version(settings: Settings, name: str = MODEL_NAME) -> str | None:
    """The champion's version string, or ``None`` when there is no registry, model or champion."""
    if not store_exists(settings):
        return None
    from mlflow.exceptions import MlflowException

    client = connect(settings, create=False)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _download(client, settings: Settings, name: str, version: str) -> Path:  # noqa: ANN001
    import mlflow.artifacts

    # keyed by version *and* run id: a registry rebuilt from scratch reuses version numbers
    run_id = client.get_model_version(name, version).run_id or "norun"
    target = settings.models_dir / "registry" / name / f"{version}-{run_id[:12]}"
    if target.is_dir() and _find_model_dir(target) is not None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        with mlflow_store(settings):
            source = client.get_model_version_download_uri(name, version)
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StateError(
            f"the artifacts of {name} version {version} could not be read ({type(exc).__name__}: {exc}); "
            f"expected them under {settings.mlflow_artifact_root}; retrain with `trendml train severity`"
        ) from None
    return target


def load_severity_model(uri: str | None, settings: Settings) -> tuple[SeverityModel, str, str]:
    """``(model, name, version)`` for a ``models:/`` URI (default: the champion) or a local directory."""
    ref = uri or DEFAULT_URI
    if not ref.startswith("models:/"):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFoundError(
                f'model "{ref}" is neither a models:/ URI nor an existing directory; expected '
                f"{DEFAULT_URI} or a model directory; run `trendml train severity` to make one"
            )
        model_dir = _find_model_dir(path) if path.is_dir() else None
        if model_dir is None:
            raise StateError(
                f"{path} holds no severity model; expected a directory with {_MODEL_FILE}; "
                "pass a directory written by training or a models:/ URI"
            )
        return SeverityModel.load(model_dir), path.resolve().name, "local"
    name, alias, version = parse_model_uri(ref)
    client = connect(settings, create=False)
    resolved = _resolve_version(client, name, alias, version)
    root = _download(client, settings, name, resolved)
    model_dir = _find_model_dir(root)
    if model_dir is None:
        raise StateError(
            f"{name} version {resolved} holds no severity model files; "
            f"expected {_MODEL_FILE} in its artifacts; "
            "retrain with `trendml train severity`"
        )
    return SeverityModel.load(model_dir), name, resolved


# -- promotion ---------------------------------------------------------------------------------
@dataclass
class PromotionDecision:
    name: str
    version: str
    previous: str | None
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    compared: dict[str, tuple[float, float]] = field(default_factory=dict)
    forced: bool = False


def _run_metrics(client, name: str, version: str) -> dict[str, float]:  # noqa: ANN001
    mv = client.get_model_version(name, version)
    if not mv.run_id:
        return {}
    return dict(client.get_run(mv.run_id).data.metrics)


def promotion_decision(
    challenger: dict[str, float], champion: dict[str, float], *, max_subgroup_auc_drop: float = 0.01
) -> tuple[bool, list[str], dict[str, tuple[float, float]]]:
    """The promotion rule, as a pure function of two runs' metrics.

    Allowed iff the challenger's mean macro-F1 over the test sets both runs report is >= the
    champion's, and no subgroup AUC both report drops by more than ``max_subgroup_auc_drop``.
    """
    reasons: list[str] = []
    compared: dict[str, tuple[float, float]] = {}
    keys = sorted(
        k for k in champion if k.startswith("test.") and k.endswith(".macro_f1") and k in challenger
    )
    if keys:
        new = sum(challenger[k] for k in keys) / len(keys)
        old = sum(champion[k] for k in keys) / len(keys)
        compared["macro_f1"] = (old, new)
        if new < old:
            reasons.append(f"macro-F1 {new:.4f} < champion's {old:.4f} (over {', '.join(keys)})")
    else:
        reasons.append("no test set in common with the champion to compare macro-F1 on")
    for k in sorted(k for k in champion if k.startswith("subgroup_auc.") and k in challenger):
        old, new = champion[k], challenger[k]
        if math.isnan(old) or math.isnan(new):
            continue
        compared[k] = (old, new)
        if old - new > max_subgroup_auc_drop:
            reasons.append(f"{k} drops {old - new:.4f} ({old:.4f} -> {new:.4f}) > {max_subgroup_auc_drop}")
    return not reasons, reasons, compared


def promote(
    settings: Settings,
    name: str,
    version: str,
    *,
    force: bool = False,
    max_subgroup_auc_drop: float = 0.01,
) -> PromotionDecision:
    """Point the champion alias at ``version`` if the rule allows it (or ``force``; the override is
    recorded as model-version tags). Raises :class:`PromotionRefused` when refused."""
    client = connect(settings, create=False)
    version = str(version)
    _resolve_version(client, name, None, version)
    previous = champion_version(settings, name)
    decision = PromotionDecision(name=name, version=version, previous=previous, allowed=True)
    if previous is not None and previous != version:
        allowed, reasons, compared = promotion_decision(
            _run_metrics(client, name, version),
            _run_metrics(client, name, previous),
            max_subgroup_auc_drop=max_subgroup_auc_drop,
        )
        decision.allowed, decision.reasons, decision.compared = allowed, reasons, compared
    if not decision.allowed and not force:
        raise PromotionRefused(
            f"promotion of {name} version {version} refused: {'; '.join(decision.reasons)}; "
            "expected macro-F1 >= "
            f"the champion's (version {previous}) and no subgroup AUC drop > {max_subgroup_auc_drop}; "
            "pass --force to override (recorded)"
        )
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promotion", f"champion since {stamp} (was {previous})")
    if not decision.allowed:
        decision.forced = True
        client.set_model_version_tag(name, version, "promotion.forced", "true")
        client.set_model_version_tag(name, version, "promotion.override_reasons", "; ".join(decision.reasons))
    logger.info(
        "%s version %s is champion (was %s)%s",
        name,
        version,
        previous,
        " [forced]" if decision.forced else "",
    )
    return decision


def list_versions(settings: Settings, name: str = MODEL_NAME) -> list[dict[str, object]]:
    """Registered versions with their run's headline metrics and the champion flag."""
    client = connect(settings, create=False)
    champ = champion_version(settings, name)
    rows = []
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)):
        metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
        rows.append(
            {
                "version": str(mv.version),
                "run_id": mv.run_id,
                "champion": str(mv.version) == champ,
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                "tags": dict(mv.tags),
                "metrics": metrics,
            }
        )
    return rows
