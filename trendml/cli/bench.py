"""``trendml bench``: run the benchmarks (``make bench``) and rewrite benchmarks/RESULTS.md."""

from __future__ import annotations

import typer

from trendml.errors import InputError


def bench(
    names: list[str] | None = typer.Argument(
        None, help="Benchmarks to run (embed, severity, trends, service, dashboard); default: all."
    ),
) -> None:
    """Run benchmarks; each reports speed as ratios against a baseline run in the same process."""
    import sys
    from pathlib import Path

    if (Path.cwd() / "benchmarks" / "__main__.py").exists() and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
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
