"""API-key authentication and role checks, as one ASGI middleware in front of every route.

The middleware runs before BentoML's own routes (``/v1/score``) and the FastAPI routes
mounted at ``/v1``, so one table below decides who may call what. It also validates the body
of ``POST /v1/score`` before BentoML's batching sees it, so schema errors there get the same
``{"error", "field", "detail"}`` 4xx answers as the other routes, and a score request is
refused with 503 while no model is loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from service.errors import error_body, send_json, validation_response
from service.hardening import content_conflict_body, replay_body, with_caller
from service.trends_backend import DatabaseUnavailable

logger = logging.getLogger(__name__)

OPEN_PATHS = {"/healthz", "/livez", "/readyz"}
#: The dashboard checks its own sign-in (an analyst key kept in a cookie), so the bearer-header
#: check does not apply there.
SELF_AUTH_PREFIXES = ("/ui/",)
DOC_PATHS = {
    "/",
    "/docs.json",
    "/schema.json",
    "/v1/docs",
    "/v1/docs/init.js",
    "/v1/openapi.json",
    "/v1/docs/oauth2-redirect",
}
DOC_PREFIXES = ("/static_content/", "/assets/")
ANY_ROLE = "any"

# (method or "*", path regex, role). First match wins; unmatched paths need any valid key.
RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/score/?$"), "triage"),
    ("POST", re.compile(r"^/v1/items/?$"), "triage"),
    ("POST", re.compile(r"^/v1/items/[^/]+/outcome/?$"), "triage"),
    ("GET", re.compile(r"^/v1/items/[^/]+/?$"), "analyst"),
    ("DELETE", re.compile(r"^/v1/items/[^/]+/?$"), "admin"),
    ("*", re.compile(r"^/v1/erasures/?$"), "admin"),
    ("GET", re.compile(r"^/v1/monitoring/?$"), "analyst"),
    ("POST", re.compile(r"^/v1alpha1/comments:analyze/?$"), "triage"),
    ("GET", re.compile(r"^/v1/trends(/[^/]+)?/?$"), "analyst"),
    ("POST", re.compile(r"^/v1/trends/[^/]+/feedback/?$"), "analyst"),
    ("GET", re.compile(r"^/v1/trends/[^/]+/feedback/?$"), "analyst"),
    ("*", re.compile(r"^/v1/detect/?$"), "admin"),
    ("*", re.compile(r"^/v1/reload/?$"), "admin"),
    ("*", re.compile(r"^/v1/keys(/.*)?$"), "admin"),
    ("*", re.compile(r"^/v1/feedback(/.*)?$"), "admin"),
    ("*", re.compile(r"^/v1/audit/?$"), "admin"),
    ("GET", re.compile(r"^/v1/model/?$"), ANY_ROLE),
    ("GET", re.compile(r"^/metrics/?$"), ANY_ROLE),
    # issue 16: alerts (list: analyst; replay: admin), search (analyst), curation (analyst)
    ("GET", re.compile(r"^/v1/alerts/?$"), "analyst"),
    ("POST", re.compile(r"^/v1/alerts/[^/]+/replay/?$"), "admin"),
    ("GET", re.compile(r"^/v1/search/?$"), "analyst"),
    ("POST", re.compile(r"^/v1/trends/[^/]+/(merge|split|rename)/?$"), "analyst"),
    ("GET", re.compile(r"^/v1/trends/[^/]+/history/?$"), "analyst"),
]


def docs_are_public() -> bool:
    """API docs (OpenAPI schema + UI) are open unless ``TRENDML_PROTECT_DOCS`` is true."""
    return os.environ.get("TRENDML_PROTECT_DOCS", "").strip().lower() not in {"1", "true", "yes", "on"}


def required_role(method: str, path: str) -> str | None:
    """Role a request needs; ``None`` when the path is open."""
    if path in OPEN_PATHS or path == "/ui" or path.startswith(SELF_AUTH_PREFIXES):
        return None
    if (path in DOC_PATHS or path.startswith(DOC_PREFIXES)) and docs_are_public():
        return None
    for rule_method, pattern, role in RULES:
        if (rule_method == "*" or rule_method == method) and pattern.match(path):
            return role
    return ANY_ROLE


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            raw = value.decode("latin-1").strip()
            scheme, _, token = raw.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


def _parse_score(body: bytes) -> tuple[Any, tuple[int, dict[str, Any]] | None]:
    """The parsed score request, or ``(None, (status, error body))`` when it is invalid.

    Validates like ``/v1/items`` does: when pydantic's JSON parser refuses text that Python's
    ``json`` reads (a lone surrogate escape such as ``"\\ud800"``), the decoded object is
    validated so the answer names the field, as on ``/v1/items``. Any other failure of the
    check is a 422, never an exception out of the middleware."""
    from service.schemas import ScoreRequest

    invalid = 422, error_body("invalid request", None, "the request body could not be validated")
    try:
        return ScoreRequest.model_validate_json(body), None
    except ValidationError as exc:
        if not any(e.get("type") == "json_invalid" for e in exc.errors(include_url=False)):
            return None, validation_response(exc)
        first = validation_response(exc)
    except (ValueError, ArithmeticError, RecursionError) as exc:  # a validator bug; still the client's input
        logger.warning("score request refused by a validator error: %s", type(exc).__name__)
        return None, invalid
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None, first
    try:
        ScoreRequest.model_validate(obj)
    except ValidationError as exc:
        return None, validation_response(exc)
    except (ValueError, ArithmeticError, RecursionError):
        return None, invalid
    return None, first


class AuthMiddleware:
    """Pure ASGI middleware: 401 without a valid key, 403 without the role, score pre-checks."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer 500 (JSON) to an exception that escapes before any response has started.

        BentoML's ``TimeoutMiddleware`` (outside this one) waits for the first ``send`` or its
        timeout, not for the request task: an exception raised before anything is sent left the
        request unanswered for the whole traffic timeout (600 s) and held shutdown that long."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            logger.exception(
                "unhandled error before the response of %s %s", scope.get("method"), scope.get("path")
            )
            await send_json(
                send,
                500,
                error_body("internal error", None, "the server failed; this is a bug, see the server log"),
            )

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import bentoml

        path = scope.get("path", "")
        method = scope.get("method", "GET")
        role = required_role(method, path)
        if role is None:
            return await self.app(scope, receive, send)
        try:
            svc = bentoml.get_current_service()
        except bentoml.exceptions.BentoMLException:  # not instantiated yet (it raises, not None)
            svc = None
        if svc is None:
            return await send_json(
                send, 503, error_body("starting", None, "the service is starting; retry shortly")
            )
        token = bearer_token(scope.get("headers", []))
        challenge = [(b"www-authenticate", b'Bearer realm="trendml"')]
        if not token:
            detail = (
                "no API key received; expected an 'Authorization: Bearer <key>' header; "
                "create a key with `trendml keys create --role ROLE`"
                if token is None
                else "the Authorization header is not 'Bearer <key>'; expected 'Authorization: Bearer <key>'"
            )
            return await send_json(send, 401, error_body("unauthorized", "Authorization", detail), challenge)
        try:  # a key verified in the last TRENDML_KEY_CACHE_TTL_S needs no thread hop nor query
            info = svc.cached_key(token) or await anyio.to_thread.run_sync(svc.authenticate, token)
        except DatabaseUnavailable as exc:  # keys cannot be checked (not a client mistake)
            return await _database_down(send, exc)
        if info is None:
            return await send_json(
                send,
                401,
                error_body(
                    "unauthorized",
                    "Authorization",
                    "the API key is unknown or revoked; expected an active key; ask an admin for a new one",
                ),
                challenge,
            )
        if role != ANY_ROLE and not (info.role == "admin" or info.role == role):
            return await send_json(
                send,
                403,
                error_body(
                    "forbidden",
                    None,
                    f"this key has role '{info.role}'; {method} {path} needs role '{role}' (or admin); "
                    f"use a {role} key",
                ),
            )
        scope.setdefault("state", {})["caller"] = info
        if method == "POST" and path.rstrip("/") == "/v1/score":
            return await self._score(svc, scope, receive, send)
        return await self.app(scope, receive, send)

    async def _score(self, svc: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Validate a score request and refuse it while no model is loaded, then pass it on."""
        from service.schemas import MAX_ITEMS, MAX_TEXT

        caller = scope.get("state", {}).get("caller")
        if not svc.ready():
            return await send_json(
                send, 503, error_body("model not loaded", None, svc.not_ready_reason(caller))
            )
        cap = MAX_ITEMS * (2 * MAX_TEXT * 6 + 4096) + 65536
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return await send_json(
                    send,
                    413,
                    error_body(
                        "request too large",
                        None,
                        f"the body is over {cap:,} bytes; expected at most {MAX_ITEMS} items of "
                        f"at most {MAX_TEXT:,} characters; split the request",
                    ),
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks).removeprefix(b"\xef\xbb\xbf")  # a BOM, as /v1/items allows
        request, refusal = _parse_score(body)
        if refusal is not None:
            return await send_json(send, *refusal)

        ref = secrets.token_hex(8)
        body = with_caller(body, caller, ref)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
        scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        held: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:  # a score answer is small: held until whole
            held.append(message)

        await self.app(scope, replay_body(body, receive), hold)
        # the batch refused the request when an item's id is stored with other content
        # (service.hardening.ScoreRefusals): nothing of it was written; 409 instead of its answer
        refused = svc.refusals.take(ref)
        if refused and held and held[0].get("type") == "http.response.start" and held[0].get("status") == 200:
            return await send_json(send, 409, content_conflict_body(request.items, refused))
        for message in held:
            await send(message)


async def _database_down(send: Any, exc: DatabaseUnavailable) -> None:
    """503 while the database cannot be reached: nothing can be checked or audited."""
    await send_json(send, 503, error_body("database unavailable", None, f"{exc}; retry shortly"))
