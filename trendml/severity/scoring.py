"""Items in, Score records out (the contract every consumer shares)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trendml.embed.base import Embedder, embed_items

if TYPE_CHECKING:
    from trendml.items import Item
    from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)


def score_items(
    model: SeverityModel,
    items: Sequence[Item],
    embedder: Embedder,
    *,
    model_name: str,
    model_version: str,
    embeddings: Any = None,
) -> list[dict[str, Any]]:
    """One Score per item, same order: ``{"id", "severity", "severity_probs": [p0..p3], "model":
    {"name", "version"}}``. Raises :class:`~trendml.errors.ModelMismatchError` if ``embedder`` is not
    the one the model was trained with. ``embeddings`` may be passed precomputed."""
    model.check_embedder(embedder)
    if not items:
        return []
    texts = [it.content for it in items]
    vectors = embed_items(items, embedder) if embeddings is None else embeddings
    proba = model.predict_proba(texts, vectors)
    labels = model.decide(proba)
    meta = {"name": model_name, "version": str(model_version)}
    return [
        {
            "id": it.id,
            "severity": int(label),
            "severity_probs": [float(p) for p in row],
            "model": dict(meta),
        }
        for it, label, row in zip(items, labels, proba, strict=True)
    ]
