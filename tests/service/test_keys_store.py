"""The stores behind the hardening, on real SQLite files: unique key names, one demo key (also on a
database from before: columns added, duplicate demo keys revoked), server-side sessions (expiry,
sign-out, revocation), the admin audit log, scores written only onto matching content, and the
per-key token buckets."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import text

from trendml.errors import ConflictError
from trendml.items import Item
from trendml.schema import create_all
from trendml.store.base import make_engine, make_sessionmaker

# The two tables as they were before this change (no key columns, no unique name index).
OLD_TABLES = """
CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, key_hash VARCHAR(64) NOT NULL,
  prefix VARCHAR(12) NOT NULL, role VARCHAR(16) NOT NULL, name VARCHAR(128) NOT NULL,
  created_at DATETIME NOT NULL, revoked_at DATETIME);
CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE TABLE score_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, item_id VARCHAR(256) NOT NULL,
  input_hash VARCHAR(64) NOT NULL, model_name VARCHAR(128) NOT NULL, model_version VARCHAR(64) NOT NULL,
  severity INTEGER NOT NULL, severity_probs JSON NOT NULL, trend_id VARCHAR(64), emerging BOOLEAN,
  priority INTEGER NOT NULL, scored_at DATETIME NOT NULL);
"""


@pytest.fixture
def Session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'trendml.db'}")
    create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_key_names_are_unique_and_default_names_do_not_collide(Session):
    from trendml.store.keys import create_key, list_keys, revoke_key

    with Session() as s:
        _, ana = create_key(s, "analyst", "ana")
        with pytest.raises(ConflictError) as exc:
            create_key(s, "triage", "ana")
        assert exc.value.field == "name" and "taken" in exc.value.message
        revoke_key(s, ana.id)
        with pytest.raises(ConflictError):
            create_key(s, "analyst", "ana")  # a revoked key's name stays taken
        names = [create_key(s, "triage")[1].name for _ in range(5)]
        assert len(set(names)) == 5 and all(n.startswith("triage-") for n in names)
        assert len(list_keys(s)) == 6


def test_rotate_keeps_one_key_and_the_old_secret_stops_working(Session):
    from trendml.store.keys import lookup_key, rotate_key

    with Session() as s:
        first, info, created = rotate_key(s, "demo", "admin")
        assert created
        second, info2, created2 = rotate_key(s, "demo", "admin")
        assert not created2 and info2.id == info.id and second != first
        assert lookup_key(s, first) is None and lookup_key(s, second).name == "demo"
        with pytest.raises(ConflictError):
            rotate_key(s, "demo", "triage")


def test_an_old_database_is_upgraded_and_its_demo_keys_become_one(tmp_path, caplog):
    from trendml.store.keys import hash_key, list_keys, lookup_key, rotate_key

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_TABLES)
    for k in range(3):  # three `trendml up` runs of the old code: three active "demo" admin keys
        con.execute(
            "INSERT INTO api_keys (key_hash, prefix, role, name, created_at) VALUES (?, ?, 'admin', 'demo', "
            "'2026-01-01 00:00:00')",
            (hash_key(f"tml_old-{k}"), f"tml_old-{k}"),
        )
    con.commit()
    con.close()
    engine = make_engine(f"sqlite:///{path}")
    create_all(engine)
    with engine.connect() as conn:
        cols = {row[1] for row in conn.execute(text("PRAGMA table_info(score_audit)"))}
    assert {"key_id", "key_name"} <= cols
    assert "duplicate names" in caplog.text  # no unique index while duplicates exist
    Session = make_sessionmaker(engine)
    with Session() as s:
        key, info, created = rotate_key(s, "demo", "admin")
        assert not created
        active = [k for k in list_keys(s) if k.name == "demo" and not k.revoked]
        assert [k.id for k in active] == [info.id]
        assert all(lookup_key(s, f"tml_old-{k}") is None for k in range(3))
    create_all(engine)  # idempotent
    engine.dispose()


def test_sessions_expire_end_on_sign_out_and_on_revocation(Session):
    from trendml.store.keys import create_key, revoke_key, rotate_key
    from trendml.store.sessions import UiSession, end_session, lookup_session, start_session

    with Session() as s:
        _, ana = create_key(s, "analyst", "ana")
        sid, csrf = start_session(s, ana.id)
        found = lookup_session(s, sid)
        assert found.key.name == "ana" and found.csrf == csrf
        assert s.get(UiSession, sid) is None, "only a hash of the id is stored"
        assert lookup_session(s, sid + "x") is None
        assert end_session(s, sid) and lookup_session(s, sid) is None
        expired, _ = start_session(s, ana.id, ttl_s=-1)
        assert lookup_session(s, expired) is None
        live, _ = start_session(s, ana.id, ttl_s=timedelta(hours=1).total_seconds())
        revoke_key(s, ana.id)
        assert lookup_session(s, live) is None
        assert s.query(UiSession).filter(UiSession.key_id == ana.id).count() == 0
        _, demo, _ = rotate_key(s, "demo", "admin")
        demo_sid, _ = start_session(s, demo.id)
        rotate_key(s, "demo", "admin")
        assert lookup_session(s, demo_sid) is None, "rotating a key ends its sessions"


def test_admin_audit_rows_are_listed_newest_first(Session):
    from trendml.store.admin_audit import list_admin, record_admin

    with Session() as s:
        record_admin(
            s, "key.create", actor="root-admin", key_id=1, target="#2 ana", detail={"role": "analyst"}
        )
        record_admin(s, "detect", actor="schedule", detail={"n_trends": 3})
        rows = [r.to_dict() for r in list_admin(s)]
        assert [r["action"] for r in rows] == ["detect", "key.create"]
        assert rows[1]["actor"] == "root-admin" and rows[1]["key_id"] == 1 and rows[1]["at"]
        assert [r.action for r in list_admin(s, action="detect")] == ["detect"]


def test_scores_are_written_only_onto_matching_content(Session):
    from trendml.store.items import StoredItem, add_items, content_conflicts, record_scores
    from trendml.text import content_hash

    stored = Item(id="a", text="the stored words")
    other = Item(id="a", text="other words entirely")
    with Session() as s:
        add_items(s, [stored])
        assert content_conflicts(s, [stored, Item(id="new", text="x")]) == []
        assert content_conflicts(s, [Item(id="new", text="x"), other]) == [1]
        score = {"id": "a", "severity": 3, "severity_probs": [0, 0, 0, 1], "model": {"version": "9"}}
        record_scores(s, [{**score, "content_hash": content_hash(other.content)}])
        s.commit()
        assert s.get(StoredItem, "a").severity is None
        record_scores(s, [{**score, "content_hash": content_hash(stored.content)}])
        s.commit()
        assert s.get(StoredItem, "a").severity == 3


def test_token_buckets_allow_a_burst_then_refill_per_key():
    from service.ratelimit import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=3, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("k")
    assert wait == pytest.approx(1.0)
    assert buckets.take("other") == 0.0, "each key has its own bucket"
    now[0] += 1.0
    assert buckets.take("k") == 0.0
    assert buckets.take("k") > 0


def test_a_quota_under_one_request_per_minute_still_lets_one_through():
    from service.ratelimit import StoreBuckets, TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(per_minute=0.5, clock=lambda: now[0])  # bucket of 1, not 0.5
    assert buckets.take("k") == 0.0 and buckets.take("k") == pytest.approx(120.0)
    assert StoreBuckets(per_minute=0.5).burst == 1.0 and StoreBuckets(per_minute=30, burst=5).burst == 5.0
