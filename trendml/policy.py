"""The policy taxonomy as configuration (``models/policy.yaml``), validated with pydantic.

What a platform words its own way lives in one YAML file instead of code:

- ``levels``: the four severity levels' names and descriptions (the model's classes 0..3 stay
  the same; only what people read changes);
- ``priority``: the queue priority rule's parameters (priority per severity, how many levels
  membership in an emerging trend raises, the priority labels);
- ``policy_areas`` and ``report_reasons``: which policy area each ``report_reason`` belongs to
  (unlisted reasons go to ``default_area``);
- ``alerts``: alert rules, evaluated on every detection run (:mod:`trendml.alerts`);
- ``webhooks`` and ``alert_delivery``: where alerts go and how their delivery is retried.

The dashboard, reports, briefs, the API docs and the model card read level names from here
(:attr:`Policy.level_names`). :func:`load_policy` raises :class:`~trendml.errors.InputError`
naming the offending key (``levels.2.name``) so the CLI exits 2 and the service refuses to start
with that one line. The file's path is ``Settings.policy_file`` (``TRENDML_POLICY``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trendml.errors import InputError

logger = logging.getLogger(__name__)

SEVERITIES = (0, 1, 2, 3)
PRIORITIES = (1, 2, 3, 4)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    name: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=2000)


class PriorityRule(_Strict):
    """Priority 1 (most urgent) .. 4 per severity; membership in an emerging trend raises it
    ``emerging_raise`` levels, never past 1."""

    by_severity: dict[int, int]
    emerging_raise: int = Field(default=1, ge=0, le=3)
    labels: dict[int, str]

    @field_validator("by_severity")
    @classmethod
    def _every_severity(cls, v: dict[int, int]) -> dict[int, int]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"needs exactly the severities 0, 1, 2, 3 as keys; got {sorted(v)}")
        bad = {k: p for k, p in v.items() if p not in PRIORITIES}
        if bad:
            raise ValueError(f"priorities must be 1..4; got {bad}")
        return v

    @field_validator("labels")
    @classmethod
    def _every_priority(cls, v: dict[int, str]) -> dict[int, str]:
        if set(v) != set(PRIORITIES):
            raise ValueError(f"needs exactly the priorities 1, 2, 3, 4 as keys; got {sorted(v)}")
        if any(not str(x).strip() for x in v.values()):
            raise ValueError("labels must not be empty")
        return v


class PolicyArea(_Strict):
    description: str = Field(default="", max_length=2000)


class AlertRule(_Strict):
    """One alert rule, evaluated on every trend of every window a detection run adds
    (:func:`trendml.alerts.rules.evaluate`; docs/alerts.md): ``when`` names the condition,
    ``min_size`` the trend's size in the window, ``min_share`` the share of its members scored
    ``min_severity`` or above (``severity_mix``), ``notify`` the ``webhooks`` it goes to."""

    name: str = Field(min_length=1, max_length=64)
    when: Literal[
        "trend_emerging",
        "trend_growing",
        "severity_share",
        "trend_us_specific",
        "trend_new",
        "monitoring_bound",  # live monitoring (issue 22): drift or ECE past its bound; not a trend rule
    ]
    min_severity: int = Field(default=0, ge=0, le=3)
    min_size: int = Field(default=1, ge=1)
    min_share: float | None = Field(default=None, ge=0.0, le=1.0)
    policy_areas: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)


class Webhook(_Strict):
    """An alert destination. No ``url``: alerts for it wait in the outbox (shown on the dashboard)
    until one is configured. ``secret_env`` names the environment variable holding the HMAC-SHA256
    key (the secret itself never sits in this file)."""

    url: str | None = Field(default=None, max_length=2000)
    format: Literal["json", "slack"] = "json"
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=128)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"{v[:60]!r} is not an http(s) URL")
        return v


class AlertDelivery(_Strict):
    """Outbox delivery: attempt ``n`` (1-based) that fails waits ``backoff_s * 2**(n-1)`` seconds
    (at most ``max_backoff_s``); after ``max_attempts`` the delivery is ``failed`` (replayable)."""

    max_attempts: int = Field(default=10, ge=1, le=100)
    backoff_s: float = Field(default=2.0, gt=0, le=3600)
    max_backoff_s: float = Field(default=900.0, gt=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class Policy(_Strict):
    version: Literal[1] = 1
    levels: dict[int, Level]
    priority: PriorityRule
    policy_areas: dict[str, PolicyArea]
    report_reasons: dict[str, str] = Field(default_factory=dict)
    default_area: str
    alerts: list[AlertRule] = Field(default_factory=list)
    webhooks: dict[str, Webhook] = Field(default_factory=dict)
    alert_delivery: AlertDelivery = Field(default_factory=AlertDelivery)

    @field_validator("levels")
    @classmethod
    def _four_levels(cls, v: dict[int, Level]) -> dict[int, Level]:
        if set(v) != set(SEVERITIES):
            raise ValueError(f"needs exactly the levels 0, 1, 2, 3 (the model's classes); got {sorted(v)}")
        names = [lv.name for lv in v.values()]
        if len(set(names)) != len(names):
            raise ValueError("level names must differ")
        return dict(sorted(v.items()))

    @model_validator(mode="after")
    def _areas_exist(self) -> Policy:
        areas = set(self.policy_areas)
        if self.default_area not in areas:
            raise ValueError(f"default_area {self.default_area!r} is not one of policy_areas {sorted(areas)}")
        for reason, area in self.report_reasons.items():
            if area not in areas:
                raise ValueError(
                    f"report_reasons.{reason}: area {area!r} is not one of policy_areas {sorted(areas)}"
                )
        seen: set[str] = set()
        for i, rule in enumerate(self.alerts):
            if rule.name in seen:
                raise ValueError(f"alerts[{i}].name: {rule.name!r} is used twice")
            seen.add(rule.name)
            missing = [a for a in rule.policy_areas if a not in areas]
            if missing:
                raise ValueError(f"alerts[{i}].policy_areas: {missing} are not in policy_areas")
            unknown = [n for n in rule.notify if n not in self.webhooks]
            if unknown:
                raise ValueError(f"alerts[{i}].notify: {unknown} are not in webhooks {sorted(self.webhooks)}")
            if rule.when == "severity_share" and rule.min_share is None:
                raise ValueError(f"alerts[{i}].min_share: needed when `when` is severity_share")
        return self

    # ------------------------------------------------------------------ reads
    @property
    def level_names(self) -> dict[int, str]:
        return {k: lv.name for k, lv in self.levels.items()}

    def level_name(self, severity: int | None, unknown: str = "unscored") -> str:
        return self.levels[severity].name if severity in self.levels else unknown

    def priority_of(self, severity: int, *, emerging: bool = False) -> int:
        """The queue priority (1 most urgent .. 4) of an item of ``severity``."""
        if not isinstance(severity, int) or isinstance(severity, bool) or severity not in self.levels:
            raise InputError(f"severity is {severity!r}; expected an integer 0..3")
        level = self.priority.by_severity[severity]
        if emerging:
            level -= self.priority.emerging_raise
        return max(1, level)

    def priority_label(self, prio: int) -> str:
        return self.priority.labels[prio]

    def policy_area(self, report_reason: str | None) -> str:
        """The policy area of a report reason (``default_area`` for unlisted or missing ones)."""
        return self.report_reasons.get(report_reason or "", self.default_area)


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_policy(obj: Any, source: str = "policy") -> Policy:
    """Validate a decoded policy; :class:`InputError` names the first bad key."""
    if not isinstance(obj, dict):
        raise InputError(f"{source}: the file holds {type(obj).__name__}; expected a YAML mapping of keys")
    try:
        return Policy.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = _key(tuple(err.get("loc", ())))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif err.get("type") == "missing":
            msg = "missing"
        raise InputError(
            f"{source}: {key}: {msg}; fix that key (models/policy.yaml documents each one)", field=key
        ) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in ``path`` (default: the built-in ``models/policy.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    if not path.is_file():
        raise InputError(
            f"policy file {path} does not exist; expected a YAML file like models/policy.yaml "
            "(set TRENDML_POLICY to its path)",
            field="policy",
        )
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(
            f"policy file {path} is not valid YAML ({type(exc).__name__}); "
            "expected models/policy.yaml's format",
            field="policy",
        ) from None
    return parse_policy(obj, f"policy file {path}")


DEFAULT_POLICY_PATH = Path(__file__).resolve().parents[1] / "models" / "policy.yaml"
