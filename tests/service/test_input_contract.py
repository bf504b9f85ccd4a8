"""Issue 19 (operator walkthrough) and issue 14 item 2 (field limits), over real HTTP on the session
server: the item contract gives the same 4xx naming the field on ``/v1/items`` and ``/v1/score``;
out-of-range parameters are 4xx; a request the middleware cannot validate is answered at once and
does not hold shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx
import pytest

from tests.service.harness import start_server

PATHS = ["/v1/items", "/v1/score"]
HANG = "0001-01-01T00:00:00+01:00"


def post_raw(server, path: str, body: object, role: str = "triage", timeout: float = 30) -> httpx.Response:
    """POST ``body`` as ASCII JSON (lone surrogates as ``\\ud800`` escapes, as a client would send them)."""
    with server.client(role, timeout=timeout) as c:
        return c.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def _check_422(r: httpx.Response, field: str) -> None:
    if r.status_code == 503:
        pytest.skip("no model loaded")
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "field", "detail"} and body["detail"]
    assert body["field"] == field, body


# ----------------------------------------------------------------------------- item 1
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("created_at", [HANG, "9999-12-31T23:59:59-01:00"])
def test_created_at_outside_utc_is_422_at_once(server, path, created_at):
    t0 = time.monotonic()
    r = post_raw(server, path, {"items": [{"id": "h9", "text": "abc", "created_at": created_at}]})
    _check_422(r, "items[0].created_at")
    assert time.monotonic() - t0 < 30  # answered, not left to the 600 s traffic timeout


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("created_at", ["1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z"])
def test_created_at_bounds_on_every_path(server, path, created_at):
    r = post_raw(server, path, {"items": [{"id": "b1", "text": "abc", "created_at": created_at}]})
    _check_422(r, "items[0].created_at")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["source", "report_reason"])
def test_source_and_report_reason_are_bounded(server, path, name):
    r = post_raw(server, path, {"items": [{"id": "m1", "text": "abc", name: "s" * 200_000}]})
    _check_422(r, f"items[0].{name}")
    assert "128" in r.json()["detail"]


def test_hang_request_is_answered_and_shutdown_is_clean(server, service_home, keys):
    """The reproduction of issue 19 item 1 on a server of its own: answered at once, and a TERM to
    the process group ends every process of it promptly, freeing the port."""
    import psutil

    ready = server.request("GET", "/readyz").status_code == 200
    srv = start_server(service_home, keys=keys, need_ready=ready)
    try:
        tree = [psutil.Process(srv.proc.pid), *psutil.Process(srv.proc.pid).children(recursive=True)]
        body = {"items": [{"id": "h9", "text": "abc", "created_at": HANG}]}
        for path in PATHS:
            r = post_raw(srv, path, body)
            assert r.status_code in (422, 503) and (r.status_code == 503 or r.json()["field"]), r.text
        t0 = time.monotonic()
        os.killpg(srv.proc.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=45)
        waited = time.monotonic() - t0
        assert not alive, f"still running {waited:.0f}s after TERM: {[p.pid for p in alive]}"
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", srv.port))  # the port is free again
    finally:
        srv.stop(signal.SIGKILL)


def test_middleware_answers_an_exception_before_the_response():
    """Whatever escapes before a response started becomes a 500 JSON answer, never silence
    (BentoML's timeout middleware would otherwise wait for its whole timeout)."""
    import asyncio

    from service.auth import AuthMiddleware

    async def broken_app(scope, receive, send):
        raise OverflowError("date value out of range")

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    mw = AuthMiddleware(broken_app)
    scope = {"type": "http", "path": "/healthz", "method": "GET", "headers": []}
    # a loop of its own on a thread of its own: another test (Playwright) may run one on this thread
    worker = threading.Thread(target=lambda: asyncio.run(mw(scope, receive, send)))
    worker.start()
    worker.join(timeout=30)
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"])["error"] == "internal error"


# ----------------------------------------------------------------------------- items 3 and 4
INVISIBLE = ["\u200b", "\u200e\u200f", "\u2066\u2069", "\x01\x02", "&nbsp;", "&#8203;", "\ufeff\u3164"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_only_content_is_422(server, path, text):
    r = post_raw(server, path, {"items": [{"id": "inv-1", "text": text, "region": "US"}]})
    _check_422(r, "items[0]")
    assert "visible" in r.json()["detail"] or "empty" in r.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["text", "caption", "id", "source"])
def test_lone_surrogate_is_422_naming_the_field(server, path, name):
    item = {"id": "sur-1", "text": "fine", name: "\ud800 abc"}
    r = post_raw(server, path, {"items": [item]})
    _check_422(r, f"items[0].{name}")
    assert "surrogate" in r.json()["detail"]


# ----------------------------------------------------------------------------- item 5
@pytest.mark.parametrize("path", PATHS)
def test_duplicate_ids_in_one_request_are_422_naming_the_repeat(server, path):
    items = [
        {"id": "dup-x", "text": "first"},
        {"id": "dup-y", "text": "y"},
        {"id": "dup-x", "text": "second"},
    ]
    r = post_raw(server, path, {"items": items})
    _check_422(r, "items[2].id")
    assert "items[0].id" in r.json()["detail"]


def test_duplicate_ids_across_requests_keep_the_first(server):
    first = post_raw(server, "/v1/items", {"items": [{"id": "dup-across", "text": "first"}]})
    again = post_raw(server, "/v1/items", {"items": [{"id": "dup-across", "text": "second"}]})
    assert first.status_code == again.status_code == 200
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 1


# ----------------------------------------------------------------------------- item 6
@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_since_outside_utc_is_422(server, since):
    r = server.request("GET", "/v1/trends", "analyst", params={"since": since})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "since"
    r = server.request("POST", "/v1/detect", "admin", json={"since": since})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "since"


def test_huge_key_id_is_404(server):
    r = server.request("DELETE", "/v1/keys/99999999999999999999", "admin")
    assert r.status_code == 404, r.text


# ----------------------------------------------------------------------------- item 7
@contextmanager
def _dashboard(server, role: str = "analyst") -> Iterator[httpx.Client]:
    """Sign in on the dashboard's own form (any hidden field it carries is sent back)."""
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60, headers={"Origin": server.url})
    page = c.get("/ui/login").text
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    try:
        r = c.post("/ui/login", data={**fields, "key": server.keys[role]})
        assert r.status_code == 303, r.text[:300]
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("page", ["²", "٣", "-1", "99999999999999999999"])
def test_dashboard_page_parameters_are_400(server, page):
    with _dashboard(server) as c:
        for path in ("/ui/queue", "/ui/trends"):
            r = c.get(path, params={"page": page})
            assert r.status_code == 400, (path, r.status_code)


