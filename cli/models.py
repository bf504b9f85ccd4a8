"""``trendml models``: list, compare, promote and roll back registered severity models."""

from __future__ import annotations

import math
import sys
import textwrap

import typer
from rich.console import Console
from rich.table import Table

from cli._common import console, settings
from trendml.errors import InputError

models_app = typer.Typer(help="Registered models: list, compare, promote, rollback.", no_args_is_help=True)
out = Console()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}"
    return "-" if v is None else str(v)


def _short(col: str) -> str:
    return col.replace("test.", "").replace("baseline.", "base.").replace("davidson", "dav")


def _periods(version: str, events: list[dict[str, object]]) -> str:
    """When ``version`` held the champion alias, from the alias history: ``17:05-17:09, 17:20-``."""
    spans, since = [], None
    for e in events:
        if str(e.get("from")) == str(e.get("to")):
            continue
        at = str(e.get("at", ""))[5:16].replace("T", " ")
        if str(e.get("to")) == version and since is None:
            since = at
        elif str(e.get("from")) == version and since is not None:
            spans.append(f"{since} to {at}")
            since = None
    if since is not None:
        spans.append(f"since {since}")
    return "; ".join(spans)


@models_app.command("list")
def list_(name: str = typer.Argument("trendml-severity", help="Registered model name.")) -> None:
    """Registered versions, their headline metrics, when each was champion, and the alias history."""
    from trendml.registry import alias_history, list_versions

    cfg = settings()
    rows = list_versions(cfg, name)
    events = alias_history(cfg, name)
    table = Table(title=f"{name} versions")
    for col in ("version", "champion", "created", "davidson macro-F1", "davidson hate-F1", "champion when"):
        table.add_column(col)
    for r in rows:
        m = r["metrics"]
        when = _periods(r["version"], events) if events else str(r["tags"].get("promotion", ""))
        table.add_row(
            r["version"],
            "★" if r["champion"] else "",
            r["created"],
            _fmt(m.get("test.davidson.macro_f1")),
            _fmt(m.get("test.davidson.hate_f1")),
            when,
        )
    out.print(table)
    if events:
        hist = Table(title="champion alias history (oldest first)")
        for col in ("when (UTC)", "by", "action", "from", "to", "forced", "reasons"):
            hist.add_column(col)
        for e in events:
            hist.add_row(
                str(e.get("at", "")).replace("T", " ").replace("+00:00", ""),
                str(e.get("by", "")),
                str(e.get("action", "")),
                _fmt(e.get("from")),
                str(e.get("to")),
                "yes" if e.get("forced") else "no",
                "; ".join(map(str, e.get("reasons") or [])) or "-",
            )
        out.print(hist)


def _print_runs_plain(df, cols: list[str], width: int = 80) -> None:  # noqa: ANN001
    """One block per run, wrapped at ``width``: readable in a pipe, a log or an 80-column terminal."""
    for _, r in df.iterrows():
        version = r["version"] if isinstance(r["version"], str) else None
        head = (
            f"run {r['run_id'][:8]}  {r['run_name'] or '-'}  {r['status']}  {r['start']}  "
            f"version {(version or '-') + (' (champion)' if r['champion'] else '')}"
        )
        body = f"data {r['datasets'] or '-'}  features {r['features'] or '-'}  " + "  ".join(
            f"{_short(c)} {_fmt(r.get(c))}" for c in cols
        )
        print(textwrap.fill(head, width=width, subsequent_indent="    "))
        print(textwrap.fill(body, width=width, initial_indent="  ", subsequent_indent="  "))


