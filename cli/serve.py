"""``trendml serve``: start the BentoML triage service against the configured database and registry."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

from cli._common import InputError, check_port_free, console, settings

SERVICE = "service.service:TriageService"
#: where ``bentoml serve`` runs and what goes first on its ``PYTHONPATH``
REPO_ROOT = Path(__file__).resolve().parents[1]


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


def bentoml_home(home: Path, port: int) -> Path:
    """Where the server's BentoML keeps its files (``BENTOML_HOME``) when the operator set none: a
    folder of this port's own, on tmpfs (``/dev/shm``) when there is a writable one, else under
    ``<TRENDML_HOME>/run``.

    BentoML keeps Prometheus's multi-process metrics there (memory-mapped files, one per worker and
    metric type, written on every request) and empties that folder whenever a server starts, so two
    servers sharing ``~/bentoml`` erased each other's metrics. tmpfs keeps those per-request writes
    off the disk that takes the database's fsyncs (``synchronous=FULL``); on the 2 shared cores here
    the throughput effect was within the run-to-run spread (six interleaved runs, docs/service.md)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm / f"trendml-{os.getuid()}" / f"bentoml-{port}"
    return home / "run" / f"bentoml-{port}"


def serve_env(home: Path, port: int, n_workers: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``bentoml serve`` runs in: this one plus the worker count, the repository on
    ``PYTHONPATH`` and, unless set, a BentoML home of the server's own (:func:`bentoml_home`)."""
    env = dict(os.environ if environ is None else environ)
    env["TRENDML_WORKERS"] = str(n_workers)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if not env.get("BENTOML_HOME"):
        env["BENTOML_HOME"] = str(bentoml_home(home, port))
    return env


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
    env = serve_env(cfg.home, port, n_workers)
    Path(env["BENTOML_HOME"]).mkdir(parents=True, exist_ok=True)
    console.print(
        f"serving trendml on http://{host}:{port} (home {cfg.home}, database {cfg.db_url.split('://')[0]}, "
        f"{n_workers} worker process{'es' if n_workers > 1 else ''})",
        highlight=False,
    )
    cmd = bentoml_command(host, port, reload=reload)
    os.chdir(REPO_ROOT)
    os.execve(cmd[0], cmd, env)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
