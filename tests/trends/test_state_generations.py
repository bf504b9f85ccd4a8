"""Generations of the trend state: every change is one transaction that bumps ``trend_version``;
readers notice a newer state and never see half of one; writers never overwrite a state another
process changed. Real SQLite files (two engines = two processes' views), real HDBSCAN on blobs."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import make_blob_stream

from trendml.errors import StateError
from trendml.trends import TrendDetector, TrendState, assign
from trendml.trends.queries import list_trends, retired_trends, trend_members, trend_timeline
from trendml.trends.state import consistent_read, read_generation


@pytest.fixture(scope="module")
def streams():
    full = make_blob_stream(
        {"z": [30, 30, 30], "a": [30, 30, 30], "b": [30, 30, 30], "y": [30, 30, 30]}, seed=5
    )

    def without(blob: str):
        keep = [k for k, it in enumerate(full.items) if full.blob_of[it.id] != blob]
        return [full.items[k] for k in keep], full.x[keep]

    return {"old": without("y"), "new": without("z"), "full": full}


def _ids(result) -> set[str]:
    return {t["trend_id"] for w in result.windows for t in w.trends}


def _detected(url: str, items, x) -> TrendState:
    state = TrendState.open(url)
    with state.batch():
        TrendDetector(window="1d").detect(items, x, state=state)
    return state


def test_a_batch_is_one_generation_and_invisible_until_it_commits(tmp_path, streams):
    url = f"sqlite:///{tmp_path / 't.db'}"
    writer = _detected(url, *streams["old"])
    reader = TrendState.open(url)
    old_total = list_trends(reader.engine, limit=500).total
    gen = read_generation(reader.engine)
    assert old_total > 0 and gen == writer.generation == reader.generation
    previous = writer.memberships()
    with writer.batch():
        writer.reset()
        TrendDetector(window="1d").detect(*streams["new"], state=writer, previous_ids=previous)
        # inside the batch nothing is written: another process still sees the whole old state
        assert read_generation(reader.engine) == gen
        assert list_trends(reader.engine, limit=500).total == old_total
    assert read_generation(reader.engine) == gen + 1 == writer.generation  # one bump for all of it
    assert list_trends(reader.engine, limit=500).total == len(writer.trends)
    # the reader notices the newer state with one read and reloads it
    assert reader.refresh() is True and reader.generation == gen + 1
    assert set(reader.trends) == set(writer.trends)
    assert reader.refresh() is False


def test_a_writer_never_overwrites_a_state_changed_by_another_process(tmp_path, streams):
    url = f"sqlite:///{tmp_path / 't.db'}"
    items, x = streams["old"]
    first = TrendState.open(url)
    stale = TrendState.open(url)  # loaded at the same generation
    with first.batch():
        TrendDetector(window="1d").detect(items[:60], x[:60], state=first)
    gen = read_generation(first.engine)
    with pytest.raises(StateError, match="changed by another process"):
        with stale.batch():
            TrendDetector(window="1d").detect(items[:60], x[:60], state=stale)
    assert read_generation(first.engine) == gen  # nothing written by the stale writer
    assert stale.generation == gen and len(stale.windows) == len(first.windows)  # reloaded


def test_a_loaded_snapshot_assigns_after_its_rows_were_replaced(tmp_path, streams):
    """Issue 18's cause: the service's snapshot read the window model lazily from a row that another
    process's replacement had deleted. A snapshot now holds what it needs; refresh() moves it on."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    items, x = streams["old"]
    _detected(url, items, x).close()
    snapshot = TrendState.open(url)  # like the service: loaded before anyone asked for the model
    other = TrendState.open(url)  # another process replaces the state
    previous = other.memberships()
    with other.batch():
        other.reset()
        TrendDetector(window="1d").detect(*streams["new"], state=other, previous_ids=previous)
    got = assign(items[-10:], x[-10:], snapshot)  # the old state's answer, no error
    assert set(got) - {None} <= set(snapshot.trends)
    assert snapshot.refresh() is True
    assert set(assign(items[-10:], x[-10:], snapshot)) - {None} <= set(other.trends)


def test_retired_trends_keep_their_members(tmp_path, streams):
    url = f"sqlite:///{tmp_path / 't.db'}"
    state = _detected(url, *streams["old"])
    old_members = {tid: trend_members(state.engine, tid) for tid in state.trends}
    previous = state.memberships()
    with state.batch():
        state.reset()
        TrendDetector(window="1d").detect(*streams["new"], state=state, previous_ids=previous)
    retired = retired_trends(state.engine)
    assert retired and set(retired).isdisjoint(state.trends)
    assert set(retired) == set(old_members) - set(state.trends)
    for tid, info in retired.items():
        assert info.generation == state.generation
        assert sorted(trend_members(state.engine, tid)) == sorted(old_members[tid])
        assert trend_timeline(state.engine, tid) is None  # gone from the live trends


def test_consistent_read_repeats_a_read_that_a_commit_landed_in(tmp_path, streams):
    url = f"sqlite:///{tmp_path / 't.db'}"
    state = _detected(url, *streams["old"])
    other = TrendState.open(url)
    calls = []

    def read():
        calls.append(1)
        if len(calls) == 1:  # a writer commits in the middle of the first read
            with other.batch():
                other.reset()
        return list_trends(state.engine, limit=500).total

    total, gen = consistent_read(state.engine, read)
    assert len(calls) == 2 and total == 0 and gen == other.generation


def test_an_old_audit_table_gets_the_new_column(tmp_path):
    from trendml.schema import create_all
    from trendml.store.base import make_engine

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE score_audit (id INTEGER PRIMARY KEY, item_id VARCHAR(256), input_hash VARCHAR(64), "
        "model_name VARCHAR(128), model_version VARCHAR(64), severity INTEGER, severity_probs JSON, "
        "trend_id VARCHAR(64), emerging BOOLEAN, priority INTEGER, scored_at DATETIME)"
    )
    con.execute("INSERT INTO score_audit (item_id, severity) VALUES ('kept', 1)")
    con.commit()
    con.close()
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    engine.dispose()
    con = sqlite3.connect(path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(score_audit)")]
    rows = con.execute("SELECT item_id, trend_status FROM score_audit").fetchall()
    con.close()
    assert "trend_status" in cols and rows == [("kept", None)]
