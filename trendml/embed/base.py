"""The ``Embedder`` protocol every stage depends on (so any stage can take precomputed vectors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from trendml.items import Item


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension.

    ``name`` and ``version`` identify the vector space: models and caches built on one
    embedder refuse another (:class:`trendml.errors.ModelMismatchError`).
    """

    name: str
    version: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray: ...


def embedder_id(embedder: Embedder) -> str:
    """``name@version``: the key of a vector space (cache key, model metadata)."""
    return f"{embedder.name}@{embedder.version}"


def embed_items(items: Sequence[Item], embedder: Embedder, *, show_progress: bool = False) -> np.ndarray:
    """Embed items by their normalised content (text and caption, see ``trendml.text``)."""
    return embedder.encode([it.content for it in items], show_progress=show_progress)
