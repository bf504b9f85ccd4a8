"""Honest run states for training runs.

- :func:`training_run` starts the MLflow run with the process's pid, host, process start time, user and
  git commit as tags, logs the config as ``config.yaml``, first marks ``FAILED`` any ``RUNNING`` run of
  the experiment whose process (same host) is gone, and turns SIGTERM/SIGINT into :class:`Interrupted`
  so the run ends ``KILLED`` (see :func:`end_status`) instead of staying ``RUNNING`` forever.
- :func:`register_last` registers the logged model as the very last step, after everything of the run
  is logged, with signals deferred until the run has ended.
"""

from __future__ import annotations

import getpass
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PID_TAG = "trendml.pid"
HOST_TAG = "trendml.host"
PROC_START_TAG = "trendml.proc_start"
USER_TAG = "trendml.user"
GIT_TAG = "trendml.git_commit"
END_REASON_TAG = "trendml.end_reason"
_REPO = Path(__file__).resolve().parents[1]


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error of the caller
    """SIGTERM or SIGINT arrived during a training run."""

    def __init__(self, signum: int, *, completed: bool = False):
        self.signum = signum
        self.completed = completed  # the signal came during registration: the run finished first
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def actor() -> str:
    """``user@host`` of this process (who trained / promoted)."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), to detect a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def git_commit() -> str:
    """The code's git commit (``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def process_tags() -> dict[str, str]:
    pid = os.getpid()
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), USER_TAG: actor(), GIT_TAG: git_commit()}
    start = _proc_start(pid)
    if start is not None:
        tags[PROC_START_TAG] = start
    return tags


def process_alive(pid: int, proc_start: str | None = None) -> bool:
    """Is ``pid`` (started at ``proc_start``, when known) still running on this host?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    if proc_start is not None:
        now = _proc_start(pid)
        if now is not None and now != proc_start:
            return False  # the pid was reused by another process
    return True


def fail_stale_runs(client, experiment_ids: list[str]) -> list[str]:  # noqa: ANN001
    """Mark ``FAILED`` every ``RUNNING`` run of this host whose process is gone (SIGKILL, power loss);
    runs of other hosts or without a recorded pid are left alone. Returns the run ids marked."""
    host = socket.gethostname()
    marked = []
    for run in client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        pid = int(tags[PID_TAG])
        if pid == os.getpid() or process_alive(pid, tags.get(PROC_START_TAG)):
            continue
        client.set_tag(
            run.info.run_id, END_REASON_TAG, f"process {pid} on {host} ended without closing the run"
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        logger.warning("run %s was RUNNING but its process %s is gone: marked FAILED", run.info.run_id, pid)
        marked.append(run.info.run_id)
    return marked


def end_status(exc: BaseException) -> str:
    """The MLflow status a run ends with when ``exc`` stops it (and, for a signal, notes that the
    interruption reached the run's handler)."""
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        if _active is not None:
            _active.caught = True
        return "KILLED"
    return "FAILED"


class _Signals:
    """SIGTERM/SIGINT -> :class:`Interrupted` in the main thread, or remembered while ``deferred``.

    Python may run the handler inside a garbage-collection callback, where a raised exception is
    printed and ignored, and training would go on. A watchdog thread therefore re-sends the signal to
    the main thread every 2 s until the interruption is caught (:func:`end_status`); after 10 tries it
    ends the run KILLED itself and exits the process (128 + signal)."""

    def __init__(self, client: Any = None) -> None:  # noqa: ANN401
        self.deferred = False
        self.pending: int | None = None
        self.caught = False
        self.client = client
        self.run_id: str | None = None
        self._main = threading.main_thread().ident
        self._watchdog: threading.Thread | None = None

    def handler(self, signum: int, frame: Any) -> None:  # noqa: ARG002, ANN401
        if self.deferred:
            logger.warning("%s during registration: finishing it first", signal.Signals(signum).name)
            self.pending = signum
            return
        if self.caught:
            return  # already unwinding
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._retry, args=(signum,), daemon=True)
            self._watchdog.start()
        raise Interrupted(signum)

    def _retry(self, signum: int) -> None:
        for _ in range(10):
            time.sleep(2.0)
            if self.caught or self.deferred:
                return
            logger.warning("the interruption was swallowed; signalling the training thread again")
            signal.pthread_kill(self._main, signum)
        if self.caught or self.deferred:
            return
        if self.client is not None and self.run_id is not None:
            try:
                self.client.set_tag(self.run_id, END_REASON_TAG, f"{signal.Signals(signum).name}")
                self.client.set_terminated(self.run_id, status="KILLED")
            except Exception:  # noqa: BLE001 - the next start marks it FAILED instead
                logger.exception("could not end run %s", self.run_id)
        sys.stderr.write(f"error: interrupted by {signal.Signals(signum).name}: the run was ended KILLED\n")
        sys.stderr.flush()
        os._exit(128 + signum)


_active: _Signals | None = None


@contextmanager
def training_run(client, experiment_id: str, run_name: str | None, cfg: dict[str, Any]) -> Iterator[Any]:  # noqa: ANN001
    """``mlflow.start_run`` with process tags and the config artifact, stale runs failed first, and
    SIGTERM/SIGINT raising :class:`Interrupted` inside the block (main thread only; see
    :class:`_Signals`). A signal deferred by :func:`register_last` is raised after the run has ended."""
    global _active  # noqa: PLW0603 - one training run per process at a time; restored on exit
    import mlflow

    marked = fail_stale_runs(client, [experiment_id])
    if marked:
        logger.info("marked %d stale RUNNING run(s) FAILED: %s", len(marked), ", ".join(marked))
    sigs = _Signals(client)
    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGINT):
            saved[s] = signal.signal(s, sigs.handler)
    outer, _active = _active, sigs
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=process_tags()) as run:
            sigs.run_id = run.info.run_id
            try:
                mlflow.log_dict(cfg, "config.yaml")
                yield run
            except (Interrupted, KeyboardInterrupt) as exc:
                mlflow.end_run(status=end_status(exc))
                raise
    finally:
        sigs.caught = True  # stop the watchdog: the block is over either way
        _active = outer
        for s, h in saved.items():
            signal.signal(s, h)
    if sigs.pending is not None:
        raise Interrupted(sigs.pending, completed=True)


def register_last(
    client,  # noqa: ANN001
    name: str,
    model_uri: str,
    *,
    artifact_sha256: str,
    by: str | None = None,
) -> tuple[str, bool]:
    """Register ``model_uri`` (see :func:`training.registry.register_version`) with SIGTERM/SIGINT
    deferred from here to the end of the run, so a version is never left behind a killed run.
    ``by`` (default :func:`actor`) is who the alias history names if it becomes the champion."""
    from training.registry import register_version

    if _active is not None:
        _active.deferred = True
    return register_version(client, name, model_uri, artifact_sha256=artifact_sha256, by=by or actor())
