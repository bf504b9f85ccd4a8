"""Bad input over real HTTP: 422 naming the field, 413 for too many items, 404 for unknown ids,
never a 500; plus a bounded hypothesis fuzz of the write endpoints."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trendml.config import Settings

LIMITS = Settings()
GOOD = {"id": "bad-1", "text": "a plain comment", "created_at": "2026-03-01T12:00:00Z", "region": "US"}


def _item(**changes):
    out = dict(GOOD)
    for k, v in changes.items():
        if v is _DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


_DROP = object()

CASES = [
    ({"items": [_item(id=_DROP)]}, "items[0].id"),
    ({"items": [_item(text=_DROP)]}, "items[0]"),
    ({"items": [_item(created_at="yesterday")]}, "items[0].created_at"),
    ({"items": [_item(region="Narnia")]}, "items[0].region"),
    ({"items": [_item(text=42)]}, "items[0].text"),
    ({"items": [GOOD, _item(id="")]}, "items[1].id"),
    ({"items": []}, "items"),
    ({"items": "nope"}, "items"),
    ({"things": [GOOD]}, "items"),
]


@pytest.mark.parametrize("path,role", [("/v1/items", "triage"), ("/v1/score", "triage")])
@pytest.mark.parametrize("body,field", CASES)
def test_schema_errors_are_422_naming_the_field(server, path, role, body, field):
    r = server.request("POST", path, role, json=body)
    if r.status_code == 503 and path == "/v1/score":
        pytest.skip("no model loaded")
    assert r.status_code == 422, r.text
    payload = r.json()
    assert set(payload) == {"error", "field", "detail"}
    assert payload["field"] == field
    assert payload["detail"]


@pytest.mark.parametrize("path", ["/v1/items", "/v1/score"])
def test_too_many_items_is_413(server, path):
    items = [_item(id=f"many-{i}") for i in range(LIMITS.max_items_per_request + 1)]
    r = server.request("POST", path, "triage", json={"items": items})
    if r.status_code == 503 and path == "/v1/score":
        pytest.skip("no model loaded")
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "items"
    assert str(LIMITS.max_items_per_request) in r.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/items", "/v1/score"])
def test_text_over_limit_is_422(server, path):
    r = server.request(
        "POST", path, "triage", json={"items": [_item(text="x" * (LIMITS.max_text_chars + 1))]}
    )
    if r.status_code == 503 and path == "/v1/score":
        pytest.skip("no model loaded")
    assert r.status_code == 422
    assert r.json()["field"] == "items[0].text"
    assert f"{LIMITS.max_text_chars:,}" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/items", "/v1/score"])
def test_not_json_is_422(server, path):
    r = server.request(
        "POST", path, "triage", content=b'{"items": [', headers={"Content-Type": "application/json"}
    )
    if r.status_code == 503 and path == "/v1/score":
        pytest.skip("no model loaded")
    assert r.status_code == 422
    assert r.json()["error"] == "invalid JSON"


def test_unknown_trend_is_404(server):
    r = server.request("GET", "/v1/trends/does-not-exist", "analyst")
    assert r.status_code == 404
    assert r.json()["field"] == "trend_id"
    r = server.request("POST", "/v1/trends/does-not-exist/feedback", "analyst", json={"action": "confirm"})
    assert r.status_code == 404


@pytest.mark.parametrize(
    "query,field",
    [
        ("emerging=maybe", "emerging"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("since=soon", "since"),
        ("region=USA", "region"),
    ],
)
def test_bad_trend_filters_are_422(server, query, field):
    r = server.request("GET", f"/v1/trends?{query}", "analyst")
    assert r.status_code == 422
    assert r.json()["field"] == field


def test_bad_feedback_is_422(server):
    r = server.request("POST", "/v1/trends/x/feedback", "analyst", json={"action": "like"})
    assert r.status_code == 422
    assert r.json()["field"] == "action"
    r = server.request(
        "POST", "/v1/trends/x/feedback", "analyst", json={"action": "confirm", "note": "n" * 3000}
    )
    assert r.status_code == 422
    assert r.json()["field"] == "note"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
item_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=20), st.integers(), st.none()),
        "text": st.one_of(st.text(max_size=50), st.none(), st.integers()),
        "caption": st.one_of(st.text(max_size=20), st.none()),
        "created_at": st.one_of(
            st.text(max_size=25),
            st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
                lambda d: d.isoformat()
            ),
            st.none(),
        ),
        "region": st.one_of(st.sampled_from(["US", "GB", "us", "XX", ""]), st.text(max_size=3)),
        "source": json_values,
    },
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"items": st.one_of(st.lists(item_like, max_size=4), json_values)}),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=bodies, path=st.sampled_from(["/v1/items", "/v1/score", "/v1/trends/T1/feedback", "/v1/detect"]))
def test_fuzz_never_500(server, body, path):
    r = server.request("POST", path, "admin", json=body)
    assert r.status_code < 500 or r.status_code == 503, (r.status_code, r.text)
    if r.status_code >= 400:
        assert set(r.json()) >= {"error", "detail"}
