"""``trendml demo``: the main job on embedded defaults (``make run``).

Builds the demo stream from the shipped datasets (a planted campaign starts at a known
window), writes it as JSONL under ``TRENDML_HOME/demo/`` and embeds it through the cache.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cli._common import console, make_embedder, settings, show_progress


def demo(
    windows: int = typer.Option(10, min=2, help="Number of daily windows in the demo stream."),
    per_window: int = typer.Option(300, min=10, help="Background items per window."),
    seed: int = typer.Option(0, help="Random seed of the stream."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Where to write the stream (JSONL)."),
) -> None:
    """Write the demo stream (the last N days, planted campaign included) as JSONL and embed it."""
    import numpy as np
    from rich.table import Table

    from trendml.datasets import build_demo_stream, recent_start
    from trendml.embed.base import embed_items
    from trendml.items import write_items

    cfg = settings()
    cfg.ensure_home()
    stream = build_demo_stream(
        n_windows=windows,
        per_window=per_window,
        start_window=max(1, windows - 4),
        seed=seed,
        start=recent_start(windows),
    )
    path = write_items(stream.items, output or cfg.home / "demo" / "stream.jsonl")
    embedder = make_embedder(cfg)
    t0 = time.perf_counter()
    vectors = embed_items(stream.items, embedder, show_progress=show_progress(len(stream.items)))
    elapsed = time.perf_counter() - t0
    np.save(path.with_suffix(".npy"), vectors)

    table = Table(title="demo stream", show_header=True)
    table.add_column("window")
    table.add_column("items", justify="right")
    table.add_column("US share", justify="right")
    table.add_column("planted", justify="right")
    for w, start in enumerate(stream.window_starts):
        members = [it for it in stream.items if stream.window_of(it) == w]
        us = sum(it.region == "US" for it in members) / max(1, len(members))
        planted = sum(it.id in stream.campaign_ids for it in members)
        table.add_row(start.date().isoformat(), str(len(members)), f"{us:.0%}", str(planted))
    console.print(table)
    hits = getattr(embedder, "hits", 0)
    console.print(
        f"{len(stream.items)} items -> {path}\n"
        f"embedded with {embedder.name}@{embedder.version} in {elapsed:.1f}s "
        f"({hits} from cache, {len(stream.items) - hits} new) -> {path.with_suffix('.npy')}\n"
        f"state lives in {cfg.home} (TRENDML_HOME)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
