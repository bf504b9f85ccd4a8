"""``trendml alerts list | test URL | replay ID | deliver``: the alert outbox (docs/alerts.md)."""

from __future__ import annotations

import json
import time
import uuid

import typer

from cli._common import console, open_store, settings
from trendml.errors import InputError

alerts_app = typer.Typer(
    help="Alerts: the outbox of webhook deliveries (rules in the policy file).", no_args_is_help=True
)


def _store():
    return open_store()


@alerts_app.command("list")
def list_cmd(
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Alerts to show, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON the API answers."),
) -> None:
    """Alerts, newest first, with each webhook delivery's state (pending / delivered / failed)."""
    from trendml.alerts.outbox import list_alerts

    engine, Session = _store()
    with Session() as session:
        out = list_alerts(session, limit=limit)
    engine.dispose()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for a in out["items"]:
        states = ", ".join(f"{d['webhook']}:{d['status']}({d['attempts']})" for d in a["deliveries"]) or "-"
        console.print(
            f"{a['id']}  {a['created_at']}  {a['rule']}  trend {a['trend_id']}  {states}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"{out['total']} alerts", highlight=False)


@alerts_app.command("test")
def test_cmd(
    url: str = typer.Argument(..., help="Webhook URL to send a test alert to."),
    fmt: str = typer.Option("json", "--format", help="json or slack."),
    secret_env: str | None = typer.Option(None, "--secret-env", help="Env variable holding the HMAC key."),
) -> None:
    """Send one synthetic alert (id al-test-...) to URL, signed as the real ones; exit 1 if refused."""
    import httpx

    from service.alert_delivery import post
    from trendml.config import env_secret

    if fmt not in ("json", "slack"):
        raise InputError(f"--format is {fmt!r}; expected json or slack; pass --format json or --format slack")
    if not url.startswith(("http://", "https://")):
        raise InputError(
            f"URL is {url[:60]!r}; expected an http(s) URL; pass e.g. https://hooks.example/alerts"
        )
    alert = {
        "alert_id": f"al-test-{uuid.uuid4().hex[:12]}",
        "rule": "test",
        "when": "test",
        "min_severity": 0,
        "trend_id": "test",
        "title": "trendml test alert",
        "status": "new",
        "size": 0,
        "severity_share": None,
        "window_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "test": True,
    }
    with httpx.Client() as client:
        ok, code, err = post(
            client, url, alert, fmt=fmt, secret=env_secret(secret_env), attempt=1, timeout_s=10
        )
    if not ok:
        typer.echo(
            f"error: {url} did not accept the test alert ({err}); check the URL and the receiver", err=True
        )
        raise typer.Exit(1)
    console.print(f"{url}: accepted {alert['alert_id']} (HTTP {code})", highlight=False)


@alerts_app.command("replay")
def replay_cmd(alert_id: str = typer.Argument(..., help="An alert id from `trendml alerts list`.")) -> None:
    """Queue every delivery of an alert again (delivered or failed ones included)."""
    from trendml.alerts.outbox import replay_alert

    engine, Session = _store()
    try:
        with Session() as session:
            n = replay_alert(session, alert_id)
    finally:
        engine.dispose()
    console.print(f"{alert_id}: {n} deliveries queued", highlight=False)


@alerts_app.command("deliver")
def deliver_cmd(
    until_empty: float = typer.Option(
        0.0,
        "--until-empty",
        min=0.0,
        help="Keep delivering (retries included) for up to this many seconds until nothing is pending.",
    ),
) -> None:
    """One delivery pass over the outbox (what the service does every few seconds)."""
    from service.alert_delivery import deliver_due
    from trendml.alerts.outbox import pending_count
    from trendml.policy import load_policy

    policy = load_policy(settings().policy_file)
    engine, Session = _store()
    total = {"delivered": 0, "retrying": 0, "failed": 0, "skipped": 0}
    deadline = time.monotonic() + until_empty
    try:
        while True:
            for k, v in deliver_due(Session, policy).items():
                total[k] += v
            with Session() as session:
                left = pending_count(session, policy)
            if left == 0 or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    finally:
        engine.dispose()
    console.print(
        f"delivered {total['delivered']}, retrying {total['retrying']}, failed {total['failed']}; "
        f"{left} pending",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
