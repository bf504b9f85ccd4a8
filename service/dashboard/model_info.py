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
    """Champion name, version, metrics, registration and promotion time; ``None`` when the
    registry is missing or has no champion. ``serving_version`` is what the service runs now."""
    from training.registry import MODEL_NAME, list_versions

    try:
        versions = list_versions(settings)
    except TrendmlError as exc:
        logger.info("no model registry yet: %s", exc)
        return None
    champion = next((v for v in versions if v["champion"]), None)
    if champion is None:
        return None
    tags: dict[str, str] = champion["tags"]  # type: ignore[assignment]
    match = _PROMOTED.search(tags.get("promotion", ""))
    return {
        "name": MODEL_NAME,
        "version": champion["version"],
        "serving_version": serving_version,
        "run_id": champion["run_id"],
        "registered_at": champion["created"],
        "promoted_at": match.group(1) if match else f"{champion['created']} (first registered version)",
        "promoted_by": "forced" if tags.get("promotion.forced") == "true" else None,
        "metrics": {k: float(v) for k, v in champion["metrics"].items()},  # type: ignore[union-attr]
    }
