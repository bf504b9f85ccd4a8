"""``trendml score``: items in, one Score JSON object per item out (same order)."""

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
from trendml.errors import InputError


def score(
    items: Path = typer.Argument(..., help="Items file: JSONL (one JSON object per line) or CSV."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the scores (JSONL)."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="models:/trendml-severity@champion (default), models:/NAME/VERSION or a directory.",
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records instead of stopping."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where skipped records go (JSONL)."),
) -> None:
    """Pre-score items for severity: 0 none, 1 offensive, 2 hateful, 3 threat/violent."""
    from trendml.registry import load_severity_model
    from trendml.severity import score_items

    cfg = settings()
    if not items.exists():
        raise InputError(f"items file {items} does not exist; expected a JSONL or CSV file of items")
    check_output_path(output)
    if rejects is not None:
        check_output_path(rejects, "--rejects")
    result = load_items(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg)
    if not result.items:
        raise InputError(f"{items} holds no items; expected at least one item (JSONL or CSV)")
    sev_model, name, version = load_severity_model(model, cfg)
    embedder = make_embedder(cfg)
    sev_model.check_embedder(embedder)
    t0 = time.perf_counter()
    vectors = _embed(result.items, embedder)
    scores = score_items(
        sev_model, result.items, embedder, model_name=name, model_version=version, embeddings=vectors
    )
    elapsed = time.perf_counter() - t0
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w") as fh:
        for s in scores:
            fh.write(json.dumps(s) + "\n")
    tmp.replace(output)
    console.print(
        f"scored {len(scores)} items with {name} v{version} in {elapsed:.1f}s -> {output}", highlight=False
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
