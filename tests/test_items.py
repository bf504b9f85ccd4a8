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


# --------------------------------------------------------------------------- issue 19 / 14 contract
from datetime import timedelta  # noqa: E402

from trendml.config import Settings  # noqa: E402
from trendml.items import META_MAX_CHARS, ItemLimits, first_duplicate  # noqa: E402
from trendml.text import has_visible_text  # noqa: E402


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+14:00"]
)
def test_created_at_outside_the_utc_calendar_is_an_input_error_not_overflow(value):
    with pytest.raises(InputError) as exc:
        validate_item({"id": "a", "text": "x", "created_at": value})
    assert exc.value.field == "created_at"
    assert "outside the calendar" in exc.value.message


@pytest.mark.parametrize(
    "value", ["1999-12-31T23:59:59Z", "2000-01-01T00:30:00+01:00", "2999-01-01T00:00:00Z"]
)
def test_created_at_is_bounded(value):
    with pytest.raises(InputError) as exc:
        validate_item({"id": "a", "text": "x", "created_at": value})
    assert exc.value.field == "created_at"
    assert "TRENDML_M" in exc.value.message  # names the setting that moves the bound


def test_created_at_bounds_edges_and_configuration():
    assert validate_item({"id": "a", "text": "x", "created_at": "2000-01-01T00:00:00Z"}).created_at
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    assert validate_item({"id": "a", "text": "x", "created_at": soon}).created_at
    limits = ItemLimits.from_settings(
        Settings.from_env({"TRENDML_MIN_CREATED_AT": "2020-01-01", "TRENDML_MAX_CREATED_AHEAD_S": "60"})
    )
    assert limits.min_created_at == datetime(2020, 1, 1, tzinfo=UTC) and limits.max_created_ahead_s == 60
    for value in ("2019-12-31T23:59:59Z", soon):
        with pytest.raises(InputError, match="created_at"):
            validate_item({"id": "a", "text": "x", "created_at": value}, limits=limits)
    data = _jsonl({"id": "a", "text": "x", "created_at": soon}, {"id": "b", "text": "y"})
    result = parse_items(data, skip_invalid=True, limits=limits)
    assert [it.id for it in result.items] == ["b"] and result.rejects[0].field == "created_at"


@pytest.mark.parametrize(
    "text",
    [
        "\u200b",
        "\u200e\u200f",
        "\u2066\u2069",
        "\x01\x02",
        "&nbsp;",
        "&#8203;",
        "&#8203;&zwnj;&lrm;",
        "\ufeff\u2060\u3164",
        "\u2800 \u00ad",
        "RT @someone:",
        "\U000e0041\U000e007f",
    ],
)
def test_content_with_nothing_visible_after_normalisation_is_rejected(text):
    with pytest.raises(InputError) as exc:
        validate_item({"id": "a", "text": text})
    assert exc.value.field == "text"
    assert "no visible character" in exc.value.message or "both empty" in exc.value.message
    with pytest.raises(InputError, match="line 1"):
        parse_items(_jsonl({"id": "a", "text": text}))


def test_visible_text_with_invisible_characters_is_kept():
    assert validate_item({"id": "a", "text": "\u200bhello\u200e"}).text == "\u200bhello\u200e"
    assert validate_item({"id": "a", "text": "\u200b", "caption": "a caption"}).content
    assert has_visible_text("é") and has_visible_text("\u0301") and not has_visible_text("\u200d \t")


@pytest.mark.parametrize("name", ["text", "caption", "id", "source", "report_reason"])
def test_lone_surrogates_and_nul_are_rejected_naming_the_field(name):
    for bad in ("\ud800 abc", "abc \udfff", "ab\x00c"):
        record = {"id": "a", "text": "fine", name: bad}
        with pytest.raises(InputError) as exc:
            validate_item(record)
        assert exc.value.field == name
        exc.value.message.encode("utf-8")  # the message itself is printable


def test_lone_surrogate_line_is_a_reject_with_skip_invalid():
    data = _jsonl({"id": "a", "text": "\ud800 abc"}, {"id": "b", "text": "fine"})
    result = parse_items(data, skip_invalid=True)
    assert [it.id for it in result.items] == ["b"]
    assert result.rejects[0].field == "text"
    json.loads(result.rejects[0].to_json())


@pytest.mark.parametrize("name", ["source", "report_reason"])
def test_source_and_report_reason_are_bounded(name):
    ok = validate_item({"id": "a", "text": "x", name: "s" * META_MAX_CHARS})
    assert len(getattr(ok, name)) == META_MAX_CHARS
    with pytest.raises(InputError) as exc:
        validate_item({"id": "a", "text": "x", name: "s" * 200_000})
    assert exc.value.field == name and "at most 128" in exc.value.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(1.5, "a number (1.5)"), (float("nan"), "NaN"), (True, "a boolean"), ([1], "a list"), ({}, "an object")],
)
def test_id_of_the_wrong_type_says_what_it_is(value, fragment):
    with pytest.raises(InputError) as exc:
        validate_item({"id": value, "text": "x"})
    assert exc.value.field == "id"
    assert fragment in exc.value.message and "expected a non-empty string" in exc.value.message
    assert "missing" not in exc.value.message and "empty;" not in exc.value.message


def test_jsonl_with_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _jsonl({"id": "a", "text": "x"}, {"id": "b", "text": "y"}))
    assert [it.id for it in read_items(path).items] == ["a", "b"]


def test_first_duplicate_is_the_one_rule():
    assert first_duplicate(["a", "b", "c"]) is None
    assert first_duplicate(["a", "b", "a", "b"]) == (2, 0)


def test_store_keeps_the_first_of_repeated_ids(tmp_path):
    from trendml.schema import create_all
    from trendml.store.base import make_engine, make_sessionmaker
    from trendml.store.items import add_items, get_items

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_all(engine)
    with make_sessionmaker(engine)() as session:
        first, second = Item(id="dup-x", text="first version"), Item(id="dup-x", text="second version")
        assert add_items(session, [first, second]) == (1, 1)
        assert get_items(session, ["dup-x"])["dup-x"].text == "first version"
    engine.dispose()


def test_repr_never_shows_the_text():
    """Reprs end up in logs, tracebacks and pytest's failure output: lengths only, never content."""
    item = Item(id="r1", text="some flagged words", caption="a caption", region="US")
    for shown in (repr(item), str(item), repr([item])):
        assert "flagged" not in shown and "caption'" not in shown
        assert "<hidden, 18 characters>" in shown and "<hidden, 9 characters>" in shown
    assert item.text == "some flagged words"  # the field itself is untouched
