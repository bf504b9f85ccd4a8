"""The walkthrough notebook runs end to end (nbclient, real kernel, real model through the cache)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from trendml.embed import EmbeddingCache
from trendml.embed.base import embedder_id
from trendml.text import content_hash

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "trends_walkthrough.ipynb"


def test_walkthrough_notebook_executes(home, small_stream, small_stream_vectors, embedder, tmp_path):
    # the notebook builds the same stream as the small_stream fixture: seed this home's cache with it
    cache = EmbeddingCache(home / "cache" / "embeddings.db")
    cache.put_many(
        embedder_id(embedder), [content_hash(it.content) for it in small_stream.items], small_stream_vectors
    )
    cache.close()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "first flagged in window" in outputs
    assert "alone == batch: True" in outputs
    assert "0 from cache" not in outputs  # it used the cache, not the model
    assert "lines plotted" in outputs
    # the trend-size plot is displayed (issue #21.7), not only drawn on the Agg canvas
    cell = next(c for c in nb.cells if c.cell_type == "code" and "lines plotted" in c.source)
    images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1 and len(images[0]["data"]["image/png"]) > 1000
