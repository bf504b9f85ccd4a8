"""Search (keyword + hnswlib) and trend curation (merge, split, rename) on real detections of
synthetic blobs: real SQLite (PostgreSQL too with TRENDML_TEST_POSTGRES_URL), real hnswlib files,
the real detector. Blob texts are synthetic words; nothing real is printed."""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import pytest
from conftest import DAY, T0, make_blob_stream
from sqlalchemy import delete

from service.trends_backend import TrendBackend
from trendml import curation
from trendml.errors import ConflictError, InputError
from trendml.schema import create_all
from trendml.search import Searcher, SearchFilters
from trendml.store.base import make_engine, make_sessionmaker
from trendml.store.items import StoredItem, add_items, record_scores
from trendml.text import content_hash
from trendml.trends import TrendState


@pytest.fixture(scope="module")
def blobs():
    # a and b for three windows; a alone goes on in window 3 (for the merge test)
    return make_blob_stream({"a": [30, 30, 30, 30], "b": [30, 30, 30, 0], "u": [0, 0, 25, 25]}, seed=5)


@pytest.fixture
def store(tmp_path, blobs):
    pg = os.environ.get("TRENDML_TEST_POSTGRES_URL")
    if pg:
        from tests.service.harness import empty_postgres

        url = empty_postgres(pg)
    else:
        url = f"sqlite:///{tmp_path / 'trendml.db'}"
    engine = make_engine(url)
    create_all(engine)
    Session = make_sessionmaker(engine)
    first3 = [it for it in blobs.items if it.created_at < T0 + 3 * DAY]
    with Session() as s:
        add_items(s, blobs.items)
        record_scores(
            s,
            [
                {
                    "id": it.id,
                    "severity": 2 if blobs.blob_of[it.id] == "u" else 0,
                    "severity_probs": [0.25] * 4,
                    "model": {"version": "1"},
                }
                for it in blobs.items
            ],
        )
        s.commit()
    backend = TrendBackend(engine, Session, window="1d")
    backend.detect(first3, blobs.x[: len(first3)], None)
    vec = {content_hash(it.content): blobs.x[k] for k, it in enumerate(blobs.items)}
    yield engine, Session, backend, vec, tmp_path
    engine.dispose()


def _searcher(engine, vec, path):
    return Searcher(
        engine, path / "search", model="blobs", vectors_for=lambda hs: {h: vec[h] for h in hs if h in vec}
    )


def _trend_of(engine, ids):
    state = TrendState(engine)
    best = {}
    for tid in state.trends:
        from trendml.trends.queries import trend_members

        best[tid] = len(set(trend_members(engine, tid)) & ids)
    return max(best, key=best.get)


def test_keyword_search_filters_and_follows_the_store(store, blobs):
    engine, Session, _, vec, tmp = store
    srch = _searcher(engine, vec, tmp)
    u_ids = {it.id for it in blobs.items if blobs.blob_of[it.id] == "u"}
    out = srch.search("uword1", mode="keyword", limit=200)
    assert out["engine"] in ("sqlite-fts5", "postgresql-fulltext")
    got = {i["id"] for i in out["items"]}
    assert got and got <= u_ids and out["total"] == len(got)
    assert all(
        set(i) >= {"id", "score", "severity", "trend_id", "created_at", "region"} for i in out["items"]
    )
    # filters: region, severity, time, trend
    assert all(
        i["region"] == "US"
        for i in srch.search("uword1", filters=SearchFilters(region="US"), limit=200)["items"]
    )
    assert srch.search("aword0", filters=SearchFilters(min_severity=2))["total"] == 0
    late = srch.search("uword1", filters=SearchFilters(since=T0 + 3 * DAY), limit=200)["items"]
    assert late and all(i["created_at"] >= (T0 + 3 * DAY).isoformat()[:10] for i in late)
    tid = _trend_of(engine, u_ids)
    in_trend = srch.search("uword1", filters=SearchFilters(trend_id=tid), limit=200)["items"]
    assert in_trend and {i["trend_id"] for i in in_trend} == {tid}
    # the index follows the store: an erased item is gone, a new one is found
    victim = sorted(got)[0]
    with Session() as s:
        s.execute(delete(StoredItem).where(StoredItem.id == victim))
        from trendml.items import Item

        add_items(
            s, [Item(id="fresh-1", text="uword1 brandnewword", created_at=T0 + 3 * DAY + timedelta(hours=1))]
        )
        s.commit()
    ids = {i["id"] for i in srch.search("uword1", limit=500)["items"]}
    assert victim not in ids and "fresh-1" in ids
    assert [i["id"] for i in srch.search("brandnewword")["items"]] == ["fresh-1"]
    for bad, field in (("", "q"), ("!!!", "q")):
        with pytest.raises(InputError) as err:
            srch.search(bad)
        assert err.value.field == field
    with pytest.raises(InputError) as err:
        srch.search("x", mode="fuzzy")
    assert err.value.field == "mode"


