"""QA sampling and second reviews: which scored items a human re-labels, and how often they agree.

Two tables on the shared ``Base`` (prefix ``qa_``):

- ``qa_samples``: one row per sampled item (the item id is the primary key, so running the
  sampler twice never samples an item twice), with the model's severity and version *at the
  time of sampling* — the score the reviewer is compared against, even if the item is re-scored
  later.
- ``qa_reviews``: one row per (item, reviewer). A reviewer who reviews the same item again
  replaces their earlier answer (a correction, not a second opinion).

Sampling is stratified by the model's severity: each stratum gets ``max(1, round(rate * n))``
sampled items, where ``n`` counts the scored items in the time range. Items sampled earlier count
towards that target, so re-running the sampler on the same items adds nothing.

Agreement is Cohen's kappa (:func:`sklearn.metrics.cohen_kappa_score`) between the model and each
review, and between the first two reviewers of every item reviewed by two different reviewers.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trendml.errors import InputError
from trendml.store.base import Base
from trendml.store.items import StoredItem, _aware, utcnow

logger = logging.getLogger(__name__)

SEVERITIES = (0, 1, 2, 3)
MAX_PENDING = 500


class QASample(Base):
    """One scored item picked for a second review."""

    __tablename__ = "qa_samples"

    item_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    model_severity: Mapped[int] = mapped_column(Integer, index=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch: Mapped[str] = mapped_column(String(64))
    sampled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class QAReview(Base):
    """One reviewer's severity for one sampled item."""

    __tablename__ = "qa_reviews"
    __table_args__ = (UniqueConstraint("item_id", "reviewer", name="uq_qa_reviews_item_reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(String(256), index=True)
    reviewer: Mapped[str] = mapped_column(String(128), index=True)
    severity: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "reviewer": self.reviewer,
            "severity": self.severity,
            "note": self.note,
            "created_at": _aware(self.created_at).isoformat(),
        }


def _item_time():
    """When an item happened: its ``created_at``, else when it was received."""
    return func.coalesce(StoredItem.created_at, StoredItem.received_at)


def stratum_targets(counts: dict[int, int], rate: float) -> dict[int, int]:
    """How many items each non-empty stratum should have in the sample: ``max(1, round(rate * n))``
    (never more than ``n``)."""
    return {s: min(n, max(1, int(math.floor(rate * n + 0.5)))) for s, n in counts.items() if n > 0}


def sample_for_review(
    session: Session,
    rate: float,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Add a stratified sample of scored items (per model severity) to ``qa_samples``; commit.

    Considers items with a severity whose time (``created_at``, else ``received_at``) is in
    ``[since, until)``. Returns ``{"batch", "rate", "added", "total_sampled", "strata": {severity:
    {"scored", "target", "already", "added"}}}``.
    """
    import numpy as np

    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < float(rate) <= 1:
        raise InputError(f"rate is {rate!r}; expected a fraction in (0, 1] such as 0.05", field="rate")
    if since is not None and until is not None and since >= until:
        raise InputError(
            f"since ({since.isoformat()}) is not before until ({until.isoformat()}); expected since < until",
            field="since",
        )
    stmt = select(StoredItem.id, StoredItem.severity, StoredItem.model_version).where(
        StoredItem.severity.is_not(None)
    )
    if since is not None:
        stmt = stmt.where(_item_time() >= since)
    if until is not None:
        stmt = stmt.where(_item_time() < until)
    rows = sorted(session.execute(stmt).all(), key=lambda r: r[0])
    sampled = set(session.scalars(select(QASample.item_id).where(QASample.item_id.in_([r[0] for r in rows]))))
    by_stratum: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    already: dict[int, int] = defaultdict(int)
    for item_id, sev, version in rows:
        if item_id in sampled:
            already[int(sev)] += 1
        else:
            by_stratum[int(sev)].append((item_id, version))
    counts = {s: len(by_stratum.get(s, ())) + already.get(s, 0) for s in SEVERITIES}
    targets = stratum_targets(counts, float(rate))
    rng = np.random.default_rng(seed)
    now = utcnow()
    batch = f"qa-{now.strftime('%Y%m%dT%H%M%S')}-s{seed}"
    strata: dict[int, dict[str, int]] = {}
    added = 0
    for s in SEVERITIES:
        pool = by_stratum.get(s, [])
        need = max(0, targets.get(s, 0) - already.get(s, 0))
        chosen = (
            [pool[i] for i in sorted(rng.choice(len(pool), size=min(need, len(pool)), replace=False))]
            if (need and pool)
            else []
        )
        for item_id, version in chosen:
            session.add(
                QASample(
                    item_id=item_id, model_severity=s, model_version=version, batch=batch, sampled_at=now
                )
            )
        added += len(chosen)
        strata[s] = {
            "scored": counts[s],
            "target": targets.get(s, 0),
            "already": already.get(s, 0),
            "added": len(chosen),
        }
    session.commit()
    total = int(session.scalar(select(func.count()).select_from(QASample)) or 0)
    logger.info("qa sample %s: added %d items (rate %s)", batch, added, rate)
    return {"batch": batch, "rate": float(rate), "added": added, "total_sampled": total, "strata": strata}


def pending_reviews(session: Session, reviewer: str, limit: int = 50) -> list[dict[str, Any]]:
    """Sampled items ``reviewer`` has not reviewed yet, oldest sample first.

    Each dict: ``id, text, caption, created_at, model_severity`` (the score at sampling time),
    ``model_version, severity`` (the item's current score), ``sampled_at, n_reviews`` (by anyone).
    """
    reviewer = _reviewer(reviewer)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PENDING:
        raise InputError(f"limit is {limit!r}; expected an integer in 1..{MAX_PENDING}", field="limit")
    done = select(QAReview.item_id).where(QAReview.reviewer == reviewer)
    n_reviews = select(QAReview.item_id, func.count().label("n")).group_by(QAReview.item_id).subquery()
    stmt = (
        select(QASample, StoredItem, n_reviews.c.n)
        .join(StoredItem, StoredItem.id == QASample.item_id)
        .outerjoin(n_reviews, n_reviews.c.item_id == QASample.item_id)
        .where(QASample.item_id.not_in(done))
        .order_by(QASample.sampled_at, QASample.item_id)
        .limit(limit)
    )
    out = []
    for sample, item, n in session.execute(stmt):
        created = _aware(item.created_at)
        out.append(
            {
                "id": item.id,
                "text": item.text,
                "caption": item.caption,
                "created_at": created.isoformat() if created else None,
                "model_severity": sample.model_severity,
                "model_version": sample.model_version,
                "severity": item.severity,
                "sampled_at": _aware(sample.sampled_at).isoformat(),
                "n_reviews": int(n or 0),
            }
        )
    return out


def _reviewer(reviewer: Any) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InputError(f"reviewer is {reviewer!r}; expected a non-empty name", field="reviewer")
    name = reviewer.strip()
    if len(name) > 128:
        raise InputError(f"reviewer has {len(name)} characters; expected at most 128", field="reviewer")
    return name


def add_review(
    session: Session, item_id: str, reviewer: str, severity: int, note: str | None = None
) -> dict[str, Any]:
    """Store ``reviewer``'s severity (0..3) for a sampled item and commit; a second review of the
    same item by the same reviewer replaces the first. Returns the review as a dict."""
    reviewer = _reviewer(reviewer)
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise InputError(
            f"severity is {severity!r}; expected an integer 0..3 (0 none, 1 offensive, 2 hateful, 3 threat)",
            field="severity",
        )
    if note is not None and not isinstance(note, str):
        raise InputError(f"note is {type(note).__name__}; expected text or nothing", field="note")
    if session.get(QASample, item_id) is None:
        raise InputError(
            f'item_id "{item_id}" is not in the QA sample; expected an id from `trendml qa sample` '
            "(or the review queue)",
            field="item_id",
        )
    mine = select(QAReview).where(QAReview.item_id == item_id, QAReview.reviewer == reviewer)
    for attempt in range(2):
        row = session.scalar(mine)
        now = utcnow()
        if row is None:
            row = QAReview(item_id=item_id, reviewer=reviewer, severity=severity, note=note, created_at=now)
            session.add(row)
        else:
            row.severity, row.note, row.created_at = severity, note, now
        try:
            session.commit()
            return row.to_dict()
        except IntegrityError:  # the same reviewer's review landed concurrently: update that one
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def review_pairs(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> dict[str, list[tuple[int, int]]]:
    """The label pairs agreement is computed on, for reviews created in ``[since, until)``.

    ``"model_reviewer"``: ``(model severity at sampling, reviewer severity)`` for every review.
    ``"reviewers"``: ``(first reviewer, second reviewer)`` severities of every item reviewed by two
    different reviewers (the two earliest reviews).
    """
    stmt = select(QAReview, QASample.model_severity).join(QASample, QASample.item_id == QAReview.item_id)
    if since is not None:
        stmt = stmt.where(QAReview.created_at >= since)
    if until is not None:
        stmt = stmt.where(QAReview.created_at < until)
    stmt = stmt.order_by(QAReview.item_id, QAReview.created_at, QAReview.id)
    model_pairs: list[tuple[int, int]] = []
    per_item: dict[str, list[int]] = defaultdict(list)
    for review, model_sev in session.execute(stmt):
        model_pairs.append((int(model_sev), int(review.severity)))
        per_item[review.item_id].append(int(review.severity))
    reviewer_pairs = [(v[0], v[1]) for v in per_item.values() if len(v) >= 2]
    return {"model_reviewer": model_pairs, "reviewers": reviewer_pairs}


def kappa(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Cohen's kappa of ``pairs`` over the labels 0..3, or ``None`` when it is undefined
    (fewer than 2 pairs, or both raters used one and the same label throughout)."""
    import warnings

    from sklearn.metrics import cohen_kappa_score

    if len(pairs) < 2:
        return None
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = cohen_kappa_score(a, b, labels=list(SEVERITIES))
    return float(k) if math.isfinite(k) else None


def agreement_from_pairs(pairs: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """Kappa, raw agreement and pair counts from :func:`review_pairs`' output (a pure function)."""

    def raw(p: Sequence[tuple[int, int]]) -> float | None:
        return sum(a == b for a, b in p) / len(p) if p else None

    mr, rr = pairs["model_reviewer"], pairs["reviewers"]
    return {
        "kappa_model_reviewer": kappa(mr),
        "kappa_reviewers": kappa(rr),
        "n_model_reviewer": len(mr),
        "n_reviewer_pairs": len(rr),
        "agreement_model_reviewer": raw(mr),
        "agreement_reviewers": raw(rr),
    }


def agreement(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Model-vs-reviewer and reviewer-vs-reviewer Cohen's kappa over reviews in ``[since, until)``.

    Returns ``{"kappa_model_reviewer", "kappa_reviewers", "n_model_reviewer", "n_reviewer_pairs",
    "agreement_model_reviewer", "agreement_reviewers"}``; a kappa is ``None`` when undefined.
    """
    return agreement_from_pairs(review_pairs(session, since, until))


def qa_counts(session: Session) -> dict[str, int]:
    """``{"sampled", "reviewed_items", "reviews", "unreviewed"}`` over the whole store."""
    sampled = int(session.scalar(select(func.count()).select_from(QASample)) or 0)
    reviews = int(session.scalar(select(func.count()).select_from(QAReview)) or 0)
    reviewed = int(session.scalar(select(func.count(func.distinct(QAReview.item_id)))) or 0)
    return {
        "sampled": sampled,
        "reviewed_items": reviewed,
        "reviews": reviews,
        "unreviewed": sampled - reviewed,
    }


def get_review(session: Session, item_id: str, reviewer: str) -> dict[str, Any] | None:
    """``reviewer``'s review of ``item_id`` as a dict, or None."""
    row = session.scalar(
        select(QAReview).where(QAReview.item_id == item_id, QAReview.reviewer == _reviewer(reviewer))
    )
    return row.to_dict() if row is not None else None


def undo_review(session: Session, item_id: str, reviewer: str) -> bool:
    """Delete ``reviewer``'s review of ``item_id`` (the dashboard's undo), so the item is pending
    for them again. Commits; True when there was one."""
    from sqlalchemy import delete

    n = session.execute(
        delete(QAReview).where(QAReview.item_id == item_id, QAReview.reviewer == _reviewer(reviewer))
    ).rowcount
    session.commit()
    return bool(n)
