"""The Ray engine of ``trendml score`` / ``trendml embed``: Ray Data ``map_batches`` over an actor pool.

Why a shell package (``batch/``) and not ``trendml/``: connecting to a Ray cluster is network I/O and
``ray.init`` is process-global state, both of which the library does not do. This module is the thin
part that knows Ray; the work each actor does is the library's (:func:`trendml.severity.score_items`,
the configured embedder), so the Ray path computes exactly what the local path computes.

How a run goes:

* the driver reads and validates the items (same errors, rejects and order as ``--engine local``) and,
  for scoring, resolves and loads the model once, so every actor scores with the same version even if
  the ``champion`` alias moves during the run;
* the rows ``(position, id, content)`` go into a Ray Dataset of blocks of ``block_rows`` rows;
* ``map_batches`` runs a pool of ``actors`` actors (one CPU each); each actor builds the embedder and
  receives the model once, in its constructor, then handles batches of ``batch_size`` rows;
* the driver streams the results back, puts them in input order by position, and the CLI writes
  them to a temporary file renamed into place only when everything succeeded.

Faults: an actor process that dies (a crash, the OOM killer, a lost node) is restarted and its batch
retried, at most ``TRENDML_RAY_MAX_RESTARTS`` times each (restarts per actor, retries per batch;
default ``MAX_RESTARTS`` = 3; Ray Data's default is forever, which
turns a batch that always kills its worker into a run that never ends); past that the run fails with
one line (:class:`RayRunError`, exit 1) and no output is written. ``TRENDML_RAY_TEST_CRASH``
(``once@N`` / ``always@N``) makes an actor ``os._exit`` on its batch ``N`` (0-based) -- ``once``: not
again after Ray restarted it -- so the tests can kill a real worker mid-run; it is read by the driver,
honoured only in an actor process, and is not for production.

Ray is imported only here, and only when ``--engine ray`` is chosen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trendml.errors import InputError, TrendmlError

if TYPE_CHECKING:
    from trendml.config import Settings
    from trendml.items import Item
    from trendml.severity import SeverityModel

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 256
DEFAULT_BLOCK_ROWS = 2048
#: default restarts per actor, and retries per batch whose actor died (``TRENDML_RAY_MAX_RESTARTS``)
MAX_RESTARTS = 3
CRASH_ENV = "TRENDML_RAY_TEST_CRASH"
RESTARTS_ENV = "TRENDML_RAY_MAX_RESTARTS"


def _max_restarts() -> int:
    """``TRENDML_RAY_MAX_RESTARTS`` (restarts per actor and retries per batch), default 3."""
    spec = os.environ.get(RESTARTS_ENV, "").strip()
    if not spec:
        return MAX_RESTARTS
    if not spec.isdigit():
        raise InputError(
            f"{RESTARTS_ENV}={spec!r} is not a whole number; expected 0 or more (default "
            f"{MAX_RESTARTS}); set it to a number or unset it"
        )
    return int(spec)


class RayRunError(TrendmlError):
    """The Ray run failed (workers died past their restarts, or a batch raised); nothing was written."""

    exit_code = 1


def _require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(
            "--engine ray needs Ray, which is not installed; expected ray[data]==2.60.0; "
            "run pip install 'trendml[ray]' (or use --engine local)"
        ) from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when ``HOST:PORT`` (or ``ray://HOST:PORT``) does not answer TCP."""
    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise InputError(
            f"--ray-address {address!r} is not HOST:PORT; expected e.g. 10.0.0.5:6379 (the head's GCS "
            "address that `ray start --head` prints) or 'auto'; fix --ray-address"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(
            f"--ray-address {address}: no Ray head answers there ({exc.strerror or type(exc).__name__}); "
            "expected a running cluster (`ray start --head` on the head node); start it or fix the address"
        ) from None


@dataclass
class RayContext:
    """A connection to Ray that this process opened (``shutdown`` undoes only what it did)."""

    owned: bool

    def shutdown(self) -> None:
        if self.owned:
            import ray

            ray.shutdown()


def connect(address: str | None = None, *, num_cpus: int | None = None) -> RayContext:
    """Connect to the cluster at ``address`` or, without one, start a local Ray (``num_cpus`` CPUs).

    Reuses a connection that is already up (e.g. a test's module-scoped ``ray.init``)."""
    ray = _require_ray()
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return RayContext(owned=False)
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise InputError(
            f"could not start or join {where} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "expected a running cluster or a machine where Ray can start; fix --ray-address"
        ) from None
    return RayContext(owned=True)


def _pool_size(actors: int | None) -> int:
    import ray

    if actors:
        return max(1, actors)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _dataset(items: Sequence[Item], block_rows: int, pool: int) -> Any:
    """Blocks of at most ``block_rows`` rows, and at least two per actor so every actor gets work.

    Within a block the rows go shortest content first, so each of an actor's batches holds texts of
    similar length and the model pads little: the local path hands all texts to one ``encode``,
    which sorts them all by length; batches of 256 in input order padded to their longest text
    (100k items: Ray 0.79x local before). The driver puts the results back in input order
    (:func:`_in_order`), holding back at most about a block."""
    import pyarrow as pa
    import ray.data

    block_rows = max(1, min(block_rows, -(-len(items) // (2 * pool))))
    tables = []
    for start in range(0, len(items), block_rows):
        chunk = items[start : start + block_rows]
        order = sorted(range(len(chunk)), key=lambda k: len(chunk[k].content))
        tables.append(
            pa.table(
                {
                    "i": pa.array([start + k for k in order], type=pa.int64()),
                    "id": pa.array([chunk[k].id for k in order], type=pa.string()),
                    "content": pa.array([chunk[k].content for k in order], type=pa.string()),
                }
            )
        )
    return ray.data.from_arrow(tables)


def _crash_plan() -> dict[str, Any] | None:
    """The fault the tests ask for (``TRENDML_RAY_TEST_CRASH=once@N|always@N``), read on the driver."""
    spec = os.environ.get(CRASH_ENV, "").strip()
    if not spec:
        return None
    mode, _, at = spec.partition("@")
    if mode not in ("once", "always") or not at.isdigit():
        raise InputError(f"{CRASH_ENV}={spec!r} is not understood; expected once@N or always@N; unset it")
    return {"mode": mode, "at": int(at), "driver_pid": os.getpid()}


class _Faults:
    """Counts an actor's batches and, when the tests ask for it, ends the actor's process."""

    def __init__(self, plan: dict[str, Any] | None) -> None:
        self.plan, self.batches = plan, 0

    def tick(self) -> None:
        plan, k = self.plan, self.batches
        self.batches += 1
        if plan is None or k != plan["at"] or os.getpid() == plan["driver_pid"]:
            return  # never in the driver's own process
        if plan["mode"] == "once":
            import ray

            if ray.get_runtime_context().was_current_actor_reconstructed:
                return
        logger.warning("%s: this actor exits on its batch %d", CRASH_ENV, k)
        os._exit(1)


@dataclass(frozen=True)
class _Row:
    """What scoring reads from an item: its id and its normalised content."""

    id: str
    content: str


class _Scorer:
    """One actor: builds the embedder once and keeps the model it is given; scores batches."""

    def __init__(
        self,
        settings: Settings,
        model: SeverityModel,
        name: str,
        version: str,
        crash: dict[str, Any] | None = None,
    ) -> None:
        from trendml.embed import embedder_from_settings

        self.embedder = embedder_from_settings(settings)
        model.check_embedder(self.embedder)
        self.model, self.name, self.version = model, name, version
        self.faults = _Faults(crash)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from trendml.severity import score_items

        self.faults.tick()

        rows = [_Row(str(i), str(c)) for i, c in zip(batch["id"], batch["content"], strict=True)]
        scores = score_items(
            self.model, rows, self.embedder, model_name=self.name, model_version=self.version
        )
        lines = np.array([json.dumps(s) for s in scores], dtype=object)
        return {"i": batch["i"], "line": lines}


class _Embedder:
    """One actor: builds the embedder once; embeds batches."""

    def __init__(self, settings: Settings, cache: bool, crash: dict[str, Any] | None = None) -> None:
        from trendml.embed import embedder_from_settings

        self.embedder = embedder_from_settings(settings, cache=cache)
        self.faults = _Faults(crash)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.faults.tick()
        vectors = self.embedder.encode([str(c) for c in batch["content"]])
        return {"i": batch["i"], "vector": np.asarray(vectors, dtype=np.float32)}


def _in_order(ds: Any, n: int, column: str) -> Iterator[Any]:
    """``column``'s values in input order: batches may finish out of order, so hold the early ones."""
    pending: dict[int, Any] = {}
    nxt = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        idx = batch["i"]
        if len(idx) == 0:
            continue
        if not np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            order = np.argsort(idx, kind="stable")
            for j in order:  # a batch that is not one run: take its rows one by one
                pending[int(idx[j])] = batch[column][j : j + 1]
        else:
            pending[int(idx[0])] = batch[column]
        while nxt in pending:
            part = pending.pop(nxt)
            nxt += len(part)
            yield from part
    if nxt != n or pending:
        raise RuntimeError(f"the Ray run returned {nxt} of {n} rows in order; the output was not written")


def _map(
    items: Sequence[Item],
    block_rows: int,
    actor: type,
    kwargs: dict[str, Any],
    actors: int | None,
    batch_size: int,
):  # noqa: ANN202
    import ray.data

    pool = _pool_size(actors)
    restarts = _max_restarts()
    ds = _dataset(items, block_rows, pool)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    with warnings.catch_warnings():
        # Ray 2.60 takes max_restarts / max_task_retries only as "ray_remote_args", which it flags as
        # deprecated (to be replaced by named parameters in 2.64); they are the documented way for now
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return ds.map_batches(
            actor,
            fn_constructor_kwargs=kwargs,
            compute=ray.data.ActorPoolStrategy(size=pool),
            batch_size=batch_size,
            batch_format="numpy",
            num_cpus=1,
            max_restarts=restarts,
            max_task_retries=restarts,
        )


class _NoErrorsOnConsole(logging.Filter):
    """Keeps Ray Data's error records (tracebacks) off the console; its log file still has them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def _run(rows: Iterator[Any]) -> Iterator[Any]:
    """``rows``, with a failure of the Ray run turned into one line (no output is written)."""
    from ray.data._internal.logging import get_log_directory
    from ray.exceptions import RayError

    console = [h for h in logging.getLogger("ray.data").handlers if "File" not in type(h).__name__]
    quiet = _NoErrorsOnConsole()
    for h in console:
        h.addFilter(quiet)
    try:
        yield from rows
    except RayError as exc:
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        logs = get_log_directory() or "/tmp/ray/session_latest/logs"
        raise RayRunError(
            f"the Ray run failed and no output was written ({type(exc).__name__}: {first[:200]}); "
            f"expected every batch to finish (a worker may die {MAX_RESTARTS} times: out of memory? a lost "
            f"node?); see the Ray Data log in {logs} and rerun"
        ) from None
    finally:
        for h in console:
            h.removeFilter(quiet)


def score_lines(
    items: Sequence[Item],
    model: SeverityModel,
    settings: Settings,
    *,
    name: str,
    version: str,
    actors: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> Iterator[str]:
    """One Score JSON line per item, in input order (the same contract as the local path)."""
    ds = _map(
        items,
        block_rows,
        _Scorer,
        {"settings": settings, "model": model, "name": name, "version": str(version), "crash": _crash_plan()},
        actors,
        batch_size,
    )
    yield from _run(_in_order(ds, len(items), "line"))


def embed_vectors(
    items: Sequence[Item],
    settings: Settings,
    *,
    cache: bool = True,
    actors: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> np.ndarray:
    """The items' vectors (float32, one row per item, in input order)."""
    kwargs = {"settings": settings, "cache": cache, "crash": _crash_plan()}
    ds = _map(items, block_rows, _Embedder, kwargs, actors, batch_size)
    rows = list(_run(_in_order(ds, len(items), "vector")))
    return np.stack(rows).astype(np.float32, copy=False)
