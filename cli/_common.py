"""Helpers shared by CLI commands: settings, reading items, building the embedder."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from trendml.config import Settings
from trendml.errors import InputError
from trendml.items import ItemLimits, ReadResult, read_items, write_rejects

if TYPE_CHECKING:
    from trendml.embed.base import Embedder

console = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def open_store(cfg: Settings | None = None):  # noqa: ANN201 - (Engine, sessionmaker)
    """The configured store with every table created: ``(engine, Session factory)``."""
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker

    cfg = cfg or settings()
    cfg.ensure_home()
    engine = make_engine(cfg.db_url)
    create_all(engine)
    return engine, make_sessionmaker(engine)


def load_items(
    path: Path,
    *,
    skip_invalid: bool,
    rejects: Path | None,
    cfg: Settings,
    require_created_at: bool = False,
) -> ReadResult:
    """Read items; with ``skip_invalid`` report the count and write the rejects file."""
    result = read_items(
        path,
        skip_invalid=skip_invalid,
        require_created_at=require_created_at,
        limits=ItemLimits.from_settings(cfg),
    )
    if result.rejects:
        target = rejects or path.with_name(path.name + ".rejects.jsonl")
        write_rejects(result.rejects, target)
        console.print(
            f"[yellow]skipped {len(result.rejects)} invalid records[/yellow] (written to {target})",
            highlight=False,
        )
    return result


def make_embedder(cfg: Settings, *, cache: bool = True) -> Embedder:
    """The configured embedder, wrapped in the content-hash cache under ``TRENDML_HOME``."""
    from trendml.embed import embedder_from_settings

    return embedder_from_settings(cfg, cache=cache)


def show_progress(n: int) -> bool:
    return n >= 1000 and sys.stderr.isatty()


def check_output_path(path: Path, option: str = "--output") -> None:
    """Refuse, before any work, an output path that cannot be written as a file."""
    if path.is_dir():
        raise InputError(
            f"{option} {path} is a directory; expected a file path; pass a file name such as {path / 'out'}"
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(
            f"{option} {path}: {parent} is not a directory; expected a writable folder; fix the path"
        )
    if not os.access(parent, os.W_OK):
        raise InputError(
            f"{option} {path}: {parent} is not writable; expected a writable folder; fix the path"
        )


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when ``host:port`` cannot be listened on (one line, exit 2), before any work."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InputError(
            f"--host {host} is not a known address; expected e.g. 127.0.0.1; fix --host"
        ) from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"port {port} on {host} is in use; expected a free port; "
                    "stop what listens there or pass --port N"
                ) from None
            raise InputError(
                f"cannot listen on {host}:{port} ({exc.strerror}); expected a local address and a free port; "
                "fix --host or --port"
            ) from None
