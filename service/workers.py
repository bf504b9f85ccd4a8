"""How many service worker processes to run (``TRENDML_WORKERS``); a module of its own so that the
benchmarks and the CLI can ask without importing BentoML."""

from __future__ import annotations

import os

#: ``auto`` runs one worker per CPU core available to the process, at most this many: each worker
#: holds its own copy of the models (~0.7 GB of RSS on 2026-12-01), so memory, not cores, bounds it
MAX_AUTO_WORKERS = 4


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask: a container's cpuset, ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(raw: str | None, cores: int | None = None) -> int:
    """``TRENDML_WORKERS`` -> a process count: ``auto`` or unset = one per core (1..MAX_AUTO_WORKERS),
    else the whole number given. Raises ``SystemExit`` with the fix for anything else."""
    value = (raw or "auto").strip().lower()
    if value == "auto":
        return max(1, min(cores if cores is not None else available_cores(), MAX_AUTO_WORKERS))
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise SystemExit(
            f"TRENDML_WORKERS={raw!r}; expected 'auto' (one per core) or a whole number >= 1; "
            "fix the value, or use auto"
        )
    return n