@models_app.command("compare")
def compare(
    experiment: str = typer.Option("trendml-severity", "--experiment", help="MLflow experiment."),
    max_runs: int = typer.Option(10, "--max-runs", help="How many recent runs."),
    metric: list[str] = typer.Option(None, "--metric", help="Metric columns to show (repeatable)."),
) -> None:
    """Recent runs side by side: a table on a terminal, one block per run otherwise."""
    from training.compare import HEADLINE, compare_runs

    df = compare_runs(settings(), experiment, max_runs=max_runs)
    if df.empty:
        console.print(f"no runs in experiment {experiment}; run `trendml train severity`", highlight=False)
        return
    if metric:
        unknown = [m for m in metric if m not in df.columns]
        if unknown:
            known = sorted(c for c in df.columns if "." in c)
            raise InputError(
                f"--metric {', '.join(unknown)} is not logged by any of these runs; expected one of "
                f"{', '.join(known[:8])}, ... ({len(known)} in all); see `trendml models compare` "
                "or the MLflow UI for the names"
            )
        cols = list(metric)
    else:
        cols = [c for c in HEADLINE if c in df.columns]
        # every test set any run reports, and the feedback rows (training rows, not a test set)
        cols += sorted(
            c for c in df.columns if c.startswith("test.") and c.endswith(".macro_f1") and c not in cols
        )
        cols += [
            c
            for c in ("feedback.n_rows", "feedback.agreement", "feedback.champion_agreement")
            if c in df.columns
        ]
    if not sys.stdout.isatty():
        _print_runs_plain(df, cols)
        return
    table = Table(title=f"runs of {experiment} (newest first)")
    for col in ["run", "name", "status", "start", "version", "data", "features", *cols]:
        table.add_column(_short(col), overflow="fold", min_width=min(len(_short(col)), 9))
    for _, r in df.iterrows():
        version = r["version"] if isinstance(r["version"], str) else None
        v = (version or "-") + (" ★" if r["champion"] else "")
        table.add_row(
            r["run_id"][:8],
            str(r["run_name"] or "-"),
            r["status"],
            r["start"],
            v,
            r["datasets"],
            r["features"] or "-",
            *[_fmt(r.get(c)) for c in cols],
        )
    out.print(table)


def _print_decision(d) -> None:  # noqa: ANN001
    for key, (old, new) in d.compared.items():
        label = "mean macro-F1 over the champion's test sets" if key == "macro_f1" else key
        old_s = "-" if math.isnan(old) else f"{old:.4f}"
        console.print(f"  {label}: {old_s} -> {new:.4f}", highlight=False)
    for note in d.notes:
        console.print(f"  note: {note}", highlight=False)
    if d.forced:
        console.print(f"[yellow]forced[/yellow] despite: {'; '.join(d.reasons)}", highlight=False)


@models_app.command("promote")
def promote(
    name: str = typer.Argument("trendml-severity", help="Registered model name."),
    version: str = typer.Option(..., "--version", help="Version to make champion."),
    force: bool = typer.Option(False, "--force", help="Override the promotion rule (recorded)."),
) -> None:
    """Make VERSION the champion if it passes the gate (docs/severity.md, "Promotion gate"): the
    champion's test sets on the same splits, the floors, macro-F1, subgroup AUCs."""
    from training.registry import PromotionRule
    from training.registry import promote as do_promote
    from training.runs import actor

    d = do_promote(settings(), name, version, force=force, rule=PromotionRule.from_config(), by=actor())
    _print_decision(d)
    console.print(f"{name} version {d.version} is champion (was {d.previous})", highlight=False)


@models_app.command("rollback")
def rollback(
    name: str = typer.Argument("trendml-severity", help="Registered model name."),
    force: bool = typer.Option(False, "--force", help="Roll back even if a floor is missed (recorded)."),
) -> None:
    """Point the champion back at the previous champion (alias history), judged against the held-out
    floors only, never against the model being rolled back."""
    from training.registry import PromotionRule
    from training.registry import rollback as do_rollback
    from training.runs import actor

    d = do_rollback(settings(), name, force=force, rule=PromotionRule.from_config(), by=actor())
    _print_decision(d)
    console.print(
        f"{name} version {d.version} is champion again (rolled back from {d.previous})", highlight=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
