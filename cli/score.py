"""``trendml score``: items in, one Score JSON object per item out (same order)."""

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


def score(
    items: Path = typer.Argument(..., help=ITEMS_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the scores (JSONL)."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="models:/trendml-severity@champion (default), models:/NAME/VERSION or a directory.",
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records instead of stopping."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where skipped records go (JSONL)."),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str | None = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    ray_actors: int | None = typer.Option(None, "--ray-actors", min=1, help=RAY_ACTORS_HELP),
) -> None:
    """Pre-score items for severity: 0 none, 1 offensive, 2 hateful, 3 threat/violent."""
    from trendml.registry import load_severity_model
    from trendml.severity import score_items

    cfg = settings()
    check_engine(engine, ray_address)
    check_output_path(output)
    if rejects is not None:
        check_output_path(rejects, "--rejects")
    result = load_item_sources(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg)
    sev_model, name, version = load_severity_model(model, cfg)
    t0 = time.perf_counter()
    if engine == "ray":
        from batch import ray_engine

        ray_ctx = ray_engine.connect(ray_address)
        try:
            with atomic_output(output) as fh:
                for line in ray_engine.score_lines(
                    result.items, sev_model, cfg, name=name, version=version, actors=ray_actors
                ):
                    fh.write(line + "\n")
        finally:
            ray_ctx.shutdown()
        n = len(result.items)
    else:
        embedder = make_embedder(cfg)
        sev_model.check_embedder(embedder)
        vectors = _embed(result.items, embedder)
        scores = score_items(
            sev_model, result.items, embedder, model_name=name, model_version=version, embeddings=vectors
        )
        with atomic_output(output) as fh:
            for s in scores:
                fh.write(json.dumps(s) + "\n")
        n = len(scores)
    elapsed = time.perf_counter() - t0
    console.print(
        f"scored {n} items with {name} v{version} in {elapsed:.1f}s ({engine}) -> {output}", highlight=False
    )


def _embed(items, embedder):  # noqa: ANN001, ANN202
    """Embed with progress: a bar on a terminal, one line per 1,000 items otherwise (logs, pipes)."""
    import sys

    import numpy as np

    from trendml.embed.base import embed_items

    n = len(items)
    if n < 1000 or sys.stderr.isatty():
        return embed_items(items, embedder, show_progress=show_progress(n))
    parts = []
    for start in range(0, n, 1000):
        parts.append(embed_items(items[start : start + 1000], embedder))
        console.print(f"embedded {min(n, start + 1000)}/{n} items", highlight=False)
    return np.concatenate(parts)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
