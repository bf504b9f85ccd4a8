"""Feedback into retraining: QA second reviews and analyst decisions as severity training rows.

``trendml train severity --with-feedback`` reads the item store (``settings.db_url``) and adds
rows of dataset ``feedback`` (split ``train``, never test) under this **label rule**:

1. **QA second reviews** (``qa_reviews``): each reviewer's latest review of an item counts; when
   every reviewer of the item gave the same severity, that severity (0..3) is the item's label.
   Reviewers who disagree leave the item unlabelled (counted as ``feedback.n_qa_disagreed``).
2. **Analyst decisions** (``trend_feedback``, the latest decision per trend wins, as in the label
   export): ``confirm`` / ``escalate`` say the trend is an abusive campaign, so each member item is
   labelled with the severity it was scored with, raised to at least 1 (offensive): the decision
   says "not benign", it does not say which level. ``dismiss`` means **"not a trend"**, not
   "benign": members of a dismissed trend get **no label** (``feedback.n_dismissed_unlabelled``).
3. **Moderator outcomes** (``item_outcomes``, the latest outcome per item wins): the final
   severity the moderator set is the item's label (a person decided that item).
4. A QA label beats an outcome, and an outcome beats a decision's label for the same item (the
   more specific, item-level human judgement wins).
5. Rows whose content hash (SHA-256 of the normalised text, as the embedding cache) is in **any
   test split** the run evaluates on (its own test sets and the cross-dataset ones) are dropped
   and counted (``feedback.n_dropped_test``): the demo stream samples test rows, and a model must
   never train on what it is graded on.

The snapshot (each row's item id, content hash, label and origin, sorted) is hashed; MLflow logs
``feedback.snapshot_sha256`` (the snapshot as read from the store), ``feedback.rows_sha256`` (the
rows trained on, after the test-split drop) as params and the counts (metrics ``feedback.*``),
plus how often the new model and, when there is one, the champion agree with the feedback labels
(``feedback.agreement``, ``feedback.champion_agreement``). Those are *training* rows: the promotion
gate compares test sets only (``test.<ds>.*``), so a model that gains on the feedback rows but
loses on the held-out sets is refused (``training.registry.promotion_decision``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trendml.config import Settings
from trendml.text import combine_text, content_hash

logger = logging.getLogger(__name__)

DATASET = "feedback"
ABUSIVE_ACTIONS = ("confirm", "escalate")


@dataclass
class FeedbackSnapshot:
    """The feedback rows read from the store (``frame``: id, text, severity, origin, hash) and
    what was left out."""

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    #: the hash of the snapshot as read from the store (kept when test rows are dropped)
    read_sha256: str | None = None

    @property
    def sha256(self) -> str:
        rows = sorted(
            (str(r.id), str(r.hash), int(r.severity), str(r.origin))
            for r in self.frame.itertuples(index=False)
        )
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def label_rows(
    decisions: Iterable[dict[str, Any]],
    reviews: Iterable[dict[str, Any]],
    texts: dict[str, str],
    outcomes: Iterable[dict[str, Any]] = (),
) -> FeedbackSnapshot:
    """Apply the label rule (module doc) to decision export rows (``id, action, severity``), QA
    reviews (``item_id, reviewer, severity``, oldest first), item contents (id -> normalised
    text) and moderator outcomes (``item_id, severity``, oldest first). Pure; no store access."""
    counts: dict[str, int] = defaultdict(int)
    labels: dict[str, tuple[int, str]] = {}
    for row in decisions:
        counts["n_decision_members"] += 1
        if row["action"] not in ABUSIVE_ACTIONS:
            counts["n_dismissed_unlabelled"] += 1
            continue
        sev = row.get("severity")
        labels[row["id"]] = (max(1, int(sev) if sev is not None else 1), "decision")
    latest_outcome: dict[str, int] = {}
    for o in outcomes:
        latest_outcome[o["item_id"]] = int(o["severity"])  # the latest outcome per item wins
    for item_id, sev in latest_outcome.items():
        counts["n_outcome_items"] += 1
        labels[item_id] = (sev, "outcome")
    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for r in reviews:
        by_item[r["item_id"]][r["reviewer"]] = int(r["severity"])  # latest per reviewer wins
    for item_id, per_reviewer in by_item.items():
        counts["n_qa_items"] += 1
        values = set(per_reviewer.values())
        if len(values) != 1:
            counts["n_qa_disagreed"] += 1
            continue
        labels[item_id] = (values.pop(), "qa")
    rows = []
    for item_id, (sev, origin) in sorted(labels.items()):
        text = texts.get(item_id)
        if not text:
            counts["n_missing_text"] += 1
            continue
        rows.append(
            {"id": item_id, "text": text, "severity": sev, "origin": origin, "hash": content_hash(text)}
        )
    frame = pd.DataFrame(rows, columns=["id", "text", "severity", "origin", "hash"])
    counts["n_qa"] = int((frame["origin"] == "qa").sum())
    counts["n_decisions"] = int((frame["origin"] == "decision").sum())
    counts["n_outcomes"] = int((frame["origin"] == "outcome").sum())
    return FeedbackSnapshot(frame=frame, counts=dict(counts))


def read_feedback(settings: Settings) -> FeedbackSnapshot:
    """QA reviews and analyst decisions from the item store, labelled by :func:`label_rows`.
    Every trend's members come from one generation of the trend state (as the label export)."""
    from sqlalchemy import select

    from trendml.errors import InputError
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.feedback import export_labels
    from trendml.store.items import get_items
    from trendml.store.outcomes import ItemOutcome
    from trendml.store.qa import QAReview
    from trendml.trends.queries import trend_members
    from trendml.trends.state import consistent_read

    engine = make_engine(settings.db_url)
    try:
        create_all(engine)
        Session = make_sessionmaker(engine)
        with Session() as session:
            try:
                decisions, _ = consistent_read(
                    engine, lambda: list(export_labels(session, lambda t: trend_members(engine, t)))
                )
            except Exception as exc:  # no trend tables yet: no decisions to read
                if "no such table" not in str(exc).lower() and "does not exist" not in str(exc).lower():
                    raise
                logger.info("no trend state in the store: no analyst decisions to read")
                decisions = []
            reviews = [
                {"item_id": r.item_id, "reviewer": r.reviewer, "severity": r.severity}
                for r in session.scalars(select(QAReview).order_by(QAReview.created_at, QAReview.id))
            ]
            outcomes = [
                {"item_id": o.item_id, "severity": o.severity}
                for o in session.scalars(select(ItemOutcome).order_by(ItemOutcome.id))
            ]
            ids = {d["id"] for d in decisions} | {r["item_id"] for r in reviews}
            ids = sorted(ids | {o["item_id"] for o in outcomes})
            stored = get_items(session, ids)
    finally:
        engine.dispose()
    texts = {i: combine_text(row.text, row.caption) for i, row in stored.items()}
    snap = label_rows(decisions, reviews, texts, outcomes)
    if snap.frame.empty:
        raise InputError(
            f"--with-feedback found no labelled feedback in {settings.db_url.split('://')[0]} store "
            f"({snap.counts.get('n_qa_items', 0)} QA-reviewed items, "
            f"{snap.counts.get('n_decision_members', 0)} members of decided trends, "
            f"{snap.counts.get('n_outcome_items', 0)} items with moderator outcomes); expected QA "
            "reviews (`trendml qa review`), moderator outcomes (POST /v1/items/ID/outcome) or "
            "confirmed/escalated trends; train without --with-feedback",
            field="with_feedback",
        )
    snap.read_sha256 = snap.sha256
    return snap


