"""``trendml policy check [FILE]``: validate a policy taxonomy file (``models/policy.yaml``)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli._common import console, settings

policy_app = typer.Typer(
    help="The policy taxonomy (models/policy.yaml): level names, priority rule, areas, alerts."
)


@policy_app.command("check")
def check(
    path: Path | None = typer.Argument(
        None, help="Policy file (default: TRENDML_POLICY, else models/policy.yaml)."
    ),
) -> None:
    """Validate a policy file; exit 2 with one line naming the bad key."""
    from trendml.policy import load_policy

    target = path or settings().policy_file
    policy = load_policy(target)
    levels = ", ".join(f"{k} {name}" for k, name in policy.level_names.items())
    console.print(
        f"{target}: ok — levels {levels}; {len(policy.policy_areas)} policy areas, "
        f"{len(policy.report_reasons)} report reasons, {len(policy.alerts)} alert rules",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
