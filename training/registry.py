"""The registry's write side: register a version, move the champion alias (promote, rollback) and
its history. The read side (resolve a ``models:/`` reference, load a model, the champion, the
versions) is :mod:`trendml.registry`, re-exported here for the training shell and its callers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from training.tracking import connect
from trendml.config import Settings
from trendml.errors import StateError, TrendmlError
from trendml.registry import (  # noqa: F401 - the read side, re-exported
    ARTIFACT_HASH_TAG,
    CHAMPION,
    DEFAULT_URI,
    HISTORY_TAG,
    MODEL_NAME,
    _find_model_dir,
    _resolve_version,
    alias_history,
    artifact_sha256,
    champion_version,
    list_versions,
    load_severity_model,
    parse_model_uri,
)

logger = logging.getLogger(__name__)


class PromotionRefused(TrendmlError):
    """The challenger does not meet the promotion rule (and ``--force`` was not given)."""


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
    notes: list[str] = field(default_factory=list)
    action: str = "promote"


@dataclass(frozen=True)
class PromotionRule:
    """The knobs of :func:`promotion_decision` (``promotion:`` in models/severity.yaml)."""

    max_subgroup_auc_drop: float = 0.01
    max_davidson_macro_f1_giveback: float = 0.03
    floors: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict | None = None) -> PromotionRule:  # noqa: ANN001
        from training.config import load_config

        p = (cfg if cfg is not None else load_config())["promotion"]
        return cls(
            max_subgroup_auc_drop=float(p.get("max_subgroup_auc_drop", 0.01)),
            max_davidson_macro_f1_giveback=float(p.get("max_davidson_macro_f1_giveback", 0.03)),
            floors={k: {op: float(x) for op, x in v.items()} for k, v in (p.get("floors") or {}).items()},
        )


def _run_metrics(client, name: str, version: str) -> dict[str, float]:  # noqa: ANN001
    mv = client.get_model_version(name, version)
    if not mv.run_id:
        return {}
    return dict(client.get_run(mv.run_id).data.metrics)


def _run_params(client, name: str, version: str) -> dict[str, str]:  # noqa: ANN001
    mv = client.get_model_version(name, version)
    if not mv.run_id:
        return {}
    return dict(client.get_run(mv.run_id).data.params)


def _value(metrics: dict[str, float], key: str) -> float | None:
    v = metrics.get(key)
    return None if v is None or math.isnan(float(v)) else float(v)


def _meets(value: float, floor: dict[str, float]) -> bool:
    return ("min" not in floor or value >= floor["min"]) and ("max" not in floor or value <= floor["max"])


def _floor_text(floor: dict[str, float]) -> str:
    return " and ".join(f"{'>=' if op == 'min' else '<='} {x:g}" for op, x in sorted(floor.items()))


def check_floors(
    metrics: dict[str, float], floors: dict[str, dict[str, float]], *, require: bool = False
) -> tuple[list[str], list[str], dict[str, float]]:
    """``(failed, missing, measured)``: the floors ``metrics`` misses, the floor metrics it does not
    report, and the values it does. With ``require`` a missing floor metric counts as failed."""
    failed, missing, measured = [], [], {}
    for key, floor in sorted(floors.items()):
        v = _value(metrics, key)
        if v is None:
            missing.append(key)
            if require:
                failed.append(f"{key} not measured (floor {_floor_text(floor)})")
            continue
        measured[key] = v
        if not _meets(v, floor):
            failed.append(f"{key} = {v:.4f} misses its floor ({_floor_text(floor)})")
    return failed, missing, measured


def reported_test_sets(metrics: dict[str, float]) -> list[str]:
    """The test sets a run reports (``test.<ds>.macro_f1``)."""
    return sorted(k[5:-9] for k in metrics if k.startswith("test.") and k.endswith(".macro_f1"))


def promotion_decision(
    challenger: dict[str, float],
    champion: dict[str, float],
    *,
    max_subgroup_auc_drop: float = 0.01,
    challenger_params: dict[str, str] | None = None,
    champion_params: dict[str, str] | None = None,
    floors: dict[str, dict[str, float]] | None = None,
    max_davidson_macro_f1_giveback: float = 0.03,
) -> tuple[bool, list[str], dict[str, tuple[float, float]]]:
    """The promotion rule, as a pure function of two runs' metrics (and params).

    Refused (every reason listed) when:

    1. the challenger lacks any of the champion's test sets (``test.<ds>.macro_f1``), or, given the
       params, a test set's ``split_digest.<ds>`` or ``n_test.<ds>`` differs from the champion's;
    2. a floor metric (``floors``: ``{key: {"min"|"max": x}}``) that the champion reports is missing
       from the challenger, or the challenger misses a floor, unless the champion misses that floor
       too and the challenger is no worse on it (not a regression);
    3. the challenger's mean macro-F1 over the champion's test sets is below the champion's, unless
       the challenger reports and meets *every* floor, gives back at most
       ``max_davidson_macro_f1_giveback`` of Davidson macro-F1, and its mean macro-F1 over the other
       test sets is not below the champion's (issue #11);
    4. a subgroup AUC both report drops by more than ``max_subgroup_auc_drop``.
    """
    floors = floors or {}
    reasons: list[str] = []
    compared: dict[str, tuple[float, float]] = {}
    champ_sets, chal_sets = reported_test_sets(champion), reported_test_sets(challenger)

    # 1. the same test sets, on the same splits
    lacking = [ds for ds in champ_sets if ds not in chal_sets]
    if lacking:
        reasons.append(
            f"the challenger was not tested on {', '.join(lacking)} (the champion's test sets: "
            f"{', '.join(champ_sets)}); retrain it with those datasets"
        )
    if challenger_params is not None and champion_params is not None:
        for ds in (d for d in champ_sets if d in chal_sets):
            for key, what in ((f"split_digest.{ds}", "split digest"), (f"n_test.{ds}", "test row count")):
                old, new = champion_params.get(key), challenger_params.get(key)
                if old is not None and old != new:
                    reasons.append(
                        f"the {ds} test set differs: {what} {new or 'not recorded'} vs the champion's {old}"
                    )

    # 2. floors
    floors_met = True
    for key, floor in sorted(floors.items()):
        new, old = _value(challenger, key), _value(champion, key)
        if new is None:
            floors_met = False
            if old is not None:
                reasons.append(
                    f"the challenger does not report {key} (the champion does; floor {_floor_text(floor)})"
                )
            continue
        compared[key] = (math.nan if old is None else old, new)
        if _meets(new, floor):
            continue
        floors_met = False
        no_worse = (
            old is not None and not _meets(old, floor) and (new >= old if "min" in floor else new <= old)
        )
        if not no_worse:
            reasons.append(f"{key} = {new:.4f} misses its floor ({_floor_text(floor)})")

    # 3. macro-F1 over the champion's test sets
    keys = [f"test.{ds}.macro_f1" for ds in champ_sets if ds in chal_sets]
    if keys:
        new = sum(challenger[k] for k in keys) / len(keys)
        old = sum(champion[k] for k in keys) / len(keys)
        for k in keys:
            compared[k] = (champion[k], challenger[k])
        compared["macro_f1"] = (old, new)
        if new < old:
            dav = "test.davidson.macro_f1"
            others = [k for k in keys if k != dav]
            giveback = champion[dav] - challenger[dav] if dav in keys else math.inf
            others_ok = not others or (
                sum(challenger[k] for k in others) / len(others)
                >= sum(champion[k] for k in others) / len(others)
            )
            if not (floors and floors_met and giveback <= max_davidson_macro_f1_giveback and others_ok):
                why = (
                    "the Davidson give-back of up to "
                    f"{max_davidson_macro_f1_giveback:g} applies only to a challenger that reports and "
                    "meets every floor and does not lose on the other test sets"
                )
                reasons.append(f"macro-F1 {new:.4f} < champion's {old:.4f} (over {', '.join(keys)}); {why}")
    elif champ_sets:
        pass  # already refused: no common test set
    else:
        reasons.append("no test set in common with the champion to compare macro-F1 on")

    # 4. subgroup AUCs
    for k in sorted(k for k in champion if k.startswith("subgroup_auc.") and k in challenger):
        old, new = champion[k], challenger[k]
        if math.isnan(old) or math.isnan(new):
            continue
        compared[k] = (old, new)
        if old - new > max_subgroup_auc_drop:
            reasons.append(f"{k} drops {old - new:.4f} ({old:.4f} -> {new:.4f}) > {max_subgroup_auc_drop}")
    return not reasons, reasons, compared


# -- alias history -----------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_alias_event(client, name: str, event: dict[str, object]) -> dict[str, object]:  # noqa: ANN001
    """Append one event (``at, by, action, alias, from, to, forced, reasons``) to the alias history:
    one registered-model tag ``alias_history.NNNNNN`` per event, so nothing is ever overwritten."""
    tags = client.get_registered_model(name).tags
    seq = 1 + max((int(k[len(HISTORY_TAG) :]) for k in tags if k.startswith(HISTORY_TAG)), default=0)
    full = {"seq": seq, "at": _now(), "alias": CHAMPION, "forced": False, "reasons": []} | event
    client.set_registered_model_tag(name, f"{HISTORY_TAG}{seq:06d}", json.dumps(full, sort_keys=True))
    return full


def champion_stack(events: list[dict[str, object]]) -> list[str]:
    """The chain of champions the history implies: registrations and promotions push, rollbacks pop."""
    stack: list[str] = []
    for e in events:
        if e.get("alias", CHAMPION) != CHAMPION:
            continue
        if e.get("action") == "rollback" and stack:
            stack.pop()
            if not stack or stack[-1] != str(e["to"]):
                stack.append(str(e["to"]))
        else:
            stack.append(str(e["to"]))
    return stack


def _refuse_text(
    name: str, version: str, previous: str | None, reasons: list[str], rule: PromotionRule
) -> str:
    return (
        f"promotion of {name} version {version} refused: {'; '.join(reasons)}; expected the champion's "
        f"(version {previous}) test sets on the same splits, every reported floor met, macro-F1 >= the "
        f"champion's (or <= {rule.max_davidson_macro_f1_giveback:g} Davidson give-back when every floor is "
        f"met) and no subgroup AUC drop > {rule.max_subgroup_auc_drop:g}; pass --force to override (recorded)"
    )


def _move_champion(client, decision: PromotionDecision, by: str) -> None:  # noqa: ANN001
    name, version, previous = decision.name, decision.version, decision.previous
    client.set_registered_model_alias(name, CHAMPION, version)
    stamp = _now()
    client.set_model_version_tag(name, version, "promotion", f"champion since {stamp} (was {previous})")
    if decision.forced:
        client.set_model_version_tag(name, version, "promotion.forced", "true")
        client.set_model_version_tag(name, version, "promotion.override_reasons", "; ".join(decision.reasons))
    record_alias_event(
        client,
        name,
        {
            "at": stamp,
            "by": by,
            "action": decision.action,
            "from": previous,
            "to": version,
            "forced": decision.forced,
            "reasons": decision.reasons,
        },
    )
    logger.info(
        "%s version %s is champion (was %s, %s)%s",
        name,
        version,
        previous,
        decision.action,
        " [forced]" if decision.forced else "",
    )


def promote(
    settings: Settings,
    name: str,
    version: str,
    *,
    force: bool = False,
    max_subgroup_auc_drop: float | None = None,
    rule: PromotionRule | None = None,
    by: str = "unknown",
) -> PromotionDecision:
    """Point the champion alias at ``version`` if :func:`promotion_decision` allows it (or ``force``;
    the override is recorded). Every move is appended to the alias history. Raises
    :class:`PromotionRefused` when refused. ``rule`` defaults to models/severity.yaml's ``promotion``."""
    rule = rule or PromotionRule.from_config()
    if max_subgroup_auc_drop is not None:
        rule = PromotionRule(max_subgroup_auc_drop, rule.max_davidson_macro_f1_giveback, rule.floors)
    client = connect(settings, create=False)
    version = str(version)
    _resolve_version(client, name, None, version)
    previous = champion_version(settings, name)
    decision = PromotionDecision(name=name, version=version, previous=previous, allowed=True)
    if previous is not None and previous != version:
        allowed, reasons, compared = promotion_decision(
            _run_metrics(client, name, version),
            _run_metrics(client, name, previous),
            max_subgroup_auc_drop=rule.max_subgroup_auc_drop,
            challenger_params=_run_params(client, name, version),
            champion_params=_run_params(client, name, previous),
            floors=rule.floors,
            max_davidson_macro_f1_giveback=rule.max_davidson_macro_f1_giveback,
        )
        decision.allowed, decision.reasons, decision.compared = allowed, reasons, compared
    if previous == version:
        decision.notes.append(f"version {version} is already the champion: nothing changed")
        return decision
    if not decision.allowed and not force:
        raise PromotionRefused(_refuse_text(name, version, previous, decision.reasons, rule))
    decision.forced = not decision.allowed
    _move_champion(client, decision, by)
    return decision


