"""``trendml bench``: run the benchmarks (``make bench``) and rewrite benchmarks/RESULTS.md.

``benchmarks`` is a sibling shell package of ``cli``; its ``__main__.main`` is the documented entry
point this command calls (see the import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

import typer

from trendml.errors import InputError


def bench(
    names: list[str] | None = typer.Argument(
        None, help="Benchmarks to run (embed, severity, trends, service, dashboard); default: all."
    ),
) -> None:
    """Run benchmarks; each reports speed as ratios against a baseline run in the same process."""
    try:
        from benchmarks.__main__ import main as run_benchmarks
    except ModuleNotFoundError:
        raise InputError(
            "the benchmarks package is not importable; expected to run from the trendml source checkout; "
            "cd to the repository root (or use `make bench`)"
        ) from None
    code = run_benchmarks(list(names or []))
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
