"""``trendml models``: list, compare and promote registered severity models."""

from __future__ import annotations

import math

import typer
from rich.console import Console
from rich.table import Table

from trendml.cli._common import console, settings

models_app = typer.Typer(help="Registered models: list, compare, promote.", no_args_is_help=True)
out = Console()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}"
    return "-" if v is None else str(v)


@models_app.command("list")
def list_(name: str = typer.Argument("trendml-severity", help="Registered model name.")) -> None:
    """Registered versions, their headline metrics and which one is champion."""
    from training.registry import list_versions

    rows = list_versions(settings(), name)
    table = Table(title=f"{name} versions")
    for col in ("version", "champion", "created", "davidson macro-F1", "davidson hate-F1", "promotion"):
        table.add_column(col)
    for r in rows:
        m = r["metrics"]
        table.add_row(
            r["version"],
            "★" if r["champion"] else "",
            r["created"],
            _fmt(m.get("test.davidson.macro_f1")),
            _fmt(m.get("test.davidson.hate_f1")),
            str(r["tags"].get("promotion", "")),
        )
    out.print(table)


@models_app.command("compare")
def compare(
    experiment: str = typer.Option("trendml-severity", "--experiment", help="MLflow experiment."),
    max_runs: int = typer.Option(10, "--max-runs", help="How many recent runs."),
    metric: list[str] = typer.Option(None, "--metric", help="Metric columns to show (repeatable)."),
) -> None:
    """Recent runs side by side (rich table)."""
    from training.compare import HEADLINE, compare_runs

    df = compare_runs(settings(), experiment, max_runs=max_runs)
    if df.empty:
        console.print(f"no runs in experiment {experiment}; run `trendml train severity`", highlight=False)
        return
    cols = [c for c in (metric or HEADLINE) if c in df.columns]
    table = Table(title=f"runs of {experiment} (newest first)")
    for col in ["run", "status", "start", "version", "data", *cols]:
        table.add_column(col.replace("test.", "").replace("baseline.", "base."), overflow="fold")
    for _, r in df.iterrows():
        version = r["version"] if isinstance(r["version"], str) else None
        v = (version or "-") + (" ★" if r["champion"] else "")
        table.add_row(
            r["run_id"][:8], r["status"], r["start"], v, r["datasets"], *[_fmt(r.get(c)) for c in cols]
        )
    out.print(table)


@models_app.command("promote")
def promote(
    name: str = typer.Argument("trendml-severity", help="Registered model name."),
    version: str = typer.Option(..., "--version", help="Version to make champion."),
    force: bool = typer.Option(False, "--force", help="Override the promotion rule (recorded as a tag)."),
) -> None:
    """Make VERSION the champion if its macro-F1 >= the champion's and no subgroup AUC drops > 0.01."""
    from training.config import load_config
    from training.registry import promote as do_promote

    drop = float(load_config()["promotion"]["max_subgroup_auc_drop"])
    d = do_promote(settings(), name, version, force=force, max_subgroup_auc_drop=drop)
    for key, (old, new) in d.compared.items():
        console.print(f"  {key}: {old:.4f} -> {new:.4f}", highlight=False)
    if d.forced:
        console.print(f"[yellow]forced[/yellow] despite: {'; '.join(d.reasons)}", highlight=False)
    console.print(f"{name} version {d.version} is champion (was {d.previous})", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
