"""What every dashboard page shares: the constants, the request checks (same origin, form token,
query parsing) and :class:`Dashboard`, the context a page's routes read (engine, templates, the
signed-in key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from trendml.errors import InputError
from trendml.items import parse_timestamp, show
from trendml.store.keys import KeyInfo, role_allows
from trendml.store.sessions import lookup_session

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


class Dashboard:
    """The context of every page: the database, the templates, the model-page source and the
    mount path; its methods read the signed-in key and render pages."""

    def __init__(
        self,
        engine: Engine,
        templates: Jinja2Templates,
        *,
        model_info: Callable[[], dict[str, Any] | None] | None,
        root_path: str,
        policy: Any = None,
    ) -> None:
        self.engine = engine
        self.policy = policy  # trendml.policy.Policy: level names and the priority rule
        self.templates = templates
        self.model_info = model_info
        self.root_path = root_path

    def caller(self, request: Request) -> KeyInfo | None:
        """The signed-in key of a live server-side session (its CSRF token kept on the request)."""
        sid = request.cookies.get(COOKIE)
        if not sid:
            return None
        with Session(self.engine) as s:
            found = lookup_session(s, sid)
        if found is None:
            return None
        request.state.csrf = found.csrf
        return found.key  # type: ignore[return-value]

    def render(
        self, request: Request, name: str, who: KeyInfo | None, status_code: int = 200, **ctx: Any
    ) -> Response:
        ctx.setdefault("csrf", getattr(request.state, "csrf", ""))
        response = self.templates.TemplateResponse(
            request, name, {"who": who, "active": name.removesuffix(".html"), **ctx}, status_code=status_code
        )
        response.headers["cache-control"] = "no-store"  # no page comes back from the cache after sign-out
        return response

    async def checked_form(self, request: Request, who: KeyInfo | None) -> Any:
        """The POSTed form when it passes the CSRF checks (Origin/Referer, then the session's
        token), else a 403 page."""
        if not same_origin(request):
            return self.render(request, "error.html", who, 403, message=CSRF_MESSAGE)
        form = await request.form(**FORM_LIMITS)
        if not token_ok(getattr(request.state, "csrf", None), form.get("csrf")):
            return self.render(request, "error.html", who, 403, message=CSRF_MESSAGE)
        return form

    def guard(self, request: Request) -> KeyInfo | Response:
        who = self.caller(request)
        if who is None:
            nxt = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
            # a session cookie the server no longer knows: it expired (or was signed out elsewhere)
            reason = "reason=expired&" if request.cookies.get(COOKIE) else ""
            return RedirectResponse(f"{self.root_path}/login?{reason}next={nxt}", status_code=303)
        if not role_allows(who.role, "analyst"):
            return self.render(
                request,
                "error.html",
                who,
                403,
                message=f'the key "{who.name}" has role {who.role}; '
                "the dashboard needs an analyst key (trendml keys create --role analyst)",
            )
        return who
