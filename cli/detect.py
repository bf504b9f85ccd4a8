"""``trendml detect``: items in, emerging trends per time window out (the detection contract).

By default detection is a file-in, file-out analysis on a scratch (in-memory) trend state: it
never touches the live state the service and the dashboard read. ``--state PATH`` continues a
trend state of your own (later files continue the same trends); ``--live`` continues the live
state in the trendml database under ``TRENDML_HOME``. A file that holds windows the chosen state
has already processed is refused unless ``--replace`` is given: then the state restarts from this
file in ONE transaction (readers see the old state until the new one is complete), trend ids are
carried over as the service's reset does, and analyst decisions on trends that did not come back
are listed (they stay in ``trendml feedback export``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli._common import console, load_items, make_embedder, settings, show_progress

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
        None,
        "--state",
        help="Continue this trend state (a SQLite file or database URL) instead of a scratch one.",
    ),
    live: bool = typer.Option(
        False, "--live", help="Continue the live trend state (the trendml database the service reads)."
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="With --state/--live: restart that state from this file (ids carried over; one transaction).",
    ),
    no_state: bool = typer.Option(
        False, "--no-state", help="Run on a scratch state (the default; kept for older scripts)."
    ),
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
    from trendml.trends import TrendDetector, TrendState, parse_window

    parse_window(window)  # fail on a bad --window before reading or embedding anything
    from trendml.errors import InputError

    if sum([no_state, bool(state_path), live]) > 1:
        raise InputError(
            "more than one of --state, --live and --no-state was given; expected at most one of them"
        )
    if replace and not (state_path or live):
        raise InputError(
            "--replace was given without --state or --live; expected the state to replace; "
            "add --live (the service's state) or --state PATH, or drop --replace"
        )
    if no_severity and severity_model:
        raise InputError("--severity-model and --no-severity were both given; expected at most one of them")
    cfg = settings()
    result = load_items(items, skip_invalid=skip_invalid, rejects=rejects, cfg=cfg, require_created_at=True)
    clustered, n_unsupported = supported_items(result.items)
    if not (state_path or live):
        state = TrendState.in_memory()  # scratch: the live state is never touched
    else:
        if live:
            cfg.ensure_home()
        state = TrendState.open(cfg.db_url if live else state_path)
    try:
        if not replace:  # refuse an overlapping file before embedding anything
            _check_continues(state, clustered, window, flag="--live" if live else "--state")
        embedder = make_embedder(cfg)
        t0 = time.perf_counter()
        vectors = embed_items(clustered, embedder, show_progress=show_progress(len(clustered)))
        probs = None if no_severity else _severity_probs(clustered, vectors, embedder, cfg, severity_model)
        detector = TrendDetector(window, min_cluster_size=min_cluster_size)
        if replace:
            found = _replace(state, detector, clustered, vectors, probs)
        else:
            with state.batch():  # the whole run in one transaction: readers see all of it or none
                found = detector.detect(clustered, vectors, severity=probs, state=state)
                if live:  # issue 16: the live state's alerts go to the outbox with the run
                    _queue_alerts(state, found.windows, cfg)
    finally:
        state.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({**found.to_dict(), "n_unsupported_language": n_unsupported}, indent=1))
    n_trends = sum(len(w.trends) for w in found.windows)
    n_emerging = sum(t.emerging for w in found.windows for t in w.trends)
    console.print(
        f"{len(result.items)} items in {len(found.windows)} windows: {n_trends} trend observations, "
        f"{n_emerging} emerging, in {time.perf_counter() - t0:.1f}s -> {output}"
        + (f" ({n_unsupported} items in unsupported languages left out)" if n_unsupported else ""),
        highlight=False,
        soft_wrap=True,
    )


def supported_items(items: list) -> tuple[list, int]:
    """The items whose language the models support (trendml.language) and how many were left out:
    the embedder is English-only, so other languages are not clustered."""
    from trendml.language import detect_languages, language_supported

    langs = detect_languages([it.content for it in items])
    keep = [it for it, lang in zip(items, langs, strict=True) if language_supported(lang)]
    return keep, len(items) - len(keep)


def _check_continues(state, items, window: str, *, flag: str) -> None:
    """A persistent state only takes windows after its last one (``--replace`` restarts it)."""
    from trendml.errors import StateError
    from trendml.trends import parse_window
    from trendml.trends.windows import window_start

    last = state.last_start
    times = [it.created_at for it in items if it.created_at is not None]
    if last is None or not times:
        return
    first = window_start(min(times), parse_window(window))
    if first <= last:
        raise StateError(
            f"the trend state at {state.url} has processed windows up to {last.isoformat()} and this file "
            f"starts in the window of {first.isoformat()}; expected only later items to continue it; add "
            f"--replace to restart that state from this file, or drop {flag} to analyse the file on a "
            "scratch state"
        )


def _replace(state, detector, items, vectors, probs):
    """Restart ``state`` from these items in one transaction, as the service's reset does: the old
    memberships are passed as ``previous_ids`` (reviewed trends keep their ids), deleted ids stay
    reserved, and analyst decisions on trends that did not come back are listed."""
    previous = state.memberships()
    old_ids = set(previous.values())
    with state.batch():
        state.reset()
        found = detector.detect(items, vectors, severity=probs, state=state, previous_ids=previous)
    kept = old_ids & {t.trend_id for w in found.windows for t in w.trends}
    console.print(
        f"replaced the trend state at {state.url}: "
        f"{len(kept)} of {len(old_ids)} earlier trend ids carried over",
        highlight=False,
        soft_wrap=True,
    )
    for trend_id, action, n in _decisions_on_retired(state):
        console.print(
            f"[yellow]note:[/yellow] trend {trend_id} ({n} items) had the analyst decision '{action}' and is "
            "retired by this replacement; the decision is kept and its items stay in "
            "`trendml feedback export`",
            highlight=False,
            soft_wrap=True,
        )
    return found


def _decisions_on_retired(state) -> list[tuple[str, str, int]]:
    """``(trend id, latest action, members)`` of the trends the last commit retired that carry an
    analyst decision (none when the state's database holds no feedback table)."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import Session

    from trendml.trends.queries import retired_trends

    if not inspect(state.engine).has_table("trend_feedback"):
        return []
    from trendml.store.feedback import latest_actions

    retired = {k: v for k, v in retired_trends(state.engine).items() if v.generation == state.generation}
    with Session(state.engine) as s:
        actions = latest_actions(s)
    return [
        (tid, actions[tid].action, info.n_members)
        for tid, info in sorted(retired.items())
        if tid in actions
    ]


def _severity_probs(
    items: Sequence[Item], vectors: np.ndarray, embedder: Embedder, cfg: Settings, uri: str | None
) -> np.ndarray | None:
    """``(n, 4)`` severity probabilities from ``uri`` (or the champion), or ``None`` when no model was
    asked for and the registry has no champion. A model that was asked for must load."""
    from trendml.registry import champion_version, load_severity_model

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
    from trendml.severity.scoring import score_vectors

    texts = [it.content for it in items]
    probs = score_vectors(model, texts, vectors, model_name=name, model_version=version).probs
    console.print(f"[dim]severity mix from {name} v{version}[/dim]", highlight=False)
    return probs


def _queue_alerts(state, windows, cfg) -> None:  # noqa: ANN001
    """The policy's alert rules over a ``--live`` run, into the outbox in the run's transaction."""
    from sqlalchemy.orm import Session

    from trendml.alerts.detection import queue_alerts
    from trendml.policy import load_policy
    from trendml.schema import create_all

    create_all(state.engine)
    with Session(state.engine) as session:
        found = queue_alerts(state, windows, load_policy(cfg.policy_file), session)
    if found:
        console.print(f"{len(found)} alerts queued (trendml alerts list)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
