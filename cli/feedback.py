"""``trendml feedback export``: analysts' trend decisions as labelled rows for retraining."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from cli._common import console, settings

feedback_app = typer.Typer(help="Analyst feedback on trends.", no_args_is_help=True)


@feedback_app.command("export")
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="JSONL file to write (default: stdout)."),
) -> None:
    """One JSON line per member item of every trend with a decision (latest decision wins):
    id, text, caption, label (1 confirm/escalate, 0 dismiss), action, trend_id, severity,
    model_version, analyst, decided_at. Same rows as GET /v1/feedback/export."""
    from service.trends_backend import TrendBackend
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.feedback import export_labels

    cfg = settings()
    engine = make_engine(cfg.db_url)
    create_all(engine)
    Session = make_sessionmaker(engine)
    trends = TrendBackend(engine, Session)
    with Session() as session:  # every trend's members from one generation of the trend state
        rows = trends.export(lambda members_of: list(export_labels(session, members_of)))
    engine.dispose()
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if output is None:
        sys.stdout.write(lines)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(lines, encoding="utf-8")
    n_trends = len({r["trend_id"] for r in rows})
    console.print(f"exported {len(rows)} labelled items from {n_trends} trends", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
