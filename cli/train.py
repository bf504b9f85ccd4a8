"""``trendml train severity``: one MLflow-tracked training run, registered as trendml-severity."""

from __future__ import annotations

from pathlib import Path

import typer

from cli._common import console, settings

train_app = typer.Typer(help="Train models (MLflow-tracked).", no_args_is_help=True)


@train_app.command("severity")
def severity(
    data: str | None = typer.Option(
        None,
        "--data",
        help="Comma-separated datasets (davidson,toxigen_seeds,olid,hateval) or 'all'; "
        "default: the shipped ones (davidson,toxigen_seeds); shared ones present are then "
        "cross-dataset tests.",
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="MLflow experiment (default trendml-severity)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Model config YAML (default models/severity.yaml)."
    ),
    max_rows: int | None = typer.Option(
        None, "--max-rows", help="Subsample each dataset to about this many rows (quick runs)."
    ),
    no_register: bool = typer.Option(
        False, "--no-register", help="Log the run but do not register the model."
    ),
    run_name: str | None = typer.Option(None, "--run-name", help="MLflow run name."),
    with_feedback: bool = typer.Option(
        False,
        "--with-feedback",
        help="Add QA second reviews and analyst decisions from the item store as training rows "
        "(label rule: docs/severity.md; rows in any test split are dropped).",
    ),
) -> None:
    """Train the severity model, evaluate it, log everything to MLflow and register it."""
    from training.train import train_severity

    cfg = settings()
    from trendml.datasets.loaders import ALL_DATASETS

    datasets = [d.strip() for d in data.split(",") if d.strip()] if data else None
    if datasets == ["all"]:
        datasets = list(ALL_DATASETS)
    import logging

    from training.runs import Interrupted

    logging.getLogger("training").setLevel(logging.INFO)  # progress lines on stderr (not silent for minutes)
    try:
        result = train_severity(
            cfg,
            datasets=datasets,
            experiment=experiment,
            config=config,
            register=not no_register,
            max_rows_per_dataset=max_rows,
            run_name=run_name,
            with_feedback=with_feedback,
        )
    except Interrupted as exc:
        what = (
            "the run had finished and its model was registered before stopping"
            if exc.completed
            else "the run was ended KILLED and nothing was registered"
        )
        console.print(f"{exc}: {what}", highlight=False)
        raise typer.Exit(128 + exc.signum) from None
    m = result.metrics
    lines = [f"run {result.run_id} on {', '.join(result.datasets)} in {result.duration_s:.0f}s"]
    if result.skipped:
        lines.append(f"skipped (not present): {', '.join(result.skipped)}")
    if with_feedback:
        fb = {k.removeprefix("feedback."): int(v) for k, v in m.items() if k.startswith("feedback.n_")}
        lines.append(
            f"feedback: {fb.get('n_rows', 0)} rows ({fb.get('n_qa', 0)} QA, "
            f"{fb.get('n_decisions', 0)} decisions), "
            f"{fb.get('n_dropped_test', 0)} dropped as test rows, "
            f"{fb.get('n_dismissed_unlabelled', 0)} dismissed-trend members unlabelled"
        )
    for key in sorted(
        k for k in m if k.startswith("test.") and k.endswith((".macro_f1", ".hate_f1", ".ece"))
    ):
        base = m.get("baseline." + key.removeprefix("test."))
        lines.append(f"  {key} = {m[key]:.3f}" + (f" (baseline {base:.3f})" if base is not None else ""))
    if result.version:
        lines.append(
            f"registered {result.model_name} version {result.version}"
            + (" — champion" if result.champion else " — run `trendml models promote` to make it champion")
        )
    console.print("\n".join(lines), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
