"""``trendml items erase|erasures`` and ``trendml retention apply`` in process (SQLite home)."""

from __future__ import annotations

import json

from tests.conftest import call


def _store_item(item_id: str) -> str:
    from trendml.config import Settings
    from trendml.items import Item
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.items import add_items, get_items

    engine = make_engine(Settings.from_env().db_url)
    create_all(engine)
    with make_sessionmaker(engine)() as s:
        add_items(s, [Item(id=item_id, text="an ordinary comment about a football match")])
        h = get_items(s, [item_id])[item_id].content_hash
    engine.dispose()
    return h


def test_erase_and_read_the_log(home, capsys):
    h = _store_item("cli-1")
    code, out, err = call(capsys, "items", "erase", "nope")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nope" in err and "expected" in err
    code, _, err = call(capsys, "items", "erase", "cli-1", "--by", "dpo")
    assert code == 0 and "erased 1 item" in err
    code, out, _ = call(capsys, "items", "erasures", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["item_id"], r["content_hash"], r["actor"], r["reason"]) for r in rows] == [
        ("cli-1", h, "dpo", "request")
    ]
    code, _, err = call(capsys, "items", "erase", "cli-1")
    assert code == 2  # already erased: nothing stored under that id


def test_retention_apply(home, capsys, monkeypatch):
    _store_item("cli-2")
    code, _, err = call(capsys, "retention", "apply")
    assert code == 0 and "retention is off" in err
    code, _, err = call(capsys, "retention", "apply", "--days", "-1")
    assert code == 2 and "--days" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("TRENDML_RETENTION_DAYS", "30")
    code, _, err = call(capsys, "retention", "apply", "--dry-run")
    assert code == 0 and err.startswith("0 item(s) are older than 30 days")
    code, _, err = call(capsys, "retention", "apply")
    assert code == 0 and "erased 0 item(s)" in err
