"""``trendml backtest STREAM --truth TRUTH.json [--config ALT.yaml] [--shadow ALT.yaml]``: replay a
stream window by window through the detector and the policy's alert rules; time to first alert and
precision@k per scenario; with ``--shadow``, a candidate detector config beside it (docs/backtest.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli._common import console, load_items, make_embedder, settings, show_progress


def backtest(
    stream: Path = typer.Argument(..., help="Items file (JSONL or CSV) with created_at."),
    truth: Path = typer.Option(..., "--truth", help="Truth file (JSON; docs/backtest.md)."),
    config: Path | None = typer.Option(
        None, "--config", help="Detector config (YAML of TrendDetector arguments)."
    ),
    shadow: Path | None = typer.Option(
        None, "--shadow", help="A candidate detector config run beside --config."
    ),
    policy_path: Path | None = typer.Option(None, "--policy", help="Alert rules (default: TRENDML_POLICY)."),
    k: int = typer.Option(5, "--k", min=1, max=1000, help="k of precision@k."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report (JSON) here."),
    no_severity: bool = typer.Option(
        False, "--no-severity", help="Do not score severity (rules needing it stay quiet)."
    ),
) -> None:
    """Replay STREAM window by window; report when and how precisely the alert rules fire."""
    from cli.detect import _severity_probs
    from trendml.backtest import compare, load_detector_config, load_truth, onsets_from_items, replay, score
    from trendml.embed.base import embed_items
    from trendml.errors import InputError
    from trendml.policy import load_policy

    cfg = settings()
    scenarios = load_truth(truth)
    live_cfg = load_detector_config(config)
    shadow_cfg = load_detector_config(shadow) if shadow is not None else None
    policy = load_policy(policy_path or cfg.policy_file)
    if not policy.alerts:
        raise InputError(
            f"the policy {policy_path or cfg.policy_file} has no alert rules; expected some under alerts:"
        )
    result = load_items(stream, skip_invalid=False, rejects=None, cfg=cfg, require_created_at=True)
    items = result.items
    known = {it.id for it in items}
    for sc in scenarios:
        if not sc.item_ids & known:
            raise InputError(
                f"truth scenario {sc.name!r}: none of its item_ids is in {stream}; expected ids of the stream"
            )
    scenarios = onsets_from_items(items, scenarios)
    embedder = make_embedder(cfg)
    vectors = embed_items(items, embedder, show_progress=show_progress(len(items)))
    probs = None if no_severity else _severity_probs(items, vectors, embedder, cfg, None)
    alerts, starts, length = replay(items, vectors, policy.alerts, severity=probs, detector=live_cfg)
    report = {"live": score(alerts, starts, length, scenarios, k=k), "config": live_cfg}
    if shadow_cfg is not None:
        s_alerts, s_starts, s_length = replay(
            items, vectors, policy.alerts, severity=probs, detector=shadow_cfg
        )
        report["shadow"] = score(s_alerts, s_starts, s_length, scenarios, k=k)
        report["shadow_config"] = shadow_cfg
        report["diff"] = compare(alerts, s_alerts)
    for name in ("live", "shadow"):
        if name not in report:
            continue
        r = report[name]
        console.print(
            f"[bold]{name}[/bold]: {r['n_alerts']} alerts over {r['n_windows']} windows; "
            f"precision@{k} {r[f'precision_at_{k}']}, all {r['precision_all']}",
            highlight=False,
        )
        for row in r["scenarios"]:
            ttfa = row["time_to_first_alert_windows"]
            console.print(
                f"  {row['scenario']}: first alert "
                + (
                    f"{ttfa} windows ({row['time_to_first_alert_hours']} h) after onset"
                    if ttfa is not None
                    else "never"
                )
                + f"; precision@{k} {row[f'precision_at_{k}']}",
                highlight=False,
                soft_wrap=True,
            )
    if "diff" in report:
        d = report["diff"]
        console.print(
            f"both raised {d['both']}; only live {len(d['only_live'])}; only shadow {len(d['only_shadow'])}",
            highlight=False,
        )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=1, default=str))


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