def drop_test_rows(snap: FeedbackSnapshot, test_texts: Iterable[str]) -> FeedbackSnapshot:
    """``snap`` without the rows whose content hash is a test row's (count logged)."""
    test_hashes = {content_hash(t) for t in test_texts}
    keep = ~snap.frame["hash"].isin(test_hashes)
    dropped = int((~keep).sum())
    if dropped:
        logger.info("feedback: dropped %d rows whose content is in a test split", dropped)
    counts = {**snap.counts, "n_dropped_test": dropped, "n_rows": int(keep.sum())}
    return FeedbackSnapshot(
        frame=snap.frame[keep].reset_index(drop=True),
        counts=counts,
        read_sha256=snap.read_sha256 or snap.sha256,
    )


def as_training_rows(snap: FeedbackSnapshot) -> pd.DataFrame:
    """The feedback rows in the training frame's columns (dataset ``feedback``, split ``train``)."""
    f = snap.frame
    return pd.DataFrame(
        {
            "id": "feedback:" + f["id"].astype(str),
            "text": f["text"],
            "severity": f["severity"].astype(int),
            "dataset": DATASET,
            "split": "train",
            "source": DATASET,
        }
    )


def feedback_metrics(model: Any, frame: pd.DataFrame, embed: Any, settings: Settings) -> dict[str, float]:
    """``feedback.agreement``: share of the feedback rows (dataset ``feedback`` in ``frame``) whose
    label the new model's decided severity matches; ``feedback.champion_agreement``: the same for
    the current champion, when there is one. Training rows: shown by ``trendml models compare``,
    never used by the promotion gate. Empty when the run has no feedback rows."""
    import numpy as np

    rows = frame[frame["dataset"] == DATASET]
    if rows.empty:
        return {}
    texts = rows["text"].tolist()
    labels = rows["severity"].to_numpy(dtype=int)
    vectors = embed(texts)
    out = {"feedback.agreement": float(np.mean(model.decide(model.predict_proba(texts, vectors)) == labels))}
    try:
        from training.registry import load_severity_model

        champion, _, version = load_severity_model(None, settings)
    except Exception as exc:  # noqa: BLE001 - no champion yet (first model) or it cannot be read
        logger.info("feedback: no champion to compare on the feedback rows (%s)", type(exc).__name__)
        return out
    if champion.embedder_id == model.embedder_id:
        decided = champion.decide(champion.predict_proba(texts, vectors))
        out["feedback.champion_agreement"] = float(np.mean(decided == labels))
        logger.info(
            "feedback: champion v%s agrees with %.3f of the feedback rows",
            version,
            out["feedback.champion_agreement"],
        )
    return out
