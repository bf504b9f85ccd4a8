"""Items in, severity scores out: the one scoring function the CLI, the service and the detection
pipeline share (:func:`score_vectors`), and the Score records built from its result."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trendml.embed.base import Embedder, embed_items

if TYPE_CHECKING:
    from trendml.items import Item
    from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SeverityScores:
    """The severity of a batch of texts: ``labels`` ``(n,)`` int64 from the model's tuned decision
    rule, ``probs`` ``(n, 4)`` float64 calibrated probabilities, and the model that made them."""

    labels: np.ndarray
    probs: np.ndarray
    model_name: str
    model_version: str

    def __len__(self) -> int:
        return len(self.labels)

    def probs_list(self, i: int, digits: int | None = None) -> list[float]:
        """Row ``i`` of :attr:`probs` as plain floats (rounded to ``digits`` when given)."""
        row = [float(p) for p in self.probs[i]]
        return row if digits is None else [round(p, digits) for p in row]

    def records(self, ids: Sequence[str], *, digits: int | None = None) -> list[dict[str, Any]]:
        """One Score per id, same order: ``{"id", "severity", "severity_probs": [p0..p3], "model":
        {"name", "version"}}`` (the contract of ``trendml score``)."""
        if len(ids) != len(self):
            raise ValueError(f"{len(ids)} ids for {len(self)} scores")
        return [
            {
                "id": item_id,
                "severity": int(self.labels[i]),
                "severity_probs": self.probs_list(i, digits),
                "model": {"name": self.model_name, "version": self.model_version},
            }
            for i, item_id in enumerate(ids)
        ]


def score_vectors(
    model: SeverityModel,
    texts: Sequence[str],
    vectors: np.ndarray,
    *,
    model_name: str,
    model_version: str,
) -> SeverityScores:
    """Severity of ``texts`` whose embeddings are ``vectors``: probabilities, then the model's own
    decision rule over them (the single scoring path)."""
    probs = np.asarray(model.predict_proba(list(texts), vectors), dtype=np.float64)
    labels = np.asarray(model.decide(probs), dtype=np.int64)
    return SeverityScores(labels=labels, probs=probs, model_name=model_name, model_version=str(model_version))


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
    vectors = embed_items(items, embedder) if embeddings is None else embeddings
    scores = score_vectors(
        model, [it.content for it in items], vectors, model_name=model_name, model_version=model_version
    )
    return scores.records([it.id for it in items])