def test_dashboard_since_honours_the_offset(server, detected):
    latest = max(
        t["last_seen"] for t in server.request("GET", "/v1/trends?limit=500", "analyst").json()["items"]
    )
    start = datetime.fromisoformat(latest.replace("Z", "+00:00")).replace(tzinfo=None)
    local = (start + timedelta(hours=10)).isoformat() + "+14:00"  # = start - 4 h in UTC
    utc = (start - timedelta(hours=4)).isoformat() + "Z"
    api = server.request("GET", "/v1/trends", "analyst", params={"since": local, "limit": 500}).json()
    assert api["total"] >= 1
    with _dashboard(server) as c:
        pages = [c.get("/ui/trends", params={"since": since}) for since in (local, utc)]
    assert [p.status_code for p in pages] == [200, 200]
    listed = [set(re.findall(r'/ui/trends/([^"?#/]+)"', p.text)) for p in pages]
    assert listed[0] == listed[1] and len(listed[0]) >= 1


# ----------------------------------------------------------------------------- item 9
def test_feedback_of_an_unknown_trend_is_404(server):
    r = server.request("GET", "/v1/trends/nope/feedback", "analyst")
    assert r.status_code == 404, r.text
    assert r.json()["field"] == "trend_id"


@pytest.mark.parametrize("path", PATHS)
def test_body_with_a_bom_is_accepted_on_both_paths(server, path):
    body = b"\xef\xbb\xbf" + json.dumps({"items": [{"id": "bom-1", "text": "a plain comment"}]}).encode()
    with server.client("triage") as c:
        r = c.post(path, content=body, headers={"Content-Type": "application/json"})
    if r.status_code == 503:
        pytest.skip("no model loaded")
    assert r.status_code == 200, r.text
