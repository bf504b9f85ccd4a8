"""Property test of the item contract over the whole input space (issue 19, "beyond the list"):
datetimes at the calendar's edges with every UTC offset, all of Unicode (surrogates, controls,
format characters, HTML entities), numbers and booleans where strings belong.

Each generated record goes through the CLI reader (:func:`trendml.items.parse_items`, what every
command reads with), ``POST /v1/items`` and ``POST /v1/score``: the same accept/reject decision
on every path, a 422 naming the same field or the CLI's error naming it, never a 5xx or a hang.
The in-process part checks many examples against the service's own validation code; the HTTP part
sends fewer through the real server (one per session), each request bounded by a timeout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trendml.errors import InputError
from trendml.items import parse_items, parse_timestamp

# ----------------------------------------------------------------------------- strategies
ALL_UNICODE = st.characters(exclude_categories=())  # surrogates (Cs) included
INVISIBLE = [
    *"\u200b\u200c\u200d\u200e\u200f\u2066\u2067\u2068\u2069\u202a\u202e\ufeff\u2060\u3164\u2800",
    *"\x00\x01\x1f\x7f\u00ad\u180e\ufe0f \n\t\u3000\u00a0",
    "\ud800",
    "\udfff",
    "\U000e0041",
    "&nbsp;",
    "&#8203;",
    "&zwnj;",
    "&amp;#8203;",
    "&#xD800;",
]
WORDS = ["hello", "a plain comment", "RT @USER:", "@someone", "http://x.y/z", "é", "٣", "&amp;"]

not_strings = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=1),
)
texts = st.lists(
    st.one_of(st.sampled_from(INVISIBLE), st.sampled_from(WORDS), st.text(ALL_UNICODE, max_size=8)),
    max_size=4,
).map("".join)

OFFSETS = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m))),
    st.sampled_from([timezone(timedelta(hours=h)) for h in (-14, -12, -1, 1, 12, 14)]),
)
EDGES = [
    datetime(1, 1, 1),
    datetime(1, 1, 1, 23, 59, 59),
    datetime(1999, 12, 31, 23, 59, 59),
    datetime(2000, 1, 1),
    datetime(2000, 1, 1, 0, 0, 1),
    datetime(2026, 2, 28, 23, 59),
    datetime(2028, 2, 29, 12),
    datetime(9999, 12, 31),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]
NOW = datetime.now(UTC).replace(tzinfo=None)


def _render(dt: datetime, tz: timezone | None, style: str) -> str:
    if style == "date":
        return dt.date().isoformat()
    aware = dt.replace(tzinfo=tz)
    out = aware.isoformat(sep=" " if style == "space" else "T")
    return out.replace("+00:00", "Z") if style == "Z" else out


def _far_from_the_upper_bound(value: object) -> bool:
    """Drop times within an hour of "now + 1 day": the clock moves between the three paths."""
    if not isinstance(value, str):
        return True
    try:
        utc = parse_timestamp(value)
    except ValueError:
        return True
    return abs((utc - (datetime.now(UTC) + timedelta(days=1))).total_seconds()) > 3600


created_ats = st.one_of(
    st.builds(
        _render,
        st.one_of(
            st.sampled_from(EDGES),
            st.datetimes(),  # years 1..9999
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=NOW + timedelta(days=3)),
        ),
        OFFSETS,
        st.sampled_from(["iso", "Z", "space", "date"]),
    ).filter(_far_from_the_upper_bound),
    texts,
    not_strings,
    st.none(),
)
ids = st.one_of(
    st.text(ALL_UNICODE, min_size=1, max_size=10),
    st.sampled_from(["", " ", "\u200b", "a" * 257, "ok-id"]),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
)
optional_strings = st.one_of(st.none(), texts, st.just("s" * 128), st.just("s" * 129), not_strings)
DROP = object()

#: A valid record, then 0..3 of its fields replaced from the whole space (or dropped), so every
#: rule is met alone and in combination, and accepted records are common.
base_records = st.fixed_dictionaries(
    {
        "id": st.one_of(
            st.integers(0, 10**9).map(lambda n: f"p{n}"),
            st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=12),
        ),
        "text": st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
    },
    optional={
        "caption": st.sampled_from(["a caption", "\u200b"]),
        "created_at": st.datetimes(min_value=datetime(2000, 1, 1), max_value=NOW).map(
            lambda d: d.isoformat() + "Z"
        ),
        "region": st.sampled_from(["US", "gb", "DE"]),
        "source": st.just("video_comment"),
        "report_reason": st.just("harassment"),
    },
)
REPLACEMENTS = {
    "id": st.one_of(ids, st.just(DROP), st.none()),
    "text": st.one_of(st.none(), texts, not_strings, st.just(DROP)),
    "caption": st.one_of(st.none(), texts, not_strings),
    "created_at": created_ats,
    "region": st.one_of(st.sampled_from(["US", "us", " gb ", "XX", "", "ZZ"]), texts, not_strings),
    "source": optional_strings,
    "report_reason": optional_strings,
}


def _apply(record: dict, changes: dict) -> dict:
    out = dict(record)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


records = st.builds(
    _apply,
    base_records,
    st.lists(st.sampled_from(sorted(REPLACEMENTS)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: REPLACEMENTS[k] for k in keys})
    ),
)
# ids unique within one batch (as the contract requires; duplicates have tests of their own)
batches = st.lists(records, min_size=1, max_size=4, unique_by=lambda r: str(r.get("id", "<none>")))


# ----------------------------------------------------------------------------- the three decisions
def _line(record: dict) -> bytes:
    return json.dumps(record).encode()  # ASCII JSON, lone surrogates as \ud800 escapes


def cli_decision(record: dict) -> str | None:
    """None when the CLI reader accepts the line, else the field it names (\"-\" for none)."""
    try:
        parse_items(_line(record) + b"\n", source="gen.jsonl")
    except InputError as exc:
        assert exc.message.startswith("gen.jsonl line 1") and "; expected" in exc.message, exc.message
        exc.message.encode("utf-8")  # printable: no lone surrogate echoed back
        return exc.field or "-"
    return None


def _service_field(field: str | None) -> str:
    """``items[0].text`` -> ``text``; ``items[0]`` (a rule over text and caption) -> ``text``,
    the name the CLI reader gives it."""
    rest = (field or "").removeprefix("items[0]").lstrip(".")
    return rest or "text"


def _same_field(cli_field: str, service_field: str | None) -> bool:
    return cli_field == _service_field(service_field)


# ----------------------------------------------------------------------------- in process (many examples)
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(record=records)
def test_cli_reader_and_service_validation_agree(record):
    from service.auth import _parse_score
    from service.errors import validation_response
    from service.schemas import ItemsRequest

    cli = cli_decision(record)
    body = b'{"items": [' + _line(record) + b"]}"
    # /v1/items: FastAPI decodes with json.loads, then validates the object
    try:
        ItemsRequest.model_validate(json.loads(body))
        items = None
    except ValidationError as exc:
        status, payload = validation_response(exc)
        assert status == 422
        items = payload["field"]
    # /v1/score: the auth middleware's check
    _, refusal = _parse_score(body)
    if cli is None:
        assert items is None and refusal is None, (items, refusal)
    else:
        assert items is not None and refusal is not None, (cli, items, refusal)
        assert refusal[0] == 422 and refusal[1]["detail"]
        assert _same_field(cli, items) and _same_field(cli, refusal[1]["field"]), (cli, items, refusal)


# ----------------------------------------------------------------------------- over HTTP (session server)
def _post(client: httpx.Client, path: str, items: list[dict]) -> httpx.Response:
    body = b'{"items": [' + b", ".join(_line(r) for r in items) + b"]}"
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(batch=batches)
def test_every_path_decides_alike_over_http(server, batch):
    scoring = server.request("GET", "/readyz").status_code == 200
    paths = ["/v1/items", "/v1/score"] if scoring else ["/v1/items"]
    decisions = [cli_decision(r) for r in batch]
    accepted = [r for r, d in zip(batch, decisions, strict=True) if d is None]
    with server.client("triage", timeout=60) as client:
        for path in paths:
            for record, cli in zip(batch, decisions, strict=True):
                if cli is None:
                    continue
                r = _post(client, path, [record])
                assert r.status_code == 422, (path, cli, r.status_code, r.text[:300])
                payload = r.json()
                assert set(payload) == {"error", "field", "detail"} and payload["detail"]
                assert _same_field(cli, payload["field"]), (path, cli, payload)
            if accepted:
                r = _post(client, path, accepted)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                if path == "/v1/score":
                    assert [s["id"] for s in r.json()] == [str(a["id"]) for a in accepted]
                else:
                    assert r.json()["stored"] + r.json()["duplicates"] == len(accepted)
