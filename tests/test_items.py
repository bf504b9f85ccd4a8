from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from trendml.errors import InputError
from trendml.items import Item, parse_items, read_items, validate_item, write_items, write_rejects


def _jsonl(*records) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode() + b"\n"


def test_valid_item_and_defaults():
    it = validate_item({"id": "a", "text": "hi", "created_at": "2026-03-01T12:00:00Z", "region": "us"})
    assert it.region == "US"
    assert it.created_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert it.content == "hi"


def test_naive_timestamp_is_utc_and_offsets_are_converted():
    it = validate_item({"id": "a", "text": "x", "created_at": "2026-03-01T12:00:00+02:00"})
    assert it.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    it = validate_item({"id": "a", "text": "x", "created_at": "2026-03-01 12:00:00"})
    assert it.created_at.tzinfo is UTC


def test_integer_id_is_accepted_as_string():
    assert validate_item({"id": 7, "text": "x"}).id == "7"


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ({"id": "a", "text": "", "caption": "  "}, "text", "text and caption are both empty"),
        ({"text": "x"}, "id", "id is missing"),
        ({"id": "", "text": "x"}, "id", "id is empty"),
        ({"id": "a", "text": "x", "created_at": "yesterday"}, "created_at", '"yesterday" is not ISO-8601'),
        ({"id": "a", "text": "x", "region": "ZZ"}, "region", "ISO 3166-1"),
        ({"id": "a", "text": 5}, "text", "expected a string"),
    ],
)
def test_bad_records_name_the_field(record, field, fragment):
    with pytest.raises(InputError) as exc:
        validate_item(record)
    assert exc.value.field == field
    assert fragment in exc.value.message


def test_too_long_text_is_rejected_with_the_limit():
    with pytest.raises(InputError) as exc:
        validate_item({"id": "a", "text": "x" * 1_000_000}, max_text_chars=10_000)
    assert exc.value.field == "text"
    assert "1,000,000 characters" in exc.value.message and "10,000" in exc.value.message


def test_error_names_the_line():
    data = _jsonl({"id": "a", "text": "x"}, {"id": "b", "text": "y", "created_at": "soon"})
    with pytest.raises(InputError) as exc:
        parse_items(data, source="f.jsonl")
    assert "f.jsonl line 2" in exc.value.message
    assert "--skip-invalid" in exc.value.message


def test_duplicate_ids_are_errors_naming_both_lines():
    data = _jsonl({"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"})
    with pytest.raises(InputError, match=r"line 3: id \"a\" duplicates line 1"):
        parse_items(data)


def test_non_utf8_line():
    data = _jsonl({"id": "a", "text": "x"}) + b'{"id": "b", "text": "\xff\xfe"}\n'
    with pytest.raises(InputError, match="line 2 is not valid UTF-8"):
        parse_items(data)


def test_skip_invalid_keeps_good_records_and_reports_every_bad_one(tmp_path):
    data = (
        _jsonl({"id": "a", "text": "x"}, {"id": "b"}, {"id": "a", "text": "dup"})
        + b"not json\n"
        + b'{"id": "c", "text": "\xff"}\n'
        + _jsonl({"id": "d", "caption": "ok"})
    )
    result = parse_items(data, skip_invalid=True)
    assert [it.id for it in result.items] == ["a", "d"]
    assert [r.line for r in result.rejects] == [2, 3, 4, 5]
    out = write_rejects(result.rejects, tmp_path / "rejects.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [2, 3, 4, 5]
    assert rows[0]["field"] == "text"


def test_empty_input_is_an_error():
    with pytest.raises(InputError, match="holds no valid items"):
        parse_items(b"\n\n")


def test_require_created_at():
    with pytest.raises(InputError, match="created_at is missing"):
        parse_items(_jsonl({"id": "a", "text": "x"}), require_created_at=True)


def test_csv_reader_and_missing_column(tmp_path):
    good = tmp_path / "items.csv"
    good.write_text('id,text,created_at,region\n1,hello,2026-03-01T00:00:00Z,US\n2,"a, b",,\n')
    result = read_items(good)
    assert [it.id for it in result.items] == ["1", "2"]
    assert result.items[1].text == "a, b" and result.items[1].region is None
    bad = tmp_path / "bad.csv"
    bad.write_text("identifier,text\n1,hello\n")
    with pytest.raises(InputError, match="expected an 'id' column"):
        read_items(bad)


def test_round_trip_jsonl(tmp_path):
    items = [Item(id="a", text="x", region="US"), Item(id="b", caption="y")]
    path = write_items(items, tmp_path / "out.jsonl")
    assert read_items(path).items == items


def test_missing_file():
    with pytest.raises(InputError, match="does not exist"):
        read_items("/nonexistent/items.jsonl")
