"""Persistent trend state: SQLAlchemy tables (prefix ``trend_``) and :class:`TrendState`.

The state is what incremental detection needs to continue where it stopped, and what the
service reads: processed windows (with a deterministic sample of their vectors as history and
the latest fitted window models for ``assign``), trends with their last centroid, one
observation per trend per window (the contract fields), and merge/split events.

``TrendState.in_memory()`` is the same code on an in-memory SQLite database, so a batch run and
an incremental run over a file database go through exactly the same steps.

**Generations.** Every change of the state (a window added, a reset, the config stored) bumps the
one-row table ``trend_version`` in the same transaction, as a compare-and-swap on the generation
the writer loaded: a writer whose state was changed by another process meanwhile gets a
:class:`StateError` instead of overwriting it. :meth:`TrendState.batch` groups many changes (a reset
and the windows of a re-run) into one transaction, so readers see the old state or the new one,
never a mixture. Readers compare :func:`read_generation` (one primary-key read) with the generation
they loaded and reload when it moved (:meth:`TrendState.refresh`); multi-statement reads go through
:func:`consistent_read`, which repeats a read that a commit landed in the middle of.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from trendml.errors import StateError
from trendml.store.base import Base, make_engine, make_sessionmaker
from trendml.trends.clustering import WindowModel
from trendml.trends.record import TrendSnapshot
from trendml.utc import aware as _aware
from trendml.utc import naive as _naive

logger = logging.getLogger(__name__)


class TrendMeta(Base):
    __tablename__ = "trend_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TrendWindow(Base):
    __tablename__ = "trend_windows"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start: Mapped[datetime] = mapped_column(DateTime, index=True, unique=True)
    end: Mapped[datetime] = mapped_column(DateTime)
    n_items: Mapped[int] = mapped_column(Integer)
    n_trends: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    us_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    region_counts: Mapped[str] = mapped_column(Text, default="{}")
    history: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    history_n: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    label_map: Mapped[str | None] = mapped_column(Text, nullable=True)
    detected_at: Mapped[datetime] = mapped_column(DateTime)


class TrendRow(Base):
    __tablename__ = "trend_trends"
    trend_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer, index=True)
    first_start: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_start: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    emerging: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    ever_emerging: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    merged_into: Mapped[str | None] = mapped_column(String(64), nullable=True)
    n_windows: Mapped[int] = mapped_column(Integer, default=0)
    total_size: Mapped[int] = mapped_column(Integer, default=0)
    last_size: Mapped[int] = mapped_column(Integer, default=0)
    emergence_score: Mapped[float] = mapped_column(Float, default=0.0)
    us_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    us_lift: Mapped[float | None] = mapped_column(Float, nullable=True)
    keywords: Mapped[str] = mapped_column(Text, default="[]")
    centroid: Mapped[bytes] = mapped_column(LargeBinary)


class TrendObservation(Base):
    __tablename__ = "trend_observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trend_id: Mapped[str] = mapped_column(ForeignKey("trend_trends.trend_id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(ForeignKey("trend_windows.seq", ondelete="CASCADE"), index=True)
    window_start: Mapped[datetime] = mapped_column(DateTime, index=True)
    size: Mapped[int] = mapped_column(Integer)
    n_window: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    emerging: Mapped[bool] = mapped_column(Boolean)
    us_specific: Mapped[bool] = mapped_column(Boolean, default=False)
    emergence_score: Mapped[float] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)  # the contract dict of this trend in this window (JSON)


class TrendEvent(Base):
    __tablename__ = "trend_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(ForeignKey("trend_windows.seq", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "split" | "merge"
    trend_id: Mapped[str] = mapped_column(String(64), index=True)
    other_id: Mapped[str] = mapped_column(String(64))


class TrendVersion(Base):
    """One row (``id = 1``): the generation of the trend state, bumped by every change."""

    __tablename__ = "trend_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class TrendRetired(Base):
    """A trend deleted by a reset that did not come back in the re-run: its member ids as of the
    reset, so analyst decisions on it stay exportable (and listable) instead of orphaned."""

    __tablename__ = "trend_retired"
    trend_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    retired_at: Mapped[datetime] = mapped_column(DateTime)
    generation: Mapped[int] = mapped_column(Integer)
    member_ids: Mapped[str] = mapped_column(Text, default="[]")


TABLES = [
    TrendVersion.__table__,
    TrendRetired.__table__,
    TrendMeta.__table__,
    TrendWindow.__table__,
    TrendRow.__table__,
    TrendObservation.__table__,
    TrendEvent.__table__,
]


def _pack(ids: list[str], vectors: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, ids=np.asarray(ids, dtype=object).astype(str), vectors=vectors.astype(np.float16))
    return buf.getvalue()


def _unpack(blob: bytes) -> tuple[list[str], np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return [str(i) for i in npz["ids"]], npz["vectors"].astype(np.float32)


T = TypeVar("T")
READ_ATTEMPTS = 20


_GENERATION = select(TrendVersion.__table__.c.generation).where(TrendVersion.__table__.c.id == 1)


def read_generation(source: Engine | Session) -> int:
    """The stored generation of the trend state (0 before the first change): one primary-key read."""
    stmt = _GENERATION
    if isinstance(source, Session):
        value = source.execute(stmt).scalar()
    else:
        with source.connect() as conn:
            value = conn.execute(stmt).scalar()
    return int(value or 0)


def consistent_read(engine: Engine, read: Callable[[], T], *, attempts: int = READ_ATTEMPTS) -> tuple[T, int]:
    """Run ``read()`` (any number of statements) so that it sees one generation of the trend state:
    the generation is read before and after, and the read is repeated when a change was committed
    in between. Returns ``(result, generation)``; :class:`StateError` if the state kept changing."""
    for _ in range(attempts):
        before = read_generation(engine)
        out = read()
        if read_generation(engine) == before:
            return out, before
    raise StateError(
        f"the trend state kept changing during {attempts} reads; expected it to settle; retry shortly"
    )


@dataclass
class WindowRecord:
    """A processed window as the detector needs it (history sample decoded, model loaded lazily)."""

    seq: int
    start: datetime
    end: datetime
    n_items: int
    history_ids: list[str] = field(default_factory=list)
    history: np.ndarray | None = None
    model: WindowModel | None = None
    has_model: bool = False
    label_map: dict[int, str] = field(default_factory=dict)


@dataclass
class TrendRecord:
    """A trend as the tracker needs it: last centroid and its sizes per window seq."""

    trend_id: str
    first_seq: int
    last_seq: int
    first_start: datetime
    centroid: np.ndarray
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # seq -> (size, n_window)
    parent_id: str | None = None
    merged_into: str | None = None
    ever_emerging: bool = False


class TrendState:
    """Trend state on a SQLAlchemy engine (SQLite file by default, in-memory for tests).

    Keeps what the next window needs in memory and writes each window in one transaction.
    """

    def __init__(self, engine: Engine, *, url: str = "") -> None:
        self.engine = engine
        self.url = url or str(engine.url)
        Base.metadata.create_all(engine, tables=TABLES)
        self._session = make_sessionmaker(engine)
        self._ensure_version_row()
        self._pending: list[Callable[[Session], None]] | None = None
        self._reset_from: dict[str, str] | None = None
        self.generation = 0
        self._load()

    # Construction -----------------------------------------------------------------------
    @classmethod
    def in_memory(cls) -> TrendState:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        return cls(engine, url="sqlite://")

    @classmethod
    def open(cls, target: str | Path) -> TrendState:
        """Open (creating if needed) the state at a SQLAlchemy URL or a SQLite file path."""
        text = str(target)
        url = text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"
        try:
            return cls(make_engine(url), url=url)
        except StateError:
            raise
        except Exception as exc:
            raise StateError(
                f"trend state at {text} cannot be opened ({type(exc).__name__}: {str(exc)[:120]}); "
                "expected a SQLite file or database URL; pass another --state path or --no-state"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_version_row(self) -> None:
        try:
            with self._session.begin() as s:
                if s.get(TrendVersion, 1) is None:
                    s.add(TrendVersion(id=1, generation=0, changed_at=None))
        except IntegrityError:  # another process created it first
            pass

    # Loading ----------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload when another process changed the state since it was loaded; True if it did."""
        if self._pending is not None:
            raise StateError("refresh() inside batch(); expected it outside; finish the batch first")
        if read_generation(self.engine) == self.generation:
            return False
        self._load()
        return True

    def _load(self) -> None:
        try:
            loaded, generation = consistent_read(self.engine, self._read_all)
        except StateError:
            raise
        except Exception as exc:
            raise StateError(
                f"trend state at {self.url} is unreadable ({type(exc).__name__}); expected tables written by "
                "trendml; pass another --state path, or --no-state"
            ) from None
        self.meta, self.windows, self.trends, self.emerging, self._model_blobs = loaded
        self.generation = generation

    def _read_all(self) -> tuple:
        meta: dict[str, Any] = {}
        windows: list[WindowRecord] = []
        trends: dict[str, TrendRecord] = {}
        emerging: dict[str, bool] = {}
        blobs: dict[int, bytes] = {}
        with self._session() as s:
            for row in s.scalars(select(TrendMeta)):
                meta[row.key] = json.loads(row.value)
            for w in s.scalars(select(TrendWindow).order_by(TrendWindow.seq)):
                rec = WindowRecord(
                    seq=w.seq,
                    start=_aware(w.start),
                    end=_aware(w.end),
                    n_items=w.n_items,
                    has_model=w.model is not None,
                    label_map={int(k): v for k, v in json.loads(w.label_map or "{}").items()},
                )
                if w.history is not None:
                    rec.history_ids, rec.history = _unpack(w.history)
                if w.model is not None:  # kept, so that assign never reads a row a writer replaced
                    blobs[w.seq] = w.model
                windows.append(rec)
            for t in s.scalars(select(TrendRow)):
                emerging[t.trend_id] = bool(t.emerging)
                trends[t.trend_id] = TrendRecord(
                    trend_id=t.trend_id,
                    first_seq=t.first_seq,
                    last_seq=t.last_seq,
                    first_start=_aware(t.first_start),
                    centroid=np.frombuffer(t.centroid, dtype=np.float32).copy(),
                    parent_id=t.parent_id,
                    merged_into=t.merged_into,
                    ever_emerging=t.ever_emerging,
                )
            for seq, tid, size, n_window in s.execute(
                select(
                    TrendObservation.seq,
                    TrendObservation.trend_id,
                    TrendObservation.size,
                    TrendObservation.n_window,
                )
            ):
                if tid in trends:  # a row missing here means a commit landed mid-read (re-read)
                    trends[tid].sizes[seq] = (size, n_window)
        return meta, windows, trends, emerging, blobs

    # Accessors --------------------------------------------------------------------------
    @property
    def last_start(self) -> datetime | None:
        return self.windows[-1].start if self.windows else None

    @property
    def next_seq(self) -> int:
        return self.windows[-1].seq + 1 if self.windows else 0

    def model_window(self) -> WindowRecord | None:
        """The latest window with a fitted model (its model loaded), or ``None``."""
        for rec in reversed(self.windows):
            if rec.has_model:
                if rec.model is None:
                    blob = self._model_blobs.get(rec.seq)
                    if blob is None:
                        raise StateError(
                            f"trend state at {self.url}: the model of window {rec.seq} is not loaded; "
                            "expected it with the state; reload the state"
                        )
                    rec.model = WindowModel.from_bytes(blob)
                return rec
        return None

    def check_config(self, config: dict[str, Any]) -> None:
        """Store the detector config on first use; refuse a different one later."""
        if not self.meta.get("config"):
            self.meta["config"] = config
            value = json.dumps(config, sort_keys=True)
            self._write(lambda s: s.merge(TrendMeta(key="config", value=value)))
            return
        old = self.meta["config"]
        diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        if diff:
            k = diff[0]
            raise StateError(
                f"trend state at {self.url} was built with {k}={old.get(k)!r}, "
                f"this run uses {config.get(k)!r}; "
                "expected the same settings; use the same options, another --state path, or --no-state"
            )

    def memberships(self) -> dict[str, str]:
        """Item id -> trend id over every stored observation: what a restarted detection passes as
        ``previous_ids`` so that trends keep their ids (and the analysts' feedback on them)."""
        out: dict[str, str] = {}
        with self._session() as s:
            rows = s.execute(
                select(TrendObservation.trend_id, TrendObservation.payload).order_by(TrendObservation.seq)
            )
            for trend_id, payload in rows:
                for item_id in TrendSnapshot.from_payload(json.loads(payload)).member_ids:
                    out[item_id] = str(trend_id)
        return out

    @property
    def retired_ids(self) -> frozenset[str]:
        """Ids of trends deleted by :meth:`reset`: never given to a new group again."""
        return frozenset(self.meta.get("retired_ids", []))

    def reset(self) -> None:
        """Delete every trend table row (the rest of the database is untouched). The deleted trends'
        ids stay reserved (:attr:`retired_ids`), so feedback stored against an id can never end up on
        a different group after a re-run; a re-run passing ``previous_ids`` gives them back to the
        groups that keep most of their items."""
        keep = sorted(self.retired_ids | set(self.trends))

        def write(s: Session) -> None:
            for table in (TrendEvent, TrendObservation, TrendRow, TrendWindow, TrendMeta):
                s.execute(delete(table))
            if keep:
                s.add(TrendMeta(key="retired_ids", value=json.dumps(keep)))

        if self._pending is not None and self._reset_from is None:
            self._reset_from = self.memberships()  # what retired trends held, for the retired list
        self._write(write)
        self.meta = {"retired_ids": keep} if keep else {}
        self.windows, self.trends, self.emerging, self._model_blobs = [], {}, {}, {}

    # Transactions -----------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[TrendState]:
        """Group every change made inside into ONE transaction, committed at the end (nothing is
        written when the block raises). Readers in other processes see the state as it was before
        the block until the commit, then the whole result: a reset and the re-run that follows it
        are never visible half-done. Trends a reset deleted that the re-run did not bring back are
        recorded in ``trend_retired`` with their members (analyst decisions on them stay exportable)."""
        if self._pending is not None:
            raise StateError("batch() inside batch(); expected one level; finish the outer batch first")
        self._pending = []
        self._reset_from = None
        try:
            yield self
            ops = self._pending
            retired = self._retired_members()
            if retired:
                ops = [*ops, self._record_retired(retired)]
        except BaseException:
            self._pending = None
            self._reset_from = None
            self._load()  # the memory copy went ahead of the database: back to what is stored
            raise
        self._pending = None
        self._reset_from = None
        if ops:
            self._commit(ops)

    def _retired_members(self) -> dict[str, list[str]]:
        if self._reset_from is None:
            return {}
        out: dict[str, list[str]] = {}
        for item_id, tid in self._reset_from.items():
            if tid not in self.trends:
                out.setdefault(tid, []).append(item_id)
        return out

    def _record_retired(self, retired: dict[str, list[str]]) -> Callable[[Session], None]:
        now = datetime.now(UTC).replace(tzinfo=None)
        generation = self.generation + 1

        def write(s: Session) -> None:
            for tid, members in retired.items():
                s.merge(
                    TrendRetired(
                        trend_id=tid, retired_at=now, generation=generation, member_ids=json.dumps(members)
                    )
                )

        return write

    def also_write(self, op: Callable[[Session], None]) -> None:
        """Add a write of another table set (the alert outbox) to this state's transaction: inside
        :meth:`batch` it commits with the run's windows, or not at all."""
        self._write(op)

    def _write(self, op: Callable[[Session], None]) -> None:
        if self._pending is not None:
            self._pending.append(op)
        else:
            self._commit([op])

    def _commit(self, ops: list[Callable[[Session], None]]) -> None:
        """Bump the generation (compare-and-swap on the loaded one) and apply ``ops``, in one transaction."""
        expected = self.generation
        with self._session() as s:
            done = s.execute(
                update(TrendVersion)
                .where(TrendVersion.id == 1, TrendVersion.generation == expected)
                .values(generation=expected + 1, changed_at=datetime.now(UTC).replace(tzinfo=None))
                .execution_options(synchronize_session=False)
            ).rowcount
            if done == 1:
                for op in ops:
                    op(s)
                s.commit()
            else:
                s.rollback()
        if done != 1:
            self._load()
            raise StateError(
                f"the trend state at {self.url} was changed by another process (now generation "
                f"{self.generation}; this run started from {expected}); expected no other writer meanwhile; "
                "run it again"
            )
        self.generation = expected + 1

    # Writing ----------------------------------------------------------------------------
    def add_window(
        self,
        *,
        record: WindowRecord,
        note: str | None,
        us_share: float | None,
        region_counts: dict[str, int],
        observations: list[TrendSnapshot],
        trend_updates: dict[str, TrendRecord],
        events: list[tuple[str, str, str]],
        keep_history: int,
        keep_models: int = 2,
    ) -> None:
        """Write one processed window, its observations, trends and events in one transaction."""
        now = datetime.now(UTC).replace(tzinfo=None)
        history_blob = _pack(record.history_ids, record.history) if record.history is not None else None
        model_blob = record.model.to_bytes() if record.model is not None else None
        # what a later run will read back from the database: keep exactly that in memory too
        if history_blob is not None:
            record.history_ids, record.history = _unpack(history_blob)
        if model_blob is not None:
            record.model = WindowModel.from_bytes(model_blob)
            record.has_model = True
        old_hist = [w.seq for w in self.windows[: max(0, len(self.windows) + 1 - keep_history)]]
        model_seqs = [w.seq for w in self.windows if w.has_model] + ([record.seq] if model_blob else [])
        stale = model_seqs[: max(0, len(model_seqs) - keep_models)]

        def write(s: Session) -> None:
            s.add(
                TrendWindow(
                    seq=record.seq,
                    start=_naive(record.start),
                    end=_naive(record.end),
                    n_items=record.n_items,
                    n_trends=len(observations),
                    note=note,
                    us_share=us_share,
                    region_counts=json.dumps(region_counts, sort_keys=True),
                    history=history_blob,
                    history_n=len(record.history_ids),
                    model=model_blob,
                    label_map=json.dumps({str(k): v for k, v in record.label_map.items()}),
                    detected_at=now,
                )
            )
            for tid, tr in trend_updates.items():
                obs = next((o for o in observations if o.trend_id == tid), None)
                row = s.get(TrendRow, tid)
                if row is None:
                    row = TrendRow(
                        trend_id=tid,
                        first_seq=tr.first_seq,
                        first_start=_naive(tr.first_start),
                        n_windows=0,
                        total_size=0,
                    )
                    s.add(row)
                row.last_seq = tr.last_seq
                row.parent_id = tr.parent_id
                row.merged_into = tr.merged_into
                row.ever_emerging = tr.ever_emerging
                row.centroid = np.asarray(tr.centroid, dtype=np.float32).tobytes()
                if obs is not None:
                    row.last_start = _naive(record.start)
                    row.status = obs.status.value
                    row.emerging = obs.emerging
                    row.n_windows = (row.n_windows or 0) + 1
                    row.total_size = (row.total_size or 0) + obs.size
                    row.last_size = obs.size
                    row.emergence_score = float(obs.emergence_score)
                    row.us_share = obs.us_share
                    row.us_lift = obs.us_lift
                    row.keywords = json.dumps(list(obs.keywords))
                elif row.status is None:  # pragma: no cover - defensive
                    row.status = "stable"
            s.flush()
            for obs in observations:
                s.add(
                    TrendObservation(
                        trend_id=obs.trend_id,
                        seq=record.seq,
                        window_start=_naive(record.start),
                        size=obs.size,
                        n_window=record.n_items,
                        status=obs.status.value,
                        emerging=obs.emerging,
                        us_specific=obs.us_specific,
                        emergence_score=float(obs.emergence_score),
                        payload=json.dumps(obs.to_payload()),
                    )
                )
            for kind, tid, other in events:
                s.add(TrendEvent(seq=record.seq, kind=kind, trend_id=tid, other_id=other))
            # prune blobs nobody will read again
            if old_hist:
                for row in s.scalars(
                    select(TrendWindow).where(TrendWindow.seq.in_(old_hist), TrendWindow.history.is_not(None))
                ):
                    row.history = None
            if stale:
                for row in s.scalars(
                    select(TrendWindow).where(TrendWindow.seq.in_(stale), TrendWindow.model.is_not(None))
                ):
                    row.model = None

        self._write(write)
        self.windows.append(record)
        if model_blob is not None:
            self._model_blobs[record.seq] = model_blob
        for seq in stale:
            self._model_blobs.pop(seq, None)
        for obs in observations:
            self.emerging[obs.trend_id] = obs.emerging
        for w in self.windows[: max(0, len(self.windows) - keep_history)]:
            w.history, w.history_ids = None, []
        for w in self.windows:
            if w.seq in stale:
                w.model, w.has_model = None, False
        self.trends.update(trend_updates)
