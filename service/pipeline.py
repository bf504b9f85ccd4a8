"""Detection over stored items, shared by ``POST /v1/detect`` and ``trendml up`` (no HTTP here)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def detect_stored(
    Session: Any,
    embed_texts: Callable[[list[str]], np.ndarray],
    trends: Any,
    active: Any | None,
    *,
    since: datetime | None = None,
    reset: bool = False,
    include_open_window: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Score (when a model is active) and detect the stored items not yet processed.

    ``trends`` is a :class:`service.trends_backend.TrendBackend`; ``active`` an
    :class:`service.models.ActiveModel` or None (then trends carry no severity mix).
    Returns the fields of :class:`service.schemas.DetectResponse`.
    """
    from trendml.language import language_supported
    from trendml.severity.scoring import score_vectors
    from trendml.store.items import items_for_detection, record_scores

    t0 = time.perf_counter()
    lower = None if reset else trends.pending_since()
    if since is not None:
        lower = max(lower, since) if lower is not None else since
    upper = None if include_open_window else trends.complete_before(now or datetime.now(UTC))
    with Session() as session:
        rows = items_for_detection(session, since=lower, before=upper)
    model_ref = {"name": active.name, "version": active.version} if active else None
    out = {
        "n_items": 0,
        "n_windows": 0,
        "n_trends": 0,
        "n_emerging": 0,
        "scored": 0,
        "model": model_ref,
        "n_unsupported_language": 0,
    }
    if not rows:
        if reset:
            trends.reset()
        out["seconds"] = round(time.perf_counter() - t0, 3)
        return out
    items = [r.to_item() for r in rows]
    texts = [it.content for it in items]
    vectors = embed_texts(texts)
    probs = None
    if active is not None:
        scored = score_vectors(
            active.model, texts, vectors, model_name=active.name, model_version=active.version
        )
        probs = scored.probs
        with Session() as session:
            out["scored"] = record_scores(session, scored.records([it.id for it in items], digits=6))
            session.commit()
    # the embedder is English-only: items in another language are scored, never clustered
    keep = [i for i, r in enumerate(rows) if language_supported(r.language)]
    out["n_unsupported_language"] = len(rows) - len(keep)
    if len(keep) < len(rows):
        logger.info("detection: %d items in unsupported languages not clustered", len(rows) - len(keep))
        items = [items[i] for i in keep]
        vectors = vectors[keep]
        probs = probs[keep] if probs is not None else None
    summary = trends.detect(items, vectors, probs, reset=reset)
    out.update(n_items=len(rows), **summary)  # every item processed, clustered or left out for language
    out["seconds"] = round(time.perf_counter() - t0, 3)
    logger.info("detection over %d items: %s", len(items), summary)
    return out
