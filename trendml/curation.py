"""Trend curation by analysts (issue 16; docs/trends.md, "Curation"): merge two trends, split one by
selected members, rename one. Every action is one row of ``trend_curation`` (who, when, what), kept
forever: the history. Each change goes through :class:`~trendml.trends.state.TrendState` in one
transaction that bumps the state's generation, so every reader (the service's assignment, the
dashboard, search) sees it at once, and a concurrent detection run gets a clean conflict instead of a
lost update.

- **merge** ``absorbed`` into ``survivor``: the absorbed trend ends (``merged_into``) and its id
  redirects to the survivor (API 307, dashboard 303, search's trend ids). The window models' cluster
  maps are rewritten so the absorbed trend's clusters carry the survivor's id: the next detection run
  maps the group's new items onto the survivor by member overlap (the tracker's own rule). Should
  both halves go on as separate clusters, the tracker's one-cluster-per-trend rule keeps the survivor
  on the stronger one and makes the other a split of it.
- **split** ``trend`` by ``member_ids``: the selected members move, in every window they were in, to
  a new trend ``<trend>-s<n>`` (parent: ``trend``) whose centroid is their mean vector, so the next
  run links its continuation by centroid similarity.
- **rename**: the title analysts see (API, dashboard, briefs keep the keywords).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import DateTime, Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import ConflictError, InputError
from trendml.store.base import Base

if TYPE_CHECKING:
    from trendml.trends.record import TrendTimeline, TrendView

logger = logging.getLogger(__name__)

ACTIONS = ("merge", "split", "rename")


class TrendCuration(Base):
    __tablename__ = "trend_curation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))
    trend_id: Mapped[str] = mapped_column(String(64), index=True)
    other_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    member_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    analyst: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "trend_id": self.trend_id,
            "other_id": self.other_id,
            "title": self.title,
            "n_members": len(json.loads(self.member_ids)) if self.member_ids else None,
            "analyst": self.analyst,
            "created_at": self.created_at.replace(tzinfo=UTC).isoformat(),
        }


TABLES = [TrendCuration.__table__]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _analyst(analyst: str) -> str:
    name = (analyst or "").strip()
    if not name:
        raise InputError("analyst is empty; expected the acting analyst's name", field="analyst")
    return name[:128]


def redirects(engine: Engine) -> dict[str, str]:
    """Merged trend id -> the trend it now lives on (chains followed)."""
    with Session(engine) as s:
        pairs = dict(
            s.execute(
                select(TrendCuration.trend_id, TrendCuration.other_id)
                .where(TrendCuration.action == "merge")
                .order_by(TrendCuration.id)
            ).all()
        )
    out: dict[str, str] = {}
    for a in pairs:
        b, seen = pairs[a], {a}
        while b in pairs and b not in seen:
            seen.add(b)
            b = pairs[b]
        out[a] = b
    return out


def resolve(engine: Engine, trend_id: str) -> str:
    return redirects(engine).get(trend_id, trend_id)


def titles(engine: Engine) -> dict[str, str]:
    """Trend id -> the latest title an analyst gave it."""
    with Session(engine) as s:
        rows = s.execute(
            select(TrendCuration.trend_id, TrendCuration.title)
            .where(TrendCuration.action == "rename")
            .order_by(TrendCuration.id)
        ).all()
    return {t: title for t, title in rows if title}


def history(engine: Engine, trend_id: str) -> list[dict[str, Any]]:
    """Every curation action on a trend (as subject or as the other side), oldest first."""
    with Session(engine) as s:
        rows = s.scalars(
            select(TrendCuration)
            .where((TrendCuration.trend_id == trend_id) | (TrendCuration.other_id == trend_id))
            .order_by(TrendCuration.id)
        )
        return [r.to_dict() for r in rows]


def _state(engine: Engine, *ids: str) -> Any:
    from trendml.trends import TrendState

    state = TrendState(engine)
    gone = redirects(engine)
    for tid in ids:
        if tid not in state.trends:
            raise InputError(
                f'trend "{tid[:80]}" does not exist; expected an id from GET /v1/trends', field="trend_id"
            )
        if tid in gone:
            raise ConflictError(f'trend "{tid}" was merged into "{gone[tid]}"; act on "{gone[tid]}" instead')
    return state


def merge(engine: Engine, absorbed: str, survivor: str, analyst: str) -> dict[str, Any]:
    """Merge ``absorbed`` into ``survivor`` (see the module docstring); returns the history row."""
    from trendml.trends.state import TrendEvent, TrendRow, TrendWindow

    who = _analyst(analyst)
    if absorbed == survivor:
        raise InputError(f'into is "{survivor}", the trend itself; expected another trend id', field="into")
    state = _state(engine, absorbed, survivor)
    last_seq = state.windows[-1].seq if state.windows else None
    row = TrendCuration(action="merge", trend_id=absorbed, other_id=survivor, analyst=who, created_at=_now())

    def write(s: Session) -> None:
        gone = s.get(TrendRow, absorbed)
        gone.merged_into = survivor
        for w in s.scalars(select(TrendWindow).where(TrendWindow.label_map.is_not(None))):
            lm = json.loads(w.label_map or "{}")
            if absorbed in lm.values():
                w.label_map = json.dumps({k: (survivor if v == absorbed else v) for k, v in lm.items()})
        if last_seq is not None:
            s.add(TrendEvent(seq=last_seq, kind="merge", trend_id=absorbed, other_id=survivor))
        s.add(row)

    with state.batch():
        state.also_write(write)
    logger.info("trend %s merged into %s by %s", absorbed, survivor, who)
    return row.to_dict()


def rename(engine: Engine, trend_id: str, title: str, analyst: str) -> dict[str, Any]:
    who = _analyst(analyst)
    title = " ".join((title or "").split())
    if not title or len(title) > 200:
        raise InputError("title is empty or longer than 200 characters; expected 1..200", field="title")
    state = _state(engine, trend_id)
    row = TrendCuration(action="rename", trend_id=trend_id, title=title, analyst=who, created_at=_now())
    with state.batch():
        state.also_write(lambda s: s.add(row))
    return row.to_dict()


def split(
    engine: Engine,
    trend_id: str,
    member_ids: Sequence[str],
    analyst: str,
    *,
    title: str | None = None,
    vectors: Callable[[list[str]], np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """Move ``member_ids`` of ``trend_id`` to a new trend (see the module docstring)."""
    from trendml.trends.queries import trend_members
    from trendml.trends.record import TrendSnapshot
    from trendml.trends.state import TrendEvent, TrendObservation, TrendRow

    who = _analyst(analyst)
    state = _state(engine, trend_id)
    own = set(trend_members(engine, trend_id))
    chosen = [i for i in dict.fromkeys(str(m) for m in member_ids)]
    if not chosen or any(i not in own for i in chosen):
        bad = next((i for i in chosen if i not in own), None)
        what = (
            f'member_ids holds "{str(bad)[:60]}", not a member of {trend_id}'
            if bad
            else "member_ids is empty"
        )
        raise InputError(f"{what}; expected some (not all) of the trend's member ids", field="member_ids")
    if len(set(chosen)) >= len(own):
        raise InputError(
            "member_ids holds every member; expected some, not all (rename instead)", field="member_ids"
        )
    k = 1
    while f"{trend_id}-s{k}" in state.trends or f"{trend_id}-s{k}" in state.retired_ids:
        k += 1
    new_id = f"{trend_id}-s{k}"
    picked = set(chosen)
    vec = vectors(chosen) if vectors is not None else None
    parent = state.trends[trend_id]
    centroid = (
        np.asarray(vec, dtype=np.float32).mean(axis=0) if vec is not None and len(vec) else parent.centroid
    )
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    row = TrendCuration(
        action="split",
        trend_id=trend_id,
        other_id=new_id,
        title=title,
        member_ids=json.dumps(chosen),
        analyst=who,
        created_at=_now(),
    )

    def write(s: Session) -> None:
        prow = s.get(TrendRow, trend_id)
        moves: list[tuple[Any, dict[str, Any]]] = []
        for obs in s.scalars(
            select(TrendObservation)
            .where(TrendObservation.trend_id == trend_id)
            .order_by(TrendObservation.seq)
        ):
            snap = TrendSnapshot.from_payload(json.loads(obs.payload))
            moved = [i for i in snap.member_ids if i in picked]
            if not moved:
                continue
            keep = [i for i in snap.member_ids if i not in picked]
            p = snap.to_json()
            p.update(
                member_ids=keep,
                size=len(keep),
                representative_ids=[i for i in snap.representative_ids if i not in picked],
            )
            obs.payload, obs.size = json.dumps(p), len(keep)
            q = snap.to_json()
            q.update(
                trend_id=new_id,
                member_ids=moved,
                size=len(moved),
                parent_id=trend_id,
                status="new",
                emerging=False,
                title=title or snap.title,
                representative_ids=[i for i in snap.representative_ids if i in picked] or moved[:5],
            )
            moves.append((obs, q))
        first, last = moves[0][0], moves[-1][0]
        total = sum(len(q["member_ids"]) for _, q in moves)
        s.add(
            TrendRow(
                trend_id=new_id,
                first_seq=first.seq,
                last_seq=last.seq,
                first_start=first.window_start,
                last_start=last.window_start,
                status="new",
                emerging=False,
                ever_emerging=False,
                parent_id=trend_id,
                n_windows=len(moves),
                total_size=total,
                last_size=len(moves[-1][1]["member_ids"]),
                emergence_score=0.0,
                us_share=prow.us_share,
                us_lift=prow.us_lift,
                keywords=prow.keywords,
                centroid=np.asarray(centroid, dtype=np.float32).tobytes(),
            )
        )
        s.flush()
        for obs, q in moves:
            s.add(
                TrendObservation(
                    trend_id=new_id,
                    seq=obs.seq,
                    window_start=obs.window_start,
                    size=len(q["member_ids"]),
                    n_window=obs.n_window,
                    status="new",
                    emerging=False,
                    us_specific=False,
                    emergence_score=0.0,
                    payload=json.dumps(q),
                )
            )
        prow.total_size = max(0, (prow.total_size or 0) - total)
        s.add(TrendEvent(seq=last.seq, kind="split", trend_id=new_id, other_id=trend_id))
        s.add(row)

    with state.batch():
        state.also_write(write)
    logger.info("trend %s split: %d members to %s by %s", trend_id, len(chosen), new_id, who)
    return row.to_dict()


def curated_list(engine: Engine, trends: Sequence[TrendView]) -> list[TrendView]:
    """A trend list as analysts curated it: merged trends left out (they redirect), titles renamed."""
    gone, named = redirects(engine), titles(engine)
    if not gone and not named:
        return list(trends)
    return [
        replace(t, title=named.get(t.trend_id, t.title)) for t in trends if t.trend_id not in gone
    ]


def curated_trend(engine: Engine, timeline: TrendTimeline) -> dict[str, Any]:
    """One trend (``TrendTimeline.to_json()``) with its analyst title, the trends merged into it and
    its curation history."""
    named = titles(engine)
    tid = timeline.trend.trend_id
    merged_in = sorted(a for a, b in redirects(engine).items() if b == tid)
    return {
        **timeline.to_json(),
        "title": named.get(tid, timeline.trend.title),
        "merged_from": merged_in,
        "curation": history(engine, tid),
    }
