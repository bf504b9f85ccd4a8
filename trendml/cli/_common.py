"""Helpers shared by CLI commands: settings, reading items, building the embedder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from trendml.config import Settings
from trendml.items import ReadResult, read_items, write_rejects

if TYPE_CHECKING:
    from trendml.embed.base import Embedder

console = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def load_items(
    path: Path,
    *,
    skip_invalid: bool,
    rejects: Path | None,
    cfg: Settings,
    require_created_at: bool = False,
) -> ReadResult:
    """Read items; with ``skip_invalid`` report the count and write the rejects file."""
    result = read_items(
        path,
        skip_invalid=skip_invalid,
        max_text_chars=cfg.max_text_chars,
        require_created_at=require_created_at,
    )
    if result.rejects:
        target = rejects or path.with_name(path.name + ".rejects.jsonl")
        write_rejects(result.rejects, target)
        console.print(
            f"[yellow]skipped {len(result.rejects)} invalid records[/yellow] (written to {target})",
            highlight=False,
        )
    return result


def make_embedder(cfg: Settings, *, cache: bool = True) -> Embedder:
    """The configured embedder, wrapped in the content-hash cache under ``TRENDML_HOME``."""
    from trendml.embed import embedder_from_settings

    return embedder_from_settings(cfg, cache=cache)


def show_progress(n: int) -> bool:
    return n >= 1000 and sys.stderr.isatty()
