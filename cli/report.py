"""``trendml report`` (daily / weekly operations report) and ``trendml brief`` (trend brief)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli._common import console, settings

FORMATS = ("html", "md", "json")


def _format(fmt: str) -> str:
    from trendml.errors import InputError

    f = fmt.strip().lower()
    if f == "markdown":
        f = "md"
    if f not in FORMATS:
        raise InputError(f'format is "{fmt}"; expected one of {", ".join(FORMATS)}', field="format")
    return f


def report(
    period: str = typer.Option(..., "--period", "-p", help="daily or weekly."),
    day: str | None = typer.Option(
        None,
        "--date",
        "-d",
        help="Last day of the period, YYYY-MM-DD (default: yesterday, the last complete day, UTC).",
    ),
    fmt: str = typer.Option(
        "html",
        "--format",
        "-f",
        help="html (plots embedded), md (plots as PNG files next to it) or json (the numbers only).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the report."),
    top: int = typer.Option(10, min=1, max=100, help="How many top trends to list."),
    show_text: bool = typer.Option(
        False, "--show-text", help="Show keywords in clear (by default slurs in them are masked)."
    ),
) -> None:
    """Production report: items, severity mix, trends surfaced/decided, analyst actions, QA agreement."""
    from trendml.policy import load_policy
    from trendml.reports import (
        build_report,
        load_report_data,
        open_store,
        render_html,
        render_markdown,
        report_plots,
    )
    from trendml.reports.period import report_period
    from trendml.store.base import make_sessionmaker

    per = report_period(period.strip().lower(), day)
    f = _format(fmt)
    names = load_policy(settings().policy_file).level_names
    engine = open_store(settings().db_url)
    try:
        with make_sessionmaker(engine)() as session:
            rep = build_report(
                load_report_data(session, per), per, top_n=top, level_names=names, show_text=show_text
            )
    finally:
        engine.dispose()
    output.parent.mkdir(parents=True, exist_ok=True)
    extra = ""
    if f == "json":
        output.write_text(json.dumps(rep, indent=1))
    elif f == "html":
        output.write_text(render_html(rep), encoding="utf-8")
    else:
        paths = {}
        for name, png in report_plots(rep).items():
            target = output.with_name(f"{output.stem}.{name}.png")
            target.write_bytes(png)
            paths[name] = target.name
        output.write_text(render_markdown(rep, plot_paths=paths), encoding="utf-8")
        extra = f" (+ {len(paths)} PNG plots beside it)"
    console.print(
        f"{per.kind} report {per.label}: {rep['items']['received']} items, "
        f"{rep['trends']['surfaced']} trends "
        f"surfaced, {rep['analysts']['n_actions']} analyst actions -> {output}{extra}",
        highlight=False,
        soft_wrap=True,
    )


def brief(
    trend_id: str = typer.Argument(..., help="Trend id (from the dashboard, the trends API or a report)."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write the brief: .html (with a chart) or .md (default: print Markdown).",
    ),
    show_text: bool = typer.Option(
        False,
        "--show-text",
        help="Show example texts in full (they contain harmful "
        "content); by default they are truncated and masked.",
    ),
    examples: int = typer.Option(5, min=1, max=50, help="How many example items."),
) -> None:
    """Trend brief for moderator training: what it is, keywords, how it grew, examples, decisions."""
    from trendml.policy import load_policy
    from trendml.reports import build_brief, open_store, render_brief_html, render_brief_markdown

    names = load_policy(settings().policy_file).level_names
    engine = open_store(settings().db_url)
    try:
        b = build_brief(engine, trend_id, show_text=show_text, n_examples=examples, level_names=names)
    finally:
        engine.dispose()
    if output is None:
        typer.echo(render_brief_markdown(b))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    html = output.suffix.lower() in (".html", ".htm")
    output.write_text(render_brief_html(b) if html else render_brief_markdown(b), encoding="utf-8")
    console.print(
        f"brief of {trend_id} ({len(b['growth'])} windows, {len(b['examples'])} examples"
        f"{', redacted' if b['redacted'] else ', FULL TEXT'}) -> {output}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("brief")(brief)