def rollback(
    settings: Settings,
    name: str = MODEL_NAME,
    *,
    force: bool = False,
    rule: PromotionRule | None = None,
    by: str = "unknown",
) -> PromotionDecision:
    """Point the champion alias back at the previous champion (from the alias history).

    The previous champion is judged against the held-out floors only (``rule.floors``), never against
    the model being rolled back. Raises :class:`PromotionRefused` when it misses a floor (and not
    ``force``), :class:`StateError` when there is no previous champion."""
    rule = rule or PromotionRule.from_config()
    client = connect(settings, create=False)
    current = champion_version(settings, name)
    if current is None:
        raise StateError(
            f'"{name}" has no {CHAMPION} to roll back; expected a promoted version; see `trendml models list`'
        )
    stack = champion_stack(alias_history(settings, name))
    if not stack or stack[-1] != current:  # the alias moved outside trendml: current is on top
        stack.append(current)
    target = stack[-2] if len(stack) > 1 else None
    if target is None:
        raise StateError(
            f"{name} version {current} is the only champion the alias history knows; expected an "
            "earlier champion to roll back to; promote a version with `trendml models promote`"
        )
    _resolve_version(client, name, None, target)
    failed, missing, measured = check_floors(_run_metrics(client, name, target), rule.floors)
    decision = PromotionDecision(
        name=name,
        version=target,
        previous=current,
        allowed=not failed,
        reasons=failed,
        compared={k: (math.nan, v) for k, v in measured.items()},
        action="rollback",
    )
    if missing:
        decision.notes.append(f"not measured by version {target}: {', '.join(missing)}")
    if failed and not force:
        raise PromotionRefused(
            f"rollback of {name} to version {target} refused: {'; '.join(failed)}; expected every floor "
            "its run reports met; pass --force to override (recorded)"
        )
    decision.forced = bool(failed)
    _move_champion(client, decision, by)
    return decision


def register_version(
    client,  # noqa: ANN001
    name: str,
    model_uri: str,
    *,
    artifact_sha256: str,  # noqa: F811 - the hash, not the re-exported function
    by: str = "unknown",
) -> tuple[str, bool]:
    """Register the logged model ``model_uri`` as a new version of ``name``, record its artifact hash
    (``trendml.artifact_sha256``), and make it champion when there is none yet (recorded in the alias
    history). Called as the last step of a training run, after everything else is logged.
    ``(version, became_champion)``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mv = mlflow.register_model(model_uri, name)
    version = str(mv.version)
    client.set_model_version_tag(name, version, ARTIFACT_HASH_TAG, artifact_sha256)
    try:
        client.get_model_version_by_alias(name, CHAMPION)
        return version, False
    except MlflowException:
        pass
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promotion", "first version: champion by default")
    record_alias_event(
        client, name, {"by": by, "action": "register", "from": None, "to": version, "forced": False}
    )
    return version, True
