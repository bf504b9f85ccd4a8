"""Starlette app of the dashboard: sign-in with an analyst key, trends, trend, queue, QA, model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from service.dashboard import charts, data
from trendml.config import Settings
from trendml.datasets.scale import SEVERITY_LABELS
from trendml.errors import InputError
from trendml.items import parse_timestamp, show
from trendml.schema import create_all
from trendml.store.base import make_engine
from trendml.store.feedback import ACTIONS, add_feedback
from trendml.store.keys import KeyInfo, lookup_key, role_allows
from trendml.store.sessions import SESSION_TTL_S, end_session, lookup_session, start_session

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: The cookie holds an opaque server-side session id (trendml.store.sessions), never the API key.
COOKIE = "trendml_session"
#: Double-submit token of the sign-in form (there is no session yet to hold one).
LOGIN_CSRF_COOKIE = "trendml_login_csrf"
PAGE_SIZE = 50
#: Form parsing limits (the body itself is capped at 16 KiB before parsing, service.hardening).
FORM_LIMITS = {"max_files": 0, "max_fields": 16}
CSRF_MESSAGE = (
    "this form did not come from this dashboard (missing or foreign Origin/Referer, or a stale form "
    "token); expected a form from this site; reload the page and submit again"
)


def same_origin(request: Request) -> bool:
    """The POST came from a page of this site: its ``Origin`` (or, without one, its ``Referer``)
    names the host the request was sent to. Neither header -> refused."""
    from urllib.parse import urlsplit

    host = (request.headers.get("host") or "").lower()
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return bool(host) and urlsplit(origin).netloc.lower() == host
    referer = request.headers.get("referer")
    if referer:
        return bool(host) and urlsplit(referer).netloc.lower() == host
    return False


def token_ok(expected: str | None, received: object) -> bool:
    import hmac

    return bool(expected) and isinstance(received, str) and hmac.compare_digest(expected, received)


#: Highest page number the list pages accept (keeps offsets inside a database integer).
MAX_PAGE = 100_000


def _parse_day(value: str | None, name: str) -> datetime | None:
    """A date or ISO-8601 time; a time with an offset is converted to UTC (naive = UTC), as the API does."""
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise InputError(
            f"{name} is {show(value)}; expected a date such as 2026-03-01 (or an ISO-8601 time)", field=name
        ) from None


def _parse_int(value: str | None, name: str, *, default: int, lo: int, hi: int) -> int:
    """A query integer made of ASCII digits (``"²".isdigit()`` is true, ``int("²")`` fails) in [lo, hi]."""
    if not value:
        return default
    raw = value.strip()
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 12 or not lo <= int(raw) <= hi:
        raise InputError(
            f"{name} is {show(value, 20)}; expected a whole number from {lo} to {hi}", field=name
        )
    return int(raw)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    model_info: Callable[[], dict[str, Any] | None] | None = None,
    root_path: str = "/ui",
) -> Starlette:
    """Build the dashboard. ``model_info`` returns what the model page shows (champion version,
    metrics, promotion time); the service passes one backed by the MLflow registry."""
    engine = engine or make_engine(settings.db_url)
    create_all(engine)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        charts=charts, severity_labels=SEVERITY_LABELS, root=root_path, actions=ACTIONS, quote=quote
    )

    def caller(request: Request) -> KeyInfo | None:
        """The signed-in key of a live server-side session (its CSRF token kept on the request)."""
        sid = request.cookies.get(COOKIE)
        if not sid:
            return None
        with Session(engine) as s:
            found = lookup_session(s, sid)
        if found is None:
            return None
        request.state.csrf = found.csrf
        return found.key  # type: ignore[return-value]

    def render(
        request: Request, name: str, who: KeyInfo | None, status_code: int = 200, **ctx: Any
    ) -> Response:
        ctx.setdefault("csrf", getattr(request.state, "csrf", ""))
        return templates.TemplateResponse(
            request, name, {"who": who, "active": name.removesuffix(".html"), **ctx}, status_code=status_code
        )

    async def checked_form(request: Request, who: KeyInfo | None) -> Any:
        """The POSTed form when it passes the CSRF checks (Origin/Referer, then the session's
        token), else a 403 page."""
        if not same_origin(request):
            return render(request, "error.html", who, 403, message=CSRF_MESSAGE)
        form = await request.form(**FORM_LIMITS)
        if not token_ok(getattr(request.state, "csrf", None), form.get("csrf")):
            return render(request, "error.html", who, 403, message=CSRF_MESSAGE)
        return form

    def guard(request: Request) -> KeyInfo | Response:
        who = caller(request)
        if who is None:
            nxt = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
            return RedirectResponse(f"{root_path}/login?next={nxt}", status_code=303)
        if not role_allows(who.role, "analyst"):
            return render(
                request,
                "error.html",
                who,
                403,
                message=f'the key "{who.name}" has role {who.role}; '
                "the dashboard needs an analyst key (trendml keys create --role analyst)",
            )
        return who

    async def index(request: Request) -> Response:
        return RedirectResponse(f"{root_path}/trends", status_code=303)

    async def login(request: Request) -> Response:
        nxt = request.query_params.get("next") or f"{root_path}/trends"
        if not nxt.startswith(root_path):
            nxt = f"{root_path}/trends"
        if request.method == "GET":
            import secrets

            token = secrets.token_urlsafe(32)
            response = render(request, "login.html", None, next=nxt, error=None, csrf=token)
            response.set_cookie(
                LOGIN_CSRF_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                path=f"{root_path}/login",
                secure=request.url.scheme == "https",
                max_age=3600,
            )
            return response
        if not same_origin(request):
            return render(request, "error.html", None, 403, message=CSRF_MESSAGE)
        form = await request.form(**FORM_LIMITS)
        if not token_ok(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
            return render(request, "error.html", None, 403, message=CSRF_MESSAGE)
        csrf = str(form.get("csrf"))
        key = str(form.get("key") or "").strip()
        with Session(engine) as s:
            who = lookup_key(s, key) if key else None
        if who is None:
            return render(
                request, "login.html", None, 401, next=nxt, error="That key is unknown or revoked.", csrf=csrf
            )
        if not role_allows(who.role, "analyst"):
            return render(
                request,
                "login.html",
                None,
                403,
                next=nxt,
                error=f"That key has role {who.role}; sign in with an analyst key.",
                csrf=csrf,
            )
        with Session(engine) as s:
            sid, _ = start_session(s, who.id, ttl_s=SESSION_TTL_S)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            path=root_path,
            secure=request.url.scheme == "https",
            max_age=SESSION_TTL_S,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{root_path}/login")
        return response

    async def logout(request: Request) -> Response:
        """Sign out (POST with the session's form token): the session is deleted on the server."""
        who = caller(request)
        if who is not None:
            form = await checked_form(request, who)
            if isinstance(form, Response):
                return form
            with Session(engine) as s:
                end_session(s, request.cookies.get(COOKIE, ""))
        response = RedirectResponse(f"{root_path}/login", status_code=303)
        response.delete_cookie(COOKIE, path=root_path)
        return response

    async def trends(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        q = request.query_params
        try:
            status = q.get("status") or None
            if status is not None and status not in data.STATUSES:
                raise InputError(
                    f'status is "{status}"; expected one of {", ".join(data.STATUSES)}', field="status"
                )
            sev = q.get("severity")
            min_sev = _parse_int(sev, "severity", default=0, lo=0, hi=3) if sev else None
            page = _parse_int(q.get("page"), "page", default=0, lo=0, hi=MAX_PAGE)
            overview = data.trends_overview(
                engine,
                status=status,
                region=(q.get("region") or None),
                min_severity=min_sev,
                since=_parse_day(q.get("since"), "since"),
                until=_parse_day(q.get("until"), "until"),
                limit=PAGE_SIZE,
                offset=page * PAGE_SIZE,
            )
        except (InputError, ValueError) as exc:
            return render(request, "error.html", who, 400, message=str(exc))
        filters = {k: q.get(k, "") for k in ("status", "region", "severity", "since", "until")}
        next_q = urlencode({**{k: v for k, v in filters.items() if v}, "page": page + 1})
        return render(
            request,
            "trends.html",
            who,
            overview=overview,
            filters=filters,
            page=page,
            next_q=next_q,
            statuses=data.STATUSES,
        )

    async def trend(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        trend_id = request.path_params["trend_id"]
        detail = data.trend_detail(engine, trend_id)
        if detail is None:
            return render(request, "error.html", who, 404, message=f'trend "{trend_id}" does not exist')
        error = request.query_params.get("error")
        return render(request, "trend.html", who, trend=detail, error=error)

    async def feedback(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        trend_id = request.path_params["trend_id"]
        form = await checked_form(request, who)
        if isinstance(form, Response):
            return form
        if data.trend_detail(engine, trend_id, max_examples=0) is None:
            return render(request, "error.html", who, 404, message=f'trend "{trend_id}" does not exist')
        action = str(form.get("action") or "")
        note = str(form.get("note") or "").strip()[:2000] or None
        url = f"{root_path}/trends/{quote(trend_id)}"
        try:
            with Session(engine) as s:
                add_feedback(s, trend_id, action, note, who.name)
        except InputError as exc:
            return RedirectResponse(f"{url}?error={quote(exc.message)}", status_code=303)
        return RedirectResponse(f"{url}#decisions", status_code=303)

    async def queue(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        try:
            page = _parse_int(request.query_params.get("page"), "page", default=0, lo=0, hi=MAX_PAGE)
        except InputError as exc:
            return render(request, "error.html", who, 400, message=exc.message)
        result = data.triage_queue(engine, limit=100, offset=page * 100)
        return render(request, "queue.html", who, queue=result, page=page)

    async def model(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        info = model_info() if model_info is not None else None
        return render(request, "model.html", who, model=info)

    async def qa(request: Request) -> Response:
        who = guard(request)
        if isinstance(who, Response):
            return who
        from trendml.store import qa as qa_store

        error = None
        if request.method == "POST":
            form = await checked_form(request, who)
            if isinstance(form, Response):
                return form
            try:
                sev = int(str(form.get("severity") or ""))
            except ValueError:
                sev = -1
            try:
                with Session(engine) as s:
                    qa_store.add_review(
                        s,
                        str(form.get("item_id") or ""),
                        who.name,
                        sev,
                        note=str(form.get("note") or "") or None,
                    )
                return RedirectResponse(f"{root_path}/qa", status_code=303)
            except InputError as exc:
                error = exc.message
        with Session(engine) as s:
            pending = qa_store.pending_reviews(s, who.name, limit=25)
            agreement = qa_store.agreement(s)
        return render(
            request, "qa.html", who, 400 if error else 200, pending=pending, agreement=agreement, error=error
        )

    routes = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/trends", trends),
        Route("/trends/{trend_id}", trend),
        Route("/trends/{trend_id}/feedback", feedback, methods=["POST"]),
        Route("/queue", queue),
        Route("/model", model),
        Route("/qa", qa, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app
