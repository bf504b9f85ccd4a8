"""In-process tests of the service's auth, schemas and error mapping: no server process, no model.

They drive the real middleware and handlers (httpx's ASGI transport, Starlette's app) and the real
request schemas; the subprocess tests beside them check the same rules through ``bentoml serve``."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service.auth import ANY_ROLE, AuthMiddleware, _parse_score, bearer_token, required_role
from service.errors import error_body, install_handlers, trendml_error_status
from trendml.errors import ConflictError, InputError, InternalError, ModelNotFoundError, StateError


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/ui/trends", None),
        ("GET", "/v1/docs", None),
        ("POST", "/v1/score", "triage"),
        ("POST", "/v1/items", "triage"),
        ("GET", "/v1/trends", "analyst"),
        ("GET", "/v1/trends/t1-000", "analyst"),
        ("POST", "/v1/trends/t1-000/feedback", "analyst"),
        ("POST", "/v1/detect", "admin"),
        ("POST", "/v1/keys", "admin"),
        ("GET", "/v1/audit", "admin"),
        ("GET", "/v1/model", ANY_ROLE),
        ("GET", "/v1/search", "analyst"),
        ("GET", "/v1/alerts", "analyst"),
        ("POST", "/v1/alerts/al-1/replay", "admin"),
        ("POST", "/v1/trends/t1-000/merge", "analyst"),
        ("GET", "/v1/trends/t1-000/history", "analyst"),
        ("GET", "/v1/unknown", ANY_ROLE),
    ],
)
def test_role_table(method, path, role):
    assert required_role(method, path) == role


def test_protected_docs_need_a_key(monkeypatch):
    monkeypatch.setenv("TRENDML_PROTECT_DOCS", "true")
    assert required_role("GET", "/v1/docs") == ANY_ROLE


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        ([(b"authorization", b"Bearer abc")], "abc"),
        ([(b"Authorization", b"bearer  abc ")], "abc"),
        ([(b"authorization", b"Basic abc")], ""),
        ([(b"authorization", b"Bearer ")], ""),
    ],
)
def test_bearer_token(headers, token):
    assert bearer_token(headers) == token


def _inner() -> Starlette:
    async def ok(_request):
        return PlainTextResponse("inner")

    return Starlette(routes=[Route("/healthz", ok), Route("/v1/trends", ok)])


def _run(coro):
    """Run ``coro`` to completion on a fresh event loop in its own thread: an earlier test in the
    session may leave an event loop marked running on the main thread (asyncio.run would refuse)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _get(app, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return _run(go())


def test_auth_middleware_before_the_service_exists():
    """Open paths pass through; a protected one is a JSON 503 "starting" (not a 500) while the
    service is not instantiated yet."""
    app = AuthMiddleware(_inner())
    assert _get(app, "/healthz").text == "inner"
    r = _get(app, "/v1/trends")
    assert r.status_code == 503
    assert r.json() == error_body("starting", None, "the service is starting; retry shortly")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [{"text": "no id"}]}, "items[0].id"),
        ({"items": [{"id": "a", "text": "x", "region": "ZZ"}]}, "items[0].region"),
        ({"items": [{"id": "a", "text": "x" * 10_001}]}, "items[0].text"),
        ({"items": [{"id": "a", "text": "x", "created_at": "1999-01-01T00:00:00Z"}]}, "items[0].created_at"),
    ],
)
def test_score_request_refusals_name_the_field(body, field):
    request, refusal = _parse_score(json.dumps(body).encode())
    assert request is None
    status, payload = refusal
    assert status == 422
    assert set(payload) == {"error", "field", "detail"} and payload["detail"]
    assert payload["field"] == field


def test_a_valid_score_request_parses():
    request, refusal = _parse_score(b'{"items": [{"id": "a", "text": "hello"}]}')
    assert refusal is None and [it.id for it in request.items] == ["a"]


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InputError("bad", field="x"), 422),
        (ConflictError("taken"), 409),
        (ModelNotFoundError("none"), 503),
        (StateError("broken"), 503),
        (InternalError("bug"), 500),
    ],
)
def test_trendml_errors_map_to_statuses(exc, status):
    assert trendml_error_status(exc) == status


def test_handlers_answer_json_errors():
    """The API's handlers: a trendml error keeps its field, an unexpected exception is a JSON 500
    without its text."""
    from fastapi import FastAPI

    app = FastAPI()
    install_handlers(app)

    @app.get("/bad")
    def bad():
        raise InputError("limit is 0; expected 1..500", field="limit")

    @app.get("/bug")
    def bug():
        raise RuntimeError("secret detail")

    r = _get(app, "/bad")
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = _get(app, "/bug")
    assert r.status_code == 500 and "secret" not in r.text and r.json()["error"] == "internal error"


def _dashboard(tmp_path):
    from service.dashboard import create_app
    from trendml.config import Settings
    from trendml.store.base import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'trendml.db'}")
    return create_app(Settings(home=tmp_path), engine=engine, root_path=""), engine


def test_dashboard_pages_in_process(tmp_path):
    """Every page's routes are mounted: sign-in renders with its form token, each page sends an
    anonymous visitor to sign in, and a sign-in POST from another site is refused (403)."""
    from sqlalchemy.orm import Session

    from trendml.store.keys import create_key

    app, engine = _dashboard(tmp_path)
    with Session(engine) as s:
        key, _ = create_key(s, "analyst", "ana")
        s.commit()

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            out = [await client.get("/login")]
            for path in ("/trends", "/trends/t1-000", "/queue", "/model", "/qa"):
                out.append(await client.get(path))
            out.append(
                await client.post("/login", data={"key": key, "csrf": "x"}, headers={"origin": "http://evil"})
            )
            return out

    login, *pages, foreign = _run(go())
    assert login.status_code == 200 and "trendml_login_csrf" in login.headers["set-cookie"]
    for r in pages:
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert foreign.status_code == 403
    engine.dispose()
