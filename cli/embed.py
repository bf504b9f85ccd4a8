"""``trendml embed``: items in, L2-normalised vectors (``.npy``) and their ids out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from cli._batch import (
    ENGINE_HELP,
    ITEMS_HELP,
    RAY_ACTORS_HELP,
    RAY_ADDRESS_HELP,
    atomic_output,
    check_engine,
    load_item_sources,
)
from cli._common import (
    check_output_path,
    console,
    make_embedder,
    settings,
    show_progress,
)


def embed(
    items: Path = typer.Argument(..., help=ITEMS_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the vectors (.npy, float32)."),
    ids_output: Path | None = typer.Option(
        None, "--ids", help="Where to write the ids, as a JSON list (default: OUTPUT with .ids.json)."
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records instead of stopping."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where skipped records go (JSONL)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str | None = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    ray_actors: int | None = typer.Option(None, "--ray-actors", min=1, help=RAY_ACTORS_HELP),
) -> None:
    """Embed items with the packaged all-MiniLM-L6-v2 (cached by content hash)."""
    import numpy as np

    from trendml.embed.base import embed_items

    cfg = settings()
    check_engine(engine, ray_address)
    ids_path = ids_output or output.with_suffix(".ids.json")
    check_output_path(output)
    check_output_path(ids_path, "--ids")
    if rejects is not None:
        check_output_path(rejects, "--rejects")
    result = load_item_sources(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg)
    t0 = time.perf_counter()
    embedder = None
    if engine == "ray":
        from batch import ray_engine

        ray_ctx = ray_engine.connect(ray_address)
        try:
            vectors = ray_engine.embed_vectors(result.items, cfg, cache=not no_cache, actors=ray_actors)
        finally:
            ray_ctx.shutdown()
    else:
        embedder = make_embedder(cfg, cache=not no_cache)
        vectors = embed_items(result.items, embedder, show_progress=show_progress(len(result.items)))
    elapsed = time.perf_counter() - t0
    with atomic_output(output, "wb") as fh:
        np.save(fh, vectors)
    with atomic_output(ids_path) as fh:
        fh.write(json.dumps([it.id for it in result.items]))
    cached = getattr(embedder, "hits", None)
    extra = f", {cached} from cache" if cached is not None else ""
    console.print(
        f"embedded {len(result.items)} items{extra} in {elapsed:.1f}s -> {output} ({vectors.shape[1]}-d), "
        f"ids -> {ids_path}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