def test_semantic_neighbours_from_the_on_disk_index(store, blobs):
    engine, Session, _, vec, tmp = store
    srch = _searcher(engine, vec, tmp)
    a_ids = [it.id for it in blobs.items if blobs.blob_of[it.id] == "a"]
    out = srch.search(None, mode="semantic", like=a_ids[0], limit=20)
    assert out["engine"] == "hnswlib" and len(out["items"]) == 20
    assert {i["id"] for i in out["items"]} <= set(a_ids) - {a_ids[0]}  # nearest neighbours: its own blob
    scores = [i["score"] for i in out["items"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9
    assert (tmp / "search" / "items.hnsw").exists()
    # a reader without the cache (the dashboard) loads the same files and answers the same
    reader = Searcher(engine, tmp / "search", model="blobs")
    assert reader.search(None, mode="semantic", like=a_ids[0], limit=20)["items"] == out["items"]
    # erased items leave the index on the next sync
    with Session() as s:
        s.execute(delete(StoredItem).where(StoredItem.id.in_(a_ids[1:40])))
        s.commit()
    again = srch.search(None, mode="semantic", like=a_ids[0], limit=50)
    assert not {i["id"] for i in again["items"]} & set(a_ids[1:40])
    # content changed in place (an erasure that blanks the text): its old vector leaves the index
    from sqlalchemy import update

    blanked = next(i["id"] for i in again["items"])
    with Session() as s:
        s.execute(update(StoredItem).where(StoredItem.id == blanked).values(text="", content_hash="0" * 64))
        s.commit()
    assert srch.refresh_index(force=True)["removed"] == 1
    after = srch.search(None, mode="semantic", like=a_ids[0], limit=50)
    assert blanked not in {i["id"] for i in after["items"]}
    with pytest.raises(InputError) as err:
        srch.search(None, mode="semantic", like="no-such-item")
    assert err.value.field == "like"


def test_merge_rename_split_with_history_and_the_next_run_maps_onto_the_survivor(store, blobs):
    engine, Session, backend, vec, tmp = store
    a_ids = {it.id for it in blobs.items if blobs.blob_of[it.id] == "a"}
    b_ids = {it.id for it in blobs.items if blobs.blob_of[it.id] == "b"}
    ta, tb = _trend_of(engine, a_ids), _trend_of(engine, b_ids)
    assert ta != tb
    gen = TrendState(engine).generation
    row = curation.merge(engine, ta, tb, "ana")
    assert row["action"] == "merge" and row["analyst"] == "ana"
    assert TrendState(engine).generation == gen + 1  # readers see it at once
    assert curation.resolve(engine, ta) == tb and curation.redirects(engine) == {ta: tb}
    with pytest.raises(ConflictError):
        curation.merge(engine, ta, tb, "ana")
    curation.rename(engine, tb, "Both blobs, curated", "bo")
    assert curation.titles(engine) == {tb: "Both blobs, curated"}
    # search reports the survivor for the absorbed trend's items
    srch = _searcher(engine, vec, tmp)
    hit = srch.search("aword0", limit=5)["items"]
    assert hit and {i["trend_id"] for i in hit} == {tb}
    # the next run: blob a goes on alone and its new cluster takes the survivor's id by member overlap
    w3 = [k for k, it in enumerate(blobs.items) if it.created_at >= T0 + 3 * DAY]
    backend.detect([blobs.items[k] for k in w3], blobs.x[w3], None)
    new_a = {blobs.items[k].id for k in w3 if blobs.blob_of[blobs.items[k].id] == "a"}
    assert _trend_of(engine, new_a) == tb
    # split: selected members of the survivor move to a new trend, attributed
    members = sorted(
        a_ids & set(__import__("trendml.trends.queries", fromlist=["x"]).trend_members(engine, tb))
    )[:10]
    out = curation.split(
        engine,
        tb,
        members,
        "cy",
        title="a part",
        vectors=lambda ids: np.stack([blobs.x[[it.id for it in blobs.items].index(i)] for i in ids]),
    )
    new_id = out["other_id"]
    from trendml.trends.queries import trend_members

    assert set(trend_members(engine, new_id)) == set(members)
    assert not set(trend_members(engine, tb)) & set(members)
    hist = curation.history(engine, tb)
    assert [(h["action"], h["analyst"]) for h in hist] == [
        ("merge", "ana"),
        ("rename", "bo"),
        ("split", "cy"),
    ]
    with pytest.raises(InputError) as err:
        curation.split(engine, tb, ["not-a-member"], "cy")
    assert err.value.field == "member_ids"
    with pytest.raises(InputError) as err:
        curation.merge(engine, tb, tb, "cy")
    assert err.value.field == "into"
