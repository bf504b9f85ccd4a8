"""Query helpers the service uses, on a real SQLite state built from synthetic blobs."""

from __future__ import annotations

import pytest
from conftest import DAY, T0, main_trend
from sqlalchemy import inspect

from trendml.errors import InputError
from trendml.schema import create_all
from trendml.store.base import make_engine
from trendml.trends import TrendDetector, TrendState
from trendml.trends.queries import count_trends, list_trends, list_windows, trend_timeline


@pytest.fixture(scope="module")
def stored(basic_stream, tmp_path_factory):
    db = tmp_path_factory.mktemp("q") / "trendml.db"
    state = TrendState.open(db)
    result = TrendDetector().detect(basic_stream.items, basic_stream.x, state=state)
    yield state, result
    state.close()


def test_filters_and_paging(stored, basic_stream):
    state, result = stored
    new_blob = main_trend(result, 3, basic_stream.ids_of("n", 3))["trend_id"]
    us = list_trends(state, region="US")
    assert new_blob in [t.trend_id for t in us.items]
    t_a = main_trend(result, 5, basic_stream.ids_of("a", 5))["trend_id"]
    assert t_a not in [t.trend_id for t in us.items]
    assert new_blob not in [t.trend_id for t in list_trends(state, region="GB").items]
    growing = list_trends(state, status="growing").items
    assert growing and all(t.status == "growing" for t in growing)
    assert list_trends(state, since=T0 + 10 * DAY).total == 0
    everything = list_trends(state, limit=500)
    assert everything.total == count_trends(state)
    pages = []
    for k in range(everything.total):
        pages += [t.trend_id for t in list_trends(state, limit=1, offset=k).items]
    assert pages == [t.trend_id for t in everything.items]
    assert all(t.latest is not None and t.latest.trend_id == t.trend_id for t in everything.items)
    with pytest.raises(InputError, match="status"):
        list_trends(state, status="hot")
    with pytest.raises(InputError, match="limit"):
        list_trends(state, limit=0)


def test_timeline_and_windows(stored, basic_stream):
    state, result = stored
    tid = main_trend(result, 0, basic_stream.ids_of("a", 0))["trend_id"]
    tl = trend_timeline(state.engine, tid)
    assert [p.trend.size for p in tl.windows] == [
        next(t.size for t in w.trends if t.trend_id == tid) for w in result.windows
    ]
    assert tl.windows[0].trend.member_ids and tl.trend.to_json()["first_seen"].endswith("Z")
    assert tl.trend.latest == tl.windows[-1].trend
    starts = [w.start for w in list_windows(state)]
    assert len(starts) == 6 and starts == sorted(starts, reverse=True)


def test_store_create_all_includes_trend_tables(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_all(engine)
    names = set(inspect(engine).get_table_names())
    assert {"trend_meta", "trend_windows", "trend_trends", "trend_observations", "trend_events"} <= names
    TrendState(engine)  # opens the tables create_all made


def test_readers_for_the_dashboard_and_reports(stored, basic_stream):
    """The trend-table readers the dashboard and the reports use (queries.py is their only reader)."""
    from sqlalchemy.orm import Session

    from trendml.trends.queries import (
        item_trends,
        latest_payloads,
        observations_between,
        sizes_by_trend,
        trend_views,
    )

    state, result = stored
    tid = main_trend(result, 0, basic_stream.ids_of("a", 0))["trend_id"]
    seen = [t for w in result.windows for t in w.trends if t["trend_id"] == tid]
    with Session(state.engine) as s:
        assert [size for _, size, _ in sizes_by_trend(s, [tid])[tid]] == [t["size"] for t in seen]
        assert sorted(latest_payloads(s, [tid])[tid]["member_ids"]) == sorted(seen[-1]["member_ids"])
        trend_of, _ = item_trends(s)
        assert {trend_of[i] for i in seen[-1]["member_ids"]} == {tid}
        assert [v.trend_id for v in trend_views(s, [tid, "no-such-trend"])] == [tid]
        n_obs = sum(len(w.trends) for w in result.windows)
        assert len(observations_between(s, T0, T0 + 100 * DAY)) == n_obs
        assert observations_between(s, T0 + 100 * DAY, T0 + 200 * DAY) == []


def test_only_queries_reads_the_trend_tables():
    """The trend tables' classes are used only by the reader (queries.py), the writer (state.py) and
    the two write paths that run in the state's transaction (forget.py: erasure; curation.py: merge
    and split); every other module reads trends through queries.py's typed records (issue #15)."""
    import ast
    from pathlib import Path

    import trendml.trends.state as state

    tables = {
        n
        for n, v in vars(state).items()
        if isinstance(v, type) and hasattr(v, "__tablename__") and v.__module__ == state.__name__
    }
    assert {"TrendRow", "TrendObservation", "TrendWindow", "TrendEvent", "TrendRetired"} <= tables
    allowed = {  # besides state.py, which defines them
        "trendml/trends/queries.py",
        "trendml/trends/forget.py",
        "trendml/curation.py",
    }
    root = Path(__file__).resolve().parents[2]
    users = set()
    for pkg in ("trendml", "service", "cli", "training", "batch", "benchmarks"):
        for path in (root / pkg).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if not any(name in text for name in tables):
                continue
            tree = ast.parse(text)
            nodes = list(ast.walk(tree))
            names = {
                a.name
                for n in nodes
                if isinstance(n, ast.ImportFrom) and n.module == "trendml.trends.state"
                for a in n.names
            }
            names |= {n.attr for n in nodes if isinstance(n, ast.Attribute)}  # state.TrendRow
            if names & tables:
                users.add(path.relative_to(root).as_posix())
    assert users == allowed
