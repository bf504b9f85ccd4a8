"""The API's trend answers in process (issue #15): ``GET /v1/trends`` and ``GET /v1/trends/{id}``
through the real FastAPI app and handlers over a detected, curated store, compared with what the trend
tables hold, read here directly: field names, types, key order and the order of trends are the
contract; the service builds them from the typed trend record (``trendml.trends.queries``).

No server process and no model: the handlers get a service object with the store's engine and trend
backend (BentoML's ``get_current_service`` dependency, overridden); auth is the subprocess tests' part.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.trends.conftest import DAY, T0, make_blob_stream
from trendml.trends.keywords import trend_title

#: GET /v1/trends items, in this order (service.schemas.TrendSummary)
SUMMARY_KEYS = [
    "trend_id", "status", "emerging", "ever_emerging", "size", "total_size", "n_windows",
    "emergence_score", "us_share", "us_lift", "keywords", "title", "first_seen", "last_seen",
    "parent_id", "merged_into", "feedback",
]  # fmt: skip
#: one entry of GET /v1/trends/{id} "windows" (service.schemas.TrendWindow)
WINDOW_KEYS = [
    "start", "end", "n_items", "size", "status", "emerging", "emergence_score", "us_share", "us_lift",
    "keywords", "title", "representative_ids", "region_counts", "severity_mix", "member_ids",
]  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The API app over a store with four detected trends, decisions, a rename, a split and a merge."""
    from _bentoml_sdk.service import get_current_service
    from fastapi.testclient import TestClient

    import service.service as svcmod
    from service.trends_backend import TrendBackend
    from tests.service.harness import empty_postgres
    from trendml import curation
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.feedback import add_feedback
    from trendml.trends import TrendDetector, TrendState
    from trendml.trends.queries import trend_members
    from trendml.trends.state import TrendRow

    pg = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    url = empty_postgres(pg) if pg else f"sqlite:///{tmp_path_factory.mktemp('api') / 'trendml.db'}"
    engine = make_engine(url)
    create_all(engine)
    st = make_blob_stream(
        {"a": [30, 30, 30, 90], "b": [30, 30, 30, 30], "c": [0, 25, 25, 0], "d": [0, 0, 30, 30]},
        seed=3,
        us_share={"a": 0.95},
    )
    sev = np.random.default_rng(0).dirichlet(np.ones(4), size=len(st.items))
    TrendDetector().detect(st.items, st.x, severity=sev, state=TrendState(engine))
    with Session(engine) as s:
        ids = list(s.scalars(select(TrendRow.trend_id).order_by(TrendRow.trend_id)))
    assert len(ids) >= 4
    with Session(engine) as s:
        add_feedback(s, ids[0], "confirm", "n1", analyst="ana")
        add_feedback(s, ids[1], "dismiss", None, analyst="bob")
        add_feedback(s, ids[0], "escalate", None, analyst="bob")
    curation.rename(engine, ids[1], "an analyst's title", "ana")
    members = trend_members(engine, ids[0])
    curation.split(engine, ids[0], members[: len(members) // 3], "ana")
    curation.merge(engine, ids[3], ids[2], "ana")

    svc = svcmod.TriageService.inner.__new__(svcmod.TriageService.inner)
    svc.engine, svc.Session = engine, make_sessionmaker(engine)
    svc.trends = TrendBackend(engine, svc.Session)
    svcmod.app.dependency_overrides[get_current_service] = lambda: svc
    try:
        yield TestClient(svcmod.app, follow_redirects=False), engine, {"absorbed": ids[3], "into": ids[2]}
    finally:
        svcmod.app.dependency_overrides.pop(get_current_service, None)
        engine.dispose()


def _iso(dt) -> str:
    """ISO-8601 with ``Z`` of a UTC time (naive from SQLite, aware from PostgreSQL)."""
    return dt.replace(tzinfo=None).isoformat() + "Z"


def _from_tables(engine) -> tuple[list[dict], dict[str, dict]]:
    """Every live trend as the API must show it, in the API's order, and each one's detail; read
    straight from the tables (trend rows, observations, windows, decisions, curation)."""
    from trendml.curation import TrendCuration
    from trendml.store.feedback import TrendFeedback
    from trendml.trends.state import TrendObservation, TrendRow, TrendWindow

    with Session(engine) as s:
        rows = list(s.scalars(select(TrendRow)))
        gone = {c.trend_id for c in s.scalars(select(TrendCuration).where(TrendCuration.action == "merge"))}
        renames = select(TrendCuration).where(TrendCuration.action == "rename").order_by(TrendCuration.id)
        named = {c.trend_id: c.title for c in s.scalars(renames)}
        fb: dict[str, list[dict]] = {}
        for f in s.scalars(select(TrendFeedback).order_by(TrendFeedback.id)):
            fb.setdefault(f.trend_id, []).append(f.to_dict())
        obs = s.execute(
            select(TrendObservation, TrendWindow)
            .join(TrendWindow, TrendWindow.seq == TrendObservation.seq)
            .order_by(TrendObservation.seq)
        ).all()
        windows: dict[str, list[dict]] = {}
        for o, w in obs:
            p = json.loads(o.payload)
            windows.setdefault(o.trend_id, []).append(
                {
                    "start": _iso(w.start),
                    "end": _iso(w.end),
                    "n_items": w.n_items,
                    **{k: p[k] for k in WINDOW_KEYS[3:-1]},
                    "member_ids": p["member_ids"],
                }
            )
    rows.sort(key=lambda r: r.trend_id)
    rows.sort(key=lambda r: r.emergence_score, reverse=True)
    rows.sort(key=lambda r: r.last_start, reverse=True)
    listed, detail = [], {}
    for r in rows:
        kw = json.loads(r.keywords)
        t = {
            "trend_id": r.trend_id,
            "status": r.status,
            "emerging": bool(r.emerging),
            "ever_emerging": bool(r.ever_emerging),
            "size": r.last_size,
            "total_size": r.total_size,
            "n_windows": r.n_windows,
            "emergence_score": r.emergence_score,
            "us_share": r.us_share,
            "us_lift": r.us_lift,
            "keywords": kw,
            "title": named.get(r.trend_id, trend_title(kw)),
            "first_seen": _iso(r.first_start),
            "last_seen": _iso(r.last_start),
            "parent_id": r.parent_id,
            "merged_into": r.merged_into,
            "feedback": fb[r.trend_id][-1]["action"] if r.trend_id in fb else None,
        }
        detail[r.trend_id] = {
            **t,
            "windows": windows[r.trend_id],
            "representatives": windows[r.trend_id][-1]["representative_ids"],
            "feedback_history": fb.get(r.trend_id, []),
        }
        if r.trend_id not in gone:
            listed.append(t)
    return listed, detail


def test_trend_list_and_detail_are_the_stored_trends(api):
    client, engine, merged = api
    listed, detail = _from_tables(engine)
    got = client.get("/trends", params={"limit": 500})
    assert got.status_code == 200
    body = got.json()
    assert body == {"items": listed, "total": len(listed), "offset": 0, "limit": 500}
    assert all(list(t) == SUMMARY_KEYS for t in body["items"])
    assert merged["absorbed"] not in [t["trend_id"] for t in body["items"]]
    assert any(t["parent_id"] for t in listed) and any(t["feedback"] for t in listed)  # split, decisions
    # filters and paging keep the order and count before paging
    page = client.get("/trends", params={"limit": 2, "offset": 1}).json()
    assert page["items"] == listed[1:3] and page["total"] == len(listed)
    for params, keep in (
        ({"status": "growing"}, lambda t: t["status"] == "growing"),
        ({"emerging": "false"}, lambda t: not t["emerging"]),
        ({"since": _iso(T0 + 3 * DAY)}, lambda t: t["last_seen"] >= _iso(T0 + 3 * DAY)),
    ):
        want = [t for t in listed if keep(t)]
        assert client.get("/trends", params=params).json()["items"] == want, params

    for tid, want in detail.items():
        if tid == merged["absorbed"]:
            r = client.get(f"/trends/{tid}")
            assert r.status_code == 307 and r.headers["location"] == merged["into"]
            continue
        for members in (False, True):
            r = client.get(f"/trends/{tid}", params={"members": str(members).lower()})
            assert r.status_code == 200, r.text
            got = r.json()
            assert list(got) == [*SUMMARY_KEYS, "windows", "representatives", "feedback_history"]
            assert all(list(w) == WINDOW_KEYS for w in got["windows"])
            windows = [{**w, "member_ids": w["member_ids"] if members else None} for w in want["windows"]]
            assert got["windows"] == windows
            assert [x["id"] for x in got["representatives"]] == want["representatives"]
            assert got["feedback_history"] == want["feedback_history"]
            summary = {k: got[k] for k in SUMMARY_KEYS}
            assert summary == {k: want[k] for k in SUMMARY_KEYS}
    assert client.get("/trends/no-such-trend").status_code == 404
