from __future__ import annotations

import numpy as np
import pytest

from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder, embed_items
from trendml.embed.base import Embedder, embedder_id
from trendml.errors import ModelNotFoundError, StateError
from trendml.items import Item


def test_packaged_model_loads_offline_and_ranks_a_paraphrase_closer(embedder):
    vecs = embedder.encode(
        [
            "the cat is sitting on the mat",
            "a kitten rests on a rug",
            "quarterly earnings beat analyst expectations",
        ]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.3


def test_identity_of_the_vector_space(embedder):
    assert isinstance(embedder, Embedder)
    assert embedder_id(embedder) == "all-MiniLM-L6-v2@0.1.0"


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path)


def test_cache_embeds_each_content_once(embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "emb.db")
    cached = CachedEmbedder(embedder, cache)
    texts = [f"repeated abuse wave message number {i % 7}" for i in range(30)]
    before = embedder.n_encoded
    first = cached.encode(texts)
    assert embedder.n_encoded - before == 7  # duplicates inside one call are embedded once
    before = embedder.n_encoded
    second = cached.encode(texts)
    assert embedder.n_encoded == before  # nothing embedded the second time
    assert cached.hits == 30 + 23 and cached.misses == 7
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, embedder.encode(texts), atol=1e-5)
    assert cache.count(embedder_id(embedder)) == 7


def test_cache_is_keyed_by_embedder_version(embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "emb.db")
    vec = np.ones((1, 384), dtype=np.float32)
    cache.put_many("other-model@9", ["h"], vec)
    assert cache.get_many(embedder_id(embedder), ["h"]) == {}
    assert cache.get_many("other-model@9", ["h"])["h"].shape == (384,)


def test_cache_persists_across_processes_shape(embedder, tmp_path):
    path = tmp_path / "emb.db"
    CachedEmbedder(embedder, EmbeddingCache(path)).encode(["persisted text"])
    reopened = CachedEmbedder(embedder, EmbeddingCache(path))
    before = embedder.n_encoded
    reopened.encode(["persisted text"])
    assert embedder.n_encoded == before


def test_corrupt_cache_file_is_a_clear_error(tmp_path):
    path = tmp_path / "emb.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="delete it"):
        EmbeddingCache(path)


def test_embedding_a_stream_twice_embeds_nothing_the_second_time(small_stream, embedder, tmp_path):
    cached = CachedEmbedder(embedder, EmbeddingCache(tmp_path / "emb.db"))
    items = small_stream.items[:150]
    embed_items(items, cached)
    before = embedder.n_encoded
    again = embed_items(items, cached)
    assert embedder.n_encoded == before
    assert again.shape == (150, 384)


def test_items_embed_by_normalised_content(cached_embedder):
    a = Item(id="1", text="@alice hello there https://t.co/x")
    b = Item(id="2", text="@bob hello   there https://t.co/y")
    va, vb = embed_items([a, b], cached_embedder)
    np.testing.assert_array_equal(va, vb)


def test_empty_batch(embedder):
    assert embedder.encode([]).shape == (0, 384)
