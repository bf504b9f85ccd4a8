"""Batch input from a file, directory or glob of JSONL/CSV/Parquet (trendml.item_sources): order,
Parquet rows validated like JSONL lines, and bad input as one line with exit 2 (no model needed)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import call
from trendml.errors import InputError
from trendml.item_sources import expand_sources, read_item_sources


@pytest.fixture
def parts(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "b.jsonl").write_text(json.dumps({"id": "j1", "text": "good morning"}) + "\n")
    (d / "a.csv").write_text("id,text,region\nc1,hello there,US\n")
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"id": "p1", "text": "nice weather", "created_at": "2026-03-01T12:00:00Z", "extra": 1},
                {"id": "p2", "text": None, "created_at": None, "extra": 2},  # no text: invalid
            ]
        ),
        d / "c.parquet",
    )
    (d / "notes.txt").write_text("not items")
    return d


def test_directory_and_glob_in_sorted_order_with_parquet_rows_checked(parts):
    assert [p.name for p in expand_sources(parts)] == ["a.csv", "b.jsonl", "c.parquet"]
    assert [p.name for p in expand_sources(f"{parts}/*.jsonl")] == ["b.jsonl"]
    with pytest.raises(InputError, match=r"c.parquet line 2"):
        read_item_sources(parts)
    res = read_item_sources(parts, skip_invalid=True)
    assert [it.id for it in res.items] == ["c1", "j1", "p1"]
    assert res.items[2].created_at is not None and res.items[0].region == "US"
    assert [r.line for r in res.rejects] == [2]


def test_bad_sources_are_one_line_exit_2(parts, tmp_path, capsys):
    (parts / "d.jsonl").write_text(json.dumps({"id": "j1", "text": "again"}) + "\n")
    out = tmp_path / "v.npy"
    cases = [
        (f"{parts}/*.jsonl", "also in"),  # j1 in b.jsonl and d.jsonl
        (f"{tmp_path}/nothing-*.jsonl", "matches no files"),
        (str(tmp_path / "missing.jsonl"), "does not exist"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((str(empty), "holds no items files"))
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.Table.from_pylist([{"key": "x", "text": "hi"}]), bad / "x.parquet")
    cases.append((str(bad), "expected an 'id' column"))
    for spec, expect in cases:
        code, _, err = call(capsys, "embed", spec, "-o", str(out))
        assert code == 2 and expect in err and "Traceback" not in err, (spec, err)
        assert len(err.strip().splitlines()) == 1
        assert not out.exists()
