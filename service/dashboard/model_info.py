"""What the dashboard's model page shows, from the MLflow registry (via ``training.registry``)."""

from __future__ import annotations

import logging
import re
from typing import Any

from trendml.config import Settings
from trendml.errors import TrendmlError

logger = logging.getLogger(__name__)

_PROMOTED = re.compile(r"champion since (\S+)")


def champion_info(settings: Settings, serving_version: str | None = None) -> dict[str, Any] | None:
    """Champion name, version, metrics, registration and promotion time, and the alias history
    (newest first); ``None`` when the registry is missing or has no champion. ``serving_version`` is
    what the service runs now."""
    from trendml.registry import MODEL_NAME, alias_history, list_versions

    try:
        versions = list_versions(settings)
        history = alias_history(settings)
    except TrendmlError as exc:
        logger.info("no model registry yet: %s", exc)
        return None
    champion = next((v for v in versions if v["champion"]), None)
    if champion is None:
        return None
    tags: dict[str, str] = champion["tags"]  # type: ignore[assignment]
    last = next((e for e in reversed(history) if str(e.get("to")) == champion["version"]), None)
    if last is not None:
        promoted_at = str(last.get("at", "")).replace("T", " ").replace("+00:00", " UTC")
        promoted_by = (
            f"{last.get('by', 'unknown')} ({last.get('action')}{', forced' if last.get('forced') else ''})"
        )
    else:  # a registry from before the alias history
        match = _PROMOTED.search(tags.get("promotion", ""))
        promoted_at = match.group(1) if match else f"{champion['created']} (first registered version)"
        promoted_by = "forced" if tags.get("promotion.forced") == "true" else None
    return {
        "name": MODEL_NAME,
        "version": champion["version"],
        "serving_version": serving_version,
        "run_id": champion["run_id"],
        "registered_at": champion["created"],
        "promoted_at": promoted_at,
        "promoted_by": promoted_by,
        "metrics": {k: float(v) for k, v in champion["metrics"].items()},  # type: ignore[union-attr]
        "history": list(reversed(history)),
        "previous": _previous_champion(versions, last),
    }


def _previous_champion(versions: list[dict[str, Any]], last: dict[str, Any] | None) -> dict[str, Any] | None:
    """The champion before this one (the alias history's "from"), with its metrics; None if none."""
    before = str(last.get("from") or "") if last is not None else ""
    found = next((v for v in versions if str(v["version"]) == before), None) if before else None
    if found is None:
        return None
    return {"version": found["version"], "metrics": {k: float(v) for k, v in found["metrics"].items()}}
