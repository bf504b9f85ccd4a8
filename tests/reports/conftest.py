"""A small real store for report tests: the small demo stream (known week 2026-03-01..06), stored
with the store functions, severities written as scores, trends detected into the same database,
analyst feedback and QA reviews added through the library and then dated inside the week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from trendml.items import Item

WEEK_START = datetime(2026, 3, 1, tzinfo=UTC)
MODEL_VERSION = "test-1"


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@dataclass
class ReportStore:
    url: str
    path: Path
    campaign_trend: str
    other_trends: list[str]
    unscored: set[str]
    no_created_at: list[str]


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, small_stream, small_stream_vectors) -> ReportStore:
    from trendml.schema import create_all
    from trendml.store.audit import ScoreAudit, add_audit
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.feedback import TrendFeedback, add_feedback
    from trendml.store.items import StoredItem, add_items, record_scores
    from trendml.store.qa import QAReview, QASample, add_review, sample_for_review
    from trendml.trends import TrendDetector, TrendState

    assert small_stream.window_starts[0] == WEEK_START
    path = tmp_path_factory.mktemp("reports") / "trendml.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    create_all(engine)
    Session = make_sessionmaker(engine)
    items = small_stream.items
    # three items without created_at: their received_at (set below) places them in the week
    extra = [Item(id=f"late-{k}", text=f"report test item number {k}") for k in range(3)]
    unscored = {it.id for k, it in enumerate(items) if k % 9 == 0} | {"late-0"}
    with Session() as s:
        stored, dups = add_items(s, [*items, *extra])
        assert (stored, dups) == (len(items) + 3, 0)
        for k, it in enumerate(extra):
            s.get(StoredItem, it.id).received_at = at(2 + k, 8)
        sev = {**small_stream.severity, "late-1": 1, "late-2": 3}
        scores = [
            {
                "id": i,
                "severity": v,
                "severity_probs": [float(j == v) for j in range(4)],
                "model": {"version": MODEL_VERSION},
            }
            for i, v in sev.items()
            if i not in unscored
        ]
        assert record_scores(s, scores) == len(scores)
        # the service's audit log: two model versions, dated in the week
        audit = [
            {
                "item_id": sc["id"],
                "input_hash": "h",
                "model_name": "severity",
                "model_version": v,
                "severity": sc["severity"],
                "severity_probs": sc["severity_probs"],
                "trend_id": None,
                "emerging": None,
                "priority": 0,
            }
            for v, chunk in (("test-1", scores[:50]), ("test-2", scores[50:70]))
            for sc in chunk
        ]
        add_audit(s, audit)
        s.flush()
        for k, row in enumerate(s.scalars(select(ScoreAudit).order_by(ScoreAudit.id))):
            row.scored_at = at(2 if k < 50 else 5, 9, k % 60)
        s.commit()

    state = TrendState.open(url)
    result = TrendDetector().detect(items, small_stream_vectors, state=state)
    state.close()
    camp = small_stream.campaign_ids
    hits = [t for _, t in result.emerging() if len(camp & set(t["member_ids"])) >= 0.5 * t["size"]]
    assert hits, "the planted campaign was not flagged; the report tests need it"
    campaign_trend = hits[0]["trend_id"]
    others = sorted({t["trend_id"] for w in result.windows for t in w.trends} - {campaign_trend})
    assert len(others) >= 2

    # analyst decisions through the library, then dated inside (and one after) the week
    plan = [
        (campaign_trend, "confirm", "alice", at(5, 10)),
        (campaign_trend, "escalate", "bob", at(6, 9, 30)),
        (others[0], "dismiss", "alice", at(4, 15)),
        (others[0], "confirm", "bob", at(4, 16)),
        (others[1], "dismiss", "carol", at(6, 23, 59)),
        (others[-1], "confirm", "alice", at(8, 11)),  # after the week: not in the weekly report
    ]
    with Session() as s:
        for tid, action, analyst, when in plan:
            row = add_feedback(s, tid, action, f"note on {tid}", analyst)
            s.get(TrendFeedback, row.id).created_at = when
        s.commit()

        # QA: a stratified sample, two reviewers with known disagreements, dated in the week
        sample_for_review(s, 0.05, seed=3)
        sampled = sorted(s.scalars(select(QASample.item_id)))
        for k, item_id in enumerate(sampled):
            model = s.get(QASample, item_id).model_severity
            a = add_review(s, item_id, "alice", (model + (k % 3 == 0)) % 4)
            s.get(QAReview, a["id"]).created_at = at(1 + k % 6, 14)
            if k % 2 == 0:
                b = add_review(s, item_id, "bob", (model + (k % 4 == 1)) % 4, note="second look")
                s.get(QAReview, b["id"]).created_at = at(1 + k % 6, 15) if k % 5 else at(9, 15)
        s.commit()
    engine.dispose()
    return ReportStore(
        url=url,
        path=path,
        campaign_trend=campaign_trend,
        other_trends=others,
        unscored=unscored,
        no_created_at=[it.id for it in extra],
    )


@pytest.fixture
def store_copy(report_store, tmp_path) -> str:
    """A private copy of the report store (for tests that write); returns its URL."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        src = Path(str(report_store.path) + suffix)
        if src.exists():
            shutil.copy(src, tmp_path / f"trendml.db{suffix}")
    return f"sqlite:///{tmp_path / 'trendml.db'}"
