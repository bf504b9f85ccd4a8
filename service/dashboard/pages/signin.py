"""Sign-in and sign-out (``/``, ``/login``, ``/logout``)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.dashboard.web import (
    COOKIE,
    CSRF_MESSAGE,
    FORM_LIMITS,
    LOGIN_CSRF_COOKIE,
    Dashboard,
    same_origin,
    token_ok,
)
from trendml.store.keys import lookup_key, role_allows
from trendml.store.sessions import SESSION_TTL_S, end_session, start_session


def routes(d: Dashboard) -> list[Route]:
    async def index(request: Request) -> Response:
        return RedirectResponse(f"{d.root_path}/trends", status_code=303)

    async def login(request: Request) -> Response:
        nxt = request.query_params.get("next") or f"{d.root_path}/trends"
        if not nxt.startswith(d.root_path):
            nxt = f"{d.root_path}/trends"
        if request.method == "GET":
            import secrets

            token = secrets.token_urlsafe(32)
            expired = request.query_params.get("reason") == "expired"
            response = d.render(
                request, "login.html", None, next=nxt, error=None, csrf=token, expired=expired
            )
            response.set_cookie(
                LOGIN_CSRF_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                path=f"{d.root_path}/login",
                secure=request.url.scheme == "https",
                max_age=3600,
            )
            return response
        if not same_origin(request):
            return d.render(request, "error.html", None, 403, message=CSRF_MESSAGE)
        form = await request.form(**FORM_LIMITS)
        if not token_ok(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
            return d.render(request, "error.html", None, 403, message=CSRF_MESSAGE)
        csrf = str(form.get("csrf"))
        key = str(form.get("key") or "").strip()
        with Session(d.engine) as s:
            who = lookup_key(s, key) if key else None
        if who is None:
            return d.render(
                request, "login.html", None, 401, next=nxt, error="That key is unknown or revoked.", csrf=csrf
            )
        if not role_allows(who.role, "analyst"):
            return d.render(
                request,
                "login.html",
                None,
                403,
                next=nxt,
                error=f"That key has role {who.role}; sign in with an analyst key.",
                csrf=csrf,
            )
        with Session(d.engine) as s:
            sid, _ = start_session(s, who.id, ttl_s=SESSION_TTL_S)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            path=d.root_path,
            secure=request.url.scheme == "https",
            max_age=SESSION_TTL_S,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{d.root_path}/login")
        return response

    async def logout(request: Request) -> Response:
        """Sign out (POST with the session's form token): the session is deleted on the server."""
        who = d.caller(request)
        if who is not None:
            form = await d.checked_form(request, who)
            if isinstance(form, Response):
                return form
            with Session(d.engine) as s:
                end_session(s, request.cookies.get(COOKIE, ""))
        response = RedirectResponse(f"{d.root_path}/login", status_code=303)
        response.delete_cookie(COOKIE, path=d.root_path)
        return response

    return [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
