"""Issue 14's review findings, each over real HTTP against the real service: body caps before
parsing (413), security headers and a docs page with no third-party script, one metrics label for
unknown paths, scores that must match stored content (409) and name their key, server-side
dashboard sessions, CSRF checks, unique key names, the admin audit log, and internal error text
for admins only (on a second server whose model cannot load, with per-key rate limits on); a 500's
traceback is logged once."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time

import pytest

from service.hardening import FORM_BODY_CAP, items_body_cap
from service.schemas import MAX_ITEMS, MAX_TEXT
from tests.service.harness import cli, create_key, login_form, make_keys, sign_in, start_server

SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def db(server) -> sqlite3.Connection:
    return sqlite3.connect(server.home / "trendml.db")


# ----------------------------------------------------------------------------- 1. body caps
def test_login_form_over_the_cap_is_413_before_it_is_read(server):
    big = b"key=" + b"a" * 3_600_000  # 3.6 MB urlencoded, no key: 413, not 401
    r = server.request(
        "POST", "/ui/login", content=big, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413, r.status_code
    assert r.json()["error"] == "request too large" and f"{FORM_BODY_CAP:,} bytes" in r.json()["detail"]
    files = {"file": ("x.bin", b"\0" * 5_000_000, "application/octet-stream")}
    r = server.request("POST", "/ui/login", files=files, data={"key": "k"})
    assert r.status_code == 413


def test_chunked_body_without_length_is_cut_at_the_cap(server):
    def chunks():
        for _ in range(40):
            yield b"a" * 4096  # 160 KiB in all, no Content-Length

    r = server.request(
        "POST", "/ui/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    r = server.request(
        "POST", "/v1/detect", "admin", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_items_body_cap_is_derived_from_the_limits(server):
    cap = items_body_cap(MAX_ITEMS, MAX_TEXT)
    assert cap == MAX_ITEMS * (2 * MAX_TEXT * 6 + 4096) + 65536
    body = b" " * (cap + 1)  # over the cap: refused before authentication and before JSON parsing
    for path in ("/v1/items", "/v1/score"):
        r = server.request("POST", path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413, (path, r.status_code)
        assert f"at most {MAX_ITEMS} items" in r.json()["detail"]
    # small routes have a small cap
    r = server.request(
        "POST", "/v1/keys", "admin", content=b" " * 70_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


# ----------------------------------------------------------------------------- 6. headers, docs
@pytest.mark.parametrize("path", ["/healthz", "/ui/login", "/v1/docs", "/", "/v1/openapi.json", "/v1/trends"])
def test_security_headers_on_every_answer(server, path):
    r = server.request("GET", path)
    for name, value in SECURITY.items():
        assert r.headers.get(name) == value, (path, name)
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )


def test_api_docs_page_uses_only_local_assets(server):
    page = server.request("GET", "/v1/docs")
    assert page.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs
    assert "<script>" not in page.text, "no inline script (the CSP would block it)"
    for src in srcs:
        asset = server.request("GET", src)
        assert asset.status_code == 200 and len(asset.content) > 20, src


# ----------------------------------------------------------------------------- 7. metrics labels
def test_unknown_paths_share_one_metrics_label(server):
    def endpoints() -> set[str]:
        return set(re.findall(r'endpoint="([^"]*)"', server.request("GET", "/metrics", "analyst").text))

    def probe_round() -> list[str]:
        paths = [f"/probe-{secrets.token_hex(4)}" for _ in range(6)] + [f"/v1/probe-{secrets.token_hex(4)}"]
        for p in paths:
            assert server.request("GET", p).status_code == 401  # still needs a key
            assert server.request("GET", p, "analyst").status_code == 404
        trend = f"t-probe-{secrets.token_hex(4)}"
        assert server.request("GET", f"/v1/trends/{trend}", "analyst").status_code == 404
        return [*paths, trend]

    endpoints()  # the /metrics route's own series exist from here on
    sent = probe_round()
    first = endpoints()
    sent += probe_round()
    second = endpoints()
    assert not [p for p in sent if any(p in e for e in second)], "no raw path becomes a label"
    # a second round of 8 new unknown paths and trend ids adds no series at all
    assert second == first, sorted(second - first)
    assert not [e for e in second if "probe" in e]


# ----------------------------------------------------------------------------- 3. score vs stored content
def test_score_of_other_content_for_a_stored_id_is_409(server, champion):
    assert champion
    item = {
        "id": f"h-{secrets.token_hex(4)}",
        "text": "an ordinary comment about the weather",
        "region": "US",
    }
    assert server.request("POST", "/v1/items", "triage", json={"items": [item]}).status_code == 200
    first = server.request("POST", "/v1/score", "triage", json={"items": [item]})
    assert first.status_code == 200, first.text
    con = db(server)
    before = con.execute("SELECT severity, severity_probs FROM items WHERE id = ?", (item["id"],)).fetchone()
    n_audit = con.execute("SELECT count(*) FROM score_audit WHERE item_id = ?", (item["id"],)).fetchone()[0]
    con.close()
    other = {**item, "text": "completely different words sent for a stored id"}
    fresh = {"id": f"h-{secrets.token_hex(4)}", "text": "not stored at all"}
    r = server.request("POST", "/v1/score", "triage", json={"items": [fresh, other]})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "items[1]" and "stored with other content" in r.json()["detail"]
    con = db(server)
    after = con.execute("SELECT severity, severity_probs FROM items WHERE id = ?", (item["id"],)).fetchone()
    n_after = con.execute("SELECT count(*) FROM score_audit WHERE item_id = ?", (item["id"],)).fetchone()[0]
    rows = con.execute(
        "SELECT a.key_id, a.key_name, k.name FROM score_audit a JOIN api_keys k ON k.id = a.key_id "
        "WHERE a.item_id = ?",
        (item["id"],),
    ).fetchall()
    con.close()
    assert after == before and n_after == n_audit, "a refused score changes nothing stored"
    assert rows and all(name == kname == "test-triage" for _, name, kname in rows), "audit rows name the key"


def test_a_refused_request_batched_with_others_writes_nothing_and_they_are_scored(server, champion):
    """The stored-content check runs in the scoring batch, which holds items of many requests: only
    the request with the conflicting item is refused (409 naming its own index), nothing of it is
    audited, and the requests sent with it at the same moment are scored and audited."""
    assert champion
    tag = secrets.token_hex(4)
    stored = {"id": f"b-{tag}-stored", "text": "a quiet afternoon at the lake"}
    assert server.request("POST", "/v1/items", "triage", json={"items": [stored]}).status_code == 200
    bad = [
        {"id": f"b-{tag}-x0", "text": "first words of the refused request"},
        {"id": f"b-{tag}-x1", "text": "second words of the refused request"},
        {**stored, "text": "other words sent for the stored id"},
    ]
    good = [
        [{"id": f"b-{tag}-g{i}-{j}", "text": f"clean comment {i} {j}"} for j in range(2)] for i in range(7)
    ]
    bodies = good[:3] + [bad] + good[3:]  # the refused request sits between others' items
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(
            pool.map(lambda b: server.request("POST", "/v1/score", "triage", json={"items": b}), bodies)
        )
    codes = [r.status_code for r in answers]
    assert codes == [200] * 3 + [409] + [200] * 4, [(r.status_code, r.text[:200]) for r in answers]
    assert answers[3].json()["field"] == "items[2]", answers[3].text
    for body, r in zip(bodies, answers, strict=True):
        if r.status_code == 200:
            assert [x["id"] for x in r.json()] == [it["id"] for it in body]
    con = db(server)
    audited = {
        row[0] for row in con.execute("SELECT item_id FROM score_audit WHERE item_id LIKE ?", (f"b-{tag}-%",))
    }
    con.close()
    assert audited == {it["id"] for b in good for it in b}, "the refused request wrote nothing, the rest all"


def test_a_client_cannot_set_the_audited_key(server, champion):
    assert champion
    item = {
        "id": f"spoof-{secrets.token_hex(4)}",
        "text": "hello there",
        "caller_key_id": 1,
        "caller_key_name": "x",
    }
    r = server.request("POST", "/v1/score", "triage", json={"items": [item]})
    assert r.status_code == 200, r.text
    con = db(server)
    row = con.execute("SELECT key_name FROM score_audit WHERE item_id = ?", (item["id"],)).fetchone()
    con.close()
    assert row == ("test-triage",)


# ----------------------------------------------------------------------------- 4, 5. sessions, CSRF
def test_dashboard_cookie_is_an_opaque_server_side_session(server):
    c, token = sign_in(server, server.keys["analyst"])
    sid = c.cookies.get("trendml_session")
    assert sid and server.keys["analyst"] not in sid and "trendml_key" not in c.cookies
    assert server.keys["analyst"] not in str(c.cookies.jar)
    con = db(server)
    assert con.execute("SELECT count(*) FROM ui_sessions WHERE id_hash = ?", (sid,)).fetchone()[0] == 0
    con.close()
    # sign-out ends it on the server: the same cookie, replayed, no longer works
    r = c.post("/ui/logout", data={"csrf": token}, headers={"Origin": server.url})
    assert r.status_code == 303
    replay = server.client(cookies={"trendml_session": sid})
    r = replay.get("/ui/trends")
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]


def test_session_expiry_is_enforced_by_the_server(server):
    c, _ = sign_in(server, server.keys["analyst"])
    con = db(server)
    con.execute(
        "UPDATE ui_sessions SET expires_at = '2001-01-01 00:00:00.000000' WHERE key_id = "
        "(SELECT id FROM api_keys WHERE name = 'test-analyst')"
    )
    con.commit()
    con.close()
    r = c.get("/ui/trends")  # the browser would still send the cookie
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]


def test_revoking_a_key_ends_its_sessions(server):
    made = server.request(
        "POST", "/v1/keys", "admin", json={"role": "analyst", "name": f"s-{secrets.token_hex(3)}"}
    )
    assert made.status_code == 201
    c, _ = sign_in(server, made.json()["key"])
    assert server.request("DELETE", f"/v1/keys/{made.json()['id']}", "admin").status_code == 200
    r = c.get("/ui/trends")
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]
    con = db(server)
    assert (
        con.execute("SELECT count(*) FROM ui_sessions WHERE key_id = ?", (made.json()["id"],)).fetchone()[0]
        == 0
    )
    con.close()


def test_login_needs_same_origin_and_the_form_token(server):
    key = server.keys["analyst"]
    c = server.client()
    token = login_form(c)
    cases = [
        ({"Origin": "http://evil.example"}, token),
        ({"Referer": "http://evil.example/page"}, token),
        ({}, token),  # neither header
        ({"Origin": server.url}, "forged"),
        ({"Origin": server.url}, None),
    ]
    for headers, tok in cases:
        data = {"key": key} | ({"csrf": tok} if tok else {})
        r = c.post("/ui/login", data=data, headers=headers)
        assert r.status_code == 403, (headers, tok, r.status_code)
        assert "trendml_session" not in c.cookies
    # the Referer alone is enough when it is this site
    r = c.post("/ui/login", data={"key": key, "csrf": token}, headers={"Referer": server.url + "/ui/login"})
    assert r.status_code == 303


def test_decisions_need_same_origin_and_the_session_token(server, detected):
    listing = server.request("GET", "/v1/trends", "analyst").json()["items"]
    if not listing:
        pytest.skip("no trends detected")
    tid = listing[0]["trend_id"]
    before = len(server.request("GET", f"/v1/trends/{tid}/feedback", "analyst").json())
    c, token = sign_in(server, server.keys["analyst"])
    url = f"/ui/trends/{tid}/feedback"
    for headers, data in [
        ({"Origin": "http://evil.example"}, {"action": "dismiss", "csrf": token}),
        ({"Origin": server.url}, {"action": "dismiss"}),
        ({"Origin": server.url}, {"action": "dismiss", "csrf": "x" * 43}),
        ({}, {"action": "dismiss", "csrf": token}),
    ]:
        r = c.post(url, data=data, headers=headers)
        assert r.status_code == 403, (headers, r.status_code)
    for headers, data in [
        ({"Origin": "http://evil.example"}, {"item_id": "x", "severity": "1", "csrf": token})
    ]:
        assert c.post("/ui/qa", data=data, headers=headers).status_code == 403
    assert len(server.request("GET", f"/v1/trends/{tid}/feedback", "analyst").json()) == before
    # another session's token is not this session's
    _, other_token = sign_in(server, server.keys["admin"])
    assert (
        c.post(
            url, data={"action": "dismiss", "csrf": other_token}, headers={"Origin": server.url}
        ).status_code
        == 403
    )
    # a decision also needs the rendered form's one-time token (issue #20: never doubled)
    r = c.post(
        url, data={"action": "dismiss", "csrf": token, "note": "csrf test"}, headers={"Origin": server.url}
    )
    assert r.status_code == 303 and "msg=expired-form" in r.headers["location"]
    assert len(server.request("GET", f"/v1/trends/{tid}/feedback", "analyst").json()) == before
    page = c.get(f"/ui/trends/{tid}").text
    form = dict(re.findall(r'name="(form_token|current)" value="([^"]*)"', page))
    r = c.post(
        url,
        data={"action": "dismiss", "csrf": token, "note": "csrf test", **form},
        headers={"Origin": server.url},
    )
    assert r.status_code == 303
    assert len(server.request("GET", f"/v1/trends/{tid}/feedback", "analyst").json()) == before + 1


# ----------------------------------------------------------------------------- 8. names, audit log
def test_key_names_are_unique(server):
    r = server.request("POST", "/v1/keys", "admin", json={"role": "analyst", "name": "test-analyst"})
    assert r.status_code == 409 and r.json()["field"] == "name" and "taken" in r.json()["detail"]
    proc = cli(server.home, "keys", "create", "--role", "triage", "--name", "test-triage")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "taken" in lines[0], proc.stderr[-500:]
    assert "Traceback" not in proc.stderr
    # a revoked key's name stays taken (old decisions and QA reviews carry it)
    name = f"gone-{secrets.token_hex(3)}"
    made = server.request("POST", "/v1/keys", "admin", json={"role": "triage", "name": name}).json()
    server.request("DELETE", f"/v1/keys/{made['id']}", "admin")
    assert (
        server.request("POST", "/v1/keys", "admin", json={"role": "triage", "name": name}).status_code == 409
    )


def test_admin_audit_log_names_who_did_what(server, detected):
    name = f"audited-{secrets.token_hex(3)}"
    made = server.request("POST", "/v1/keys", "admin", json={"role": "triage", "name": name}).json()
    server.request("DELETE", f"/v1/keys/{made['id']}", "admin")
    server.request("POST", "/v1/reload", "admin")
    cli_name = f"cli-{secrets.token_hex(3)}"
    create_key(server.home, "analyst", cli_name)
    for role in ("triage", "analyst"):
        assert server.request("GET", "/v1/audit", role).status_code == 403
    log = server.request("GET", "/v1/audit", "admin", params={"limit": 1000}).json()
    admin_id = next(
        k["id"] for k in server.request("GET", "/v1/keys", "admin").json() if k["name"] == "test-admin"
    )

    def find(action, target_part):
        return [e for e in log if e["action"] == action and target_part in (e["target"] or "")]

    created, revoked = find("key.create", name), find("key.revoke", name)
    assert created and revoked
    assert created[0]["actor"] == "test-admin" and created[0]["key_id"] == admin_id and created[0]["at"]
    assert find("key.create", cli_name)[0]["actor"] == "cli"
    assert any(e["action"] == "reload" and e["actor"] == "test-admin" for e in log)
    detects = [e for e in log if e["action"] == "detect" and e["actor"] == "test-admin"]
    assert detects and any(e["detail"]["reset"] is True for e in detects)  # the `detected` fixture's run
    assert all(server.keys["admin"] not in str(e) for e in log)


# --------------------------------------------------------------- 9. admin-only detail; rate limits
def test_internal_detail_for_admins_only_and_rate_limits(tmp_path):
    home = tmp_path / "nomodel"
    missing = tmp_path / "no" / "such" / "model-dir"
    keys = make_keys(home, "h")
    srv = start_server(
        home,
        keys=keys,
        need_ready=False,
        TRENDML_MODEL_URI=str(missing),
        TRENDML_RATE_LIMIT_PER_MIN="12",  # a token every 5 s: the test waits one Retry-After
        TRENDML_RATE_LIMIT_BURST="4",
    )
    try:
        admin = srv.request("GET", "/v1/model", "admin").json()
        # admins read the exception itself (server paths masked, issue #21); other keys a generic line
        assert admin["ready"] is False and "ModelNotFoundError" in (admin["last_error"] or "")
        analyst = srv.request("GET", "/v1/model", "analyst").json()
        assert (
            analyst["last_error"]
            and "ModelNotFoundError" not in analyst["last_error"]
            and "model-dir" not in analyst["last_error"]
            and str(tmp_path) not in str(analyst)
        )
        r = srv.request("POST", "/v1/score", "triage", json={"items": [{"id": "a", "text": "b"}]})
        assert r.status_code == 503 and "model-dir" not in r.text and str(tmp_path) not in r.text
        # per-key quota: burst of 4, then 429 with Retry-After; other keys are not affected
        statuses = [srv.request("GET", "/v1/trends", "analyst").status_code for _ in range(4)]
        assert statuses[-1] == 429, statuses  # 1 /v1/model call + 3 here fit in the burst of 4
        limited = srv.request("GET", "/v1/trends", "analyst")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "TRENDML_RATE_LIMIT_PER_MIN" in limited.json()["detail"]
        assert srv.request("GET", "/v1/keys", "admin").status_code == 200
        assert srv.request("GET", "/healthz").status_code == 200
        time.sleep(int(limited.headers["retry-after"]))
        assert srv.request("GET", "/v1/trends", "analyst").status_code == 200

        # a 500 (a corrupt stored row: a server bug or fault, not the client's) is logged ONCE
        import sqlite3

        con = sqlite3.connect(home / "trendml.db")
        con.execute(
            "INSERT INTO admin_audit (at, actor, action, detail) "
            "VALUES ('2026-01-01 00:00:00', 'fault', 'corrupt', '{not json')"
        )
        con.commit()
        con.close()
        r = srv.request("GET", "/v1/audit", "admin")
        assert r.status_code == 500 and r.json()["error"] == "internal error", r.text
        assert str(tmp_path) not in r.text
        deadline = time.monotonic() + 10
        while "JSONDecodeError" not in srv.log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # anything the outer layers would log comes right after
        log = srv.log.read_text(errors="replace")
        assert log.count("Traceback (most recent call last)") == 1, srv.log_tail(60)
        assert "unhandled error in the API (GET /v1/audit)" in log
        assert "Exception in ASGI application" not in log
    finally:
        srv.stop()
