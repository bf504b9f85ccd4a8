"""``trendml serve``: start the BentoML triage service against the configured database and registry."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

from cli._common import InputError, check_port_free, console, settings

SERVICE = "service.service:TriageService"


def bentoml_command(host: str, port: int, *, reload: bool = False) -> list[str]:
    """The ``bentoml serve`` command line that runs the service (its workers: ``TRENDML_WORKERS``)."""
    exe = Path(sys.executable).with_name("bentoml")
    cmd = [str(exe)] if exe.exists() else [shutil.which("bentoml") or "bentoml"]
    cmd += ["serve", SERVICE, "--host", host, "--port", str(port)]
    if reload:
        cmd.append("--reload")
    return cmd


def resolve_workers(workers: str | None) -> int:
    """``--workers`` (else ``TRENDML_WORKERS``, else ``auto``) as a process count; a bad value is one
    line naming what was given (exit 2), before any work."""
    from service.workers import worker_count

    raw = workers if workers is not None else os.environ.get("TRENDML_WORKERS")
    try:
        return worker_count(raw)
    except SystemExit as exc:
        where = "--workers " if workers is not None else "TRENDML_WORKERS="
        raise InputError(str(exc).replace("TRENDML_WORKERS=", where)) from None


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="TCP port."),
    reload: bool = typer.Option(False, "--reload", help="Restart on code changes (development)."),
    workers: str | None = typer.Option(
        None,
        "--workers",
        help="Worker processes: 'auto' (one per core, at most 4) or a number; sets TRENDML_WORKERS "
        "(default: that variable, else auto).",
    ),
) -> None:
    """Start the service (API docs at http://HOST:PORT/, Prometheus metrics at /metrics)."""
    n_workers = resolve_workers(workers)
    check_port_free(host, port)
    cfg = settings()
    cfg.ensure_home()
    repo_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["TRENDML_WORKERS"] = str(n_workers)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p)
    console.print(
        f"serving trendml on http://{host}:{port} (home {cfg.home}, database {cfg.db_url.split('://')[0]}, "
        f"{n_workers} worker process{'es' if n_workers > 1 else ''})",
        highlight=False,
    )
    cmd = bentoml_command(host, port, reload=reload)
    os.chdir(repo_root)
    os.execve(cmd[0], cmd, env)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
