"""Build the configured embedder from :class:`~trendml.config.Settings` (CLI, training, service)."""

from __future__ import annotations

from trendml.config import DEFAULT_EMBEDDING_MODEL, Settings
from trendml.embed.base import Embedder
from trendml.embed.cache import CachedEmbedder, EmbeddingCache
from trendml.embed.sentence import SentenceTransformerEmbedder


def embedder_from_settings(settings: Settings, *, cache: bool = True) -> Embedder:
    """The configured sentence-transformers model (the packaged MiniLM by default), behind the
    content-hash cache under ``TRENDML_HOME`` unless ``cache`` or ``settings.embedding_cache`` is off."""
    model = None if settings.embedding_model == DEFAULT_EMBEDDING_MODEL else settings.embedding_model
    base = SentenceTransformerEmbedder(model, batch_size=settings.embedding_batch_size)
    if not (cache and settings.embedding_cache):
        return base
    settings.ensure_home()
    return CachedEmbedder(base, EmbeddingCache(settings.embedding_cache_path))
