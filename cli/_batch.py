"""What ``trendml score`` and ``trendml embed`` share for batch runs: input from a file, directory or
glob (JSONL/CSV/Parquet), the ``--engine`` choice, and atomic output (temp file + rename)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cli._common import console
from trendml.config import Settings
from trendml.errors import InputError
from trendml.item_sources import expand_sources, read_item_sources
from trendml.items import ItemLimits, ReadResult, write_rejects

ENGINES = ("local", "ray")
ITEMS_HELP = "Items: a JSONL, CSV or Parquet file, a directory of them, or a quoted glob."
ENGINE_HELP = "local (this process, the default) or ray (Ray Data over an actor pool; see docs/scale.md)."
RAY_ADDRESS_HELP = "With --engine ray: the cluster's HOST:PORT (or 'auto'); without it a local Ray starts."
RAY_ACTORS_HELP = "With --engine ray: actors in the pool (default: one per CPU of the cluster)."


def check_engine(engine: str, ray_address: str | None) -> None:
    if engine not in ENGINES:
        raise InputError(
            f"--engine {engine!r} is not known; expected one of {', '.join(ENGINES)}; fix --engine"
        )
    if ray_address and engine != "ray":
        raise InputError(
            f"--ray-address {ray_address} was given with --engine {engine}; expected --engine ray with it; "
            "add --engine ray or drop --ray-address"
        )


def load_item_sources(spec: Path, *, skip_invalid: bool, rejects: Path | None, cfg: Settings) -> ReadResult:
    """Read the items ``spec`` names; with ``skip_invalid`` report the count and write the rejects file."""
    files = expand_sources(spec)
    result = read_item_sources(spec, skip_invalid=skip_invalid, limits=ItemLimits.from_settings(cfg))
    if result.rejects:
        if rejects is not None:
            target = rejects
        elif Path(spec).is_file():
            target = Path(spec).with_name(Path(spec).name + ".rejects.jsonl")
        elif Path(spec).is_dir():
            target = Path(spec).with_name(Path(spec).name + ".rejects.jsonl")
        else:
            target = files[0].with_name("rejects.jsonl")
        write_rejects(result.rejects, target)
        console.print(
            f"[yellow]skipped {len(result.rejects)} invalid records[/yellow] (written to {target})",
            highlight=False,
        )
    return result


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "w") -> Iterator[IO]:
    """A temp file beside ``path``, renamed onto it only if the block finishes: a failure (a Ray worker
    crash, Ctrl-C) leaves the old file, or none, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open(mode) as fh:
            yield fh
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
