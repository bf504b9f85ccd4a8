"""``trendml embed``: items in, L2-normalised vectors (``.npy``) and their ids out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from cli._common import (
    check_output_path,
    console,
    load_items,
    make_embedder,
    settings,
    show_progress,
)


def embed(
    items: Path = typer.Argument(..., help="Items file: JSONL (one JSON object per line) or CSV."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the vectors (.npy, float32)."),
    ids_output: Path | None = typer.Option(
        None, "--ids", help="Where to write the ids, as a JSON list (default: OUTPUT with .ids.json)."
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records instead of stopping."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where skipped records go (JSONL)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
) -> None:
    """Embed items with the packaged all-MiniLM-L6-v2 (cached by content hash)."""
    import numpy as np

    from trendml.embed.base import embed_items

    cfg = settings()
    ids_path = ids_output or output.with_suffix(".ids.json")
    check_output_path(output)
    check_output_path(ids_path, "--ids")
    if rejects is not None:
        check_output_path(rejects, "--rejects")
    result = load_items(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg)
    embedder = make_embedder(cfg, cache=not no_cache)
    t0 = time.perf_counter()
    vectors = embed_items(result.items, embedder, show_progress=show_progress(len(result.items)))
    elapsed = time.perf_counter() - t0
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as fh:
        np.save(fh, vectors)
    ids_path.write_text(json.dumps([it.id for it in result.items]))
    cached = getattr(embedder, "hits", None)
    extra = f", {cached} from cache" if cached is not None else ""
    console.print(
        f"embedded {len(result.items)} items{extra} in {elapsed:.1f}s -> {output} ({vectors.shape[1]}-d), "
        f"ids -> {ids_path}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
