"""``trendml qa``: stratified QA samples of scored items, second reviews, agreement."""

from __future__ import annotations

from datetime import datetime

import typer

from cli._common import console, settings

qa_app = typer.Typer(
    help="QA: sample scored items for a second review, enter reviews, show agreement.", no_args_is_help=True
)


def _time(value: str | None, name: str) -> datetime | None:
    from trendml.errors import InputError
    from trendml.items import parse_timestamp

    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise InputError(
            f'{name} is "{value}"; expected an ISO-8601 day or time such as 2026-03-01 '
            "or 2026-03-01T12:00:00Z",
            field=name.lstrip("-"),
        ) from None


def _session():
    from trendml.reports.load import open_store
    from trendml.store.base import make_sessionmaker

    engine = open_store(settings().db_url)
    return engine, make_sessionmaker(engine)()


@qa_app.command("sample")
def sample(
    rate: float = typer.Option(0.05, "--rate", "-r", help="Fraction of scored items to sample per severity."),
    since: str | None = typer.Option(None, "--since", help="Only items from this time on (ISO-8601)."),
    until: str | None = typer.Option(None, "--until", help="Only items before this time (ISO-8601)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the draw."),
) -> None:
    """Sample scored items per model severity (at least one per non-empty severity) for a second review."""
    from rich.table import Table

    from trendml.store.qa import sample_for_review

    lo, hi = _time(since, "--since"), _time(until, "--until")
    engine, session = _session()
    try:
        out = sample_for_review(session, rate, since=lo, until=hi, seed=seed)
    finally:
        session.close()
        engine.dispose()
    table = Table(title=f"QA sample {out['batch']} (rate {out['rate']:g})")
    for col in ("severity", "scored", "target", "already sampled", "added"):
        table.add_column(col, justify="right")
    for s, row in out["strata"].items():
        table.add_row(str(s), str(row["scored"]), str(row["target"]), str(row["already"]), str(row["added"]))
    console.print(table)
    typer.echo(f"added {out['added']} items to the QA sample ({out['total_sampled']} sampled in total)")


@qa_app.command("review")
def review(
    item_id: str = typer.Argument(..., help="A sampled item's id."),
    severity: int = typer.Option(
        ..., "--severity", "-s", help="0 none, 1 offensive, 2 hateful, 3 threat/violent."
    ),
    reviewer: str = typer.Option(..., "--reviewer", help="Who reviewed it."),
    note: str | None = typer.Option(None, "--note", help="Optional note."),
) -> None:
    """Enter a reviewer's severity for a sampled item (a second review replaces the reviewer's first)."""
    from trendml.store.qa import add_review

    engine, session = _session()
    try:
        r = add_review(session, item_id, reviewer, severity, note)
    finally:
        session.close()
        engine.dispose()
    typer.echo(f"review stored: item {r['item_id']} severity {r['severity']} by {r['reviewer']}")


@qa_app.command("agreement")
def agreement_cmd(
    since: str | None = typer.Option(None, "--since", help="Only reviews from this time on (ISO-8601)."),
    until: str | None = typer.Option(None, "--until", help="Only reviews before this time (ISO-8601)."),
) -> None:
    """Cohen's kappa: model vs reviewer, and reviewer vs reviewer."""
    from trendml.store.qa import agreement

    lo, hi = _time(since, "--since"), _time(until, "--until")
    engine, session = _session()
    try:
        a = agreement(session, lo, hi)
    finally:
        session.close()
        engine.dispose()

    def f(v):
        return "undefined" if v is None else f"{v:.3f}"

    typer.echo(
        f"model vs reviewer: kappa {f(a['kappa_model_reviewer'])} over {a['n_model_reviewer']} reviews"
    )
    typer.echo(f"reviewer vs reviewer: kappa {f(a['kappa_reviewers'])} over {a['n_reviewer_pairs']} items")


def register(app: typer.Typer) -> None:
    app.add_typer(qa_app, name="qa")
