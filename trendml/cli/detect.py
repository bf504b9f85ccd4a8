"""``trendml detect``: items in, emerging trends per time window out (the detection contract).

By default the trend state lives in the trendml database under ``TRENDML_HOME`` so detection runs
incrementally (later files continue the same trends) and the service can assign new items to
the trends. When a file holds windows the state has already processed, detection starts again
from this file (the old trend state is replaced, and a warning says so): the output always
covers every window of the input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trendml.cli._common import console, load_items, make_embedder, settings, show_progress

if TYPE_CHECKING:
    import numpy as np

    from trendml.config import Settings
    from trendml.embed.base import Embedder
    from trendml.items import Item


def detect(
    items: Path = typer.Argument(
        ..., help="Items file: JSONL (one JSON object per line) or CSV, with created_at."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the trends (JSON)."),
    window: str = typer.Option("1d", "--window", "-w", help="Window length: 1d, 6h, 1h, 30m, 1w."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad records instead of stopping."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where skipped records go (JSONL)."),
    state_path: str | None = typer.Option(
        None, "--state", help="Trend state: a SQLite file or database URL (default: the trendml database)."
    ),
    no_state: bool = typer.Option(False, "--no-state", help="Run on this file alone; keep no trend state."),
    min_cluster_size: int = typer.Option(10, min=2, help="Smallest group of items that can form a trend."),
    severity_model: str | None = typer.Option(
        None,
        "--severity-model",
        help="Severity model for each trend's severity mix: models:/NAME@ALIAS, models:/NAME/VERSION or a "
        "directory (default: the registry's champion, when there is one).",
    ),
    no_severity: bool = typer.Option(
        False, "--no-severity", help="Do not score severity (trends carry severity_mix null)."
    ),
) -> None:
    """Detect emerging trends: HDBSCAN per window, stable trend ids, emergence and US-lift scores."""
    from trendml.embed.base import embed_items
    from trendml.errors import StateError
    from trendml.trends import TrendDetector, TrendState, parse_window

    parse_window(window)  # fail on a bad --window before reading or embedding anything
    if no_state and state_path:
        from trendml.errors import InputError

        raise InputError("--state and --no-state were both given; expected at most one of them")
    if no_severity and severity_model:
        from trendml.errors import InputError

        raise InputError("--severity-model and --no-severity were both given; expected at most one of them")
    cfg = settings()
    result = load_items(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg, require_created_at=True)
    embedder = make_embedder(cfg)
    t0 = time.perf_counter()
    vectors = embed_items(result.items, embedder, show_progress=show_progress(len(result.items)))
    probs = None if no_severity else _severity_probs(result.items, vectors, embedder, cfg, severity_model)
    detector = TrendDetector(window, min_cluster_size=min_cluster_size)
    if no_state:
        state = TrendState.in_memory()
    else:
        if state_path is None:
            cfg.ensure_home()
        state = TrendState.open(state_path or cfg.db_url)
    try:
        try:
            found = detector.detect(result.items, vectors, severity=probs, state=state)
        except StateError as exc:
            if state.last_start is None or "already processed" not in exc.message:
                raise
            console.print(
                f"[yellow]warning:[/yellow] the trend state at {state.url} had processed windows up to "
                f"{state.last_start.isoformat()}; this file starts earlier, so detection restarted from this "
                "file and replaced that trend state",
                highlight=False,
                soft_wrap=True,
            )
            previous = state.memberships()  # carried over, so reviewed trends keep their ids
            old_ids = set(previous.values())
            state.reset()
            found = detector.detect(result.items, vectors, severity=probs, state=state, previous_ids=previous)
            kept = old_ids & {t["trend_id"] for w in found.windows for t in w.trends}
            console.print(
                f"[dim]{len(kept)} of {len(old_ids)} earlier trend ids carried over[/dim]", highlight=False
            )
    finally:
        state.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(found.to_dict(), indent=1))
    n_trends = sum(len(w.trends) for w in found.windows)
    n_emerging = sum(t["emerging"] for w in found.windows for t in w.trends)
    console.print(
        f"{len(result.items)} items in {len(found.windows)} windows: {n_trends} trend observations, "
        f"{n_emerging} emerging, in {time.perf_counter() - t0:.1f}s -> {output}",
        highlight=False,
        soft_wrap=True,
    )


def _severity_probs(
    items: Sequence[Item], vectors: np.ndarray, embedder: Embedder, cfg: Settings, uri: str | None
) -> np.ndarray | None:
    """``(n, 4)`` severity probabilities from ``uri`` (or the champion), or ``None`` when no model was
    asked for and the registry has no champion. A model that was asked for must load."""
    from training.registry import champion_version, load_severity_model

    if uri is None and champion_version(cfg) is None:
        console.print(
            "[dim]no severity champion in the registry: trends carry no severity mix "
            "(run `trendml train severity` to make one)[/dim]",
            highlight=False,
            soft_wrap=True,
        )
        return None
    if not items:
        return None
    model, name, version = load_severity_model(uri, cfg)
    model.check_embedder(embedder)
    texts = [it.content for it in items]
    probs = model.predict_proba(texts, vectors)
    console.print(f"[dim]severity mix from {name} v{version}[/dim]", highlight=False)
    return probs


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
