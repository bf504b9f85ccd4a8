"""Embedding: the ``Embedder`` protocol, the sentence-transformers implementation and the
content-hash cache. Heavy imports (torch, sentence-transformers) happen on first use."""

from __future__ import annotations

from trendml.embed.base import Embedder, embed_items
from trendml.embed.cache import CachedEmbedder, EmbeddingCache
from trendml.embed.factory import embedder_from_settings
from trendml.embed.sentence import SentenceTransformerEmbedder, default_model_path

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "SentenceTransformerEmbedder",
    "default_model_path",
    "embed_items",
    "embedder_from_settings",
]
