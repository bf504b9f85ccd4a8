"""Error mapping: every error answer is ``{"error", "field", "detail"}``; client mistakes are 4xx.

- schema errors (pydantic) -> 422 naming the field (``items[0].created_at``)
- too many items in one request or a body over the size cap -> 413
- :class:`~trendml.errors.InputError` -> 422; unknown ids -> 404 (raised as HTTPException)
- model not loaded / registry unavailable -> 503 with the reason
- anything else -> 500 ``internal error`` (a bug: logged with its traceback, never the input)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from trendml.errors import (
    ConflictError,
    InputError,
    ModelMismatchError,
    ModelNotFoundError,
    StateError,
    TrendmlError,
)

logger = logging.getLogger(__name__)


def error_body(error: str, field: str | None = None, detail: str | None = None) -> dict[str, Any]:
    return {"error": error, "field": field, "detail": detail}


def field_path(loc: Sequence[Any]) -> str | None:
    """``("body", "items", 0, "text")`` -> ``items[0].text``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


def describe_errors(errors: Sequence[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Status and body for a list of pydantic errors (the first one is reported)."""
    err = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    field = field_path(err.get("loc", ()))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    etype = err.get("type", "")
    if etype == "json_invalid":
        return 422, error_body(
            "invalid JSON",
            None,
            f"the request body is not valid JSON ({err.get('ctx', {}).get('error', msg)}); "
            "expected a JSON object; check quoting and commas",
        )
    status = 422
    if etype == "too_long" and field in ("items",):
        status = 413
        msg = f"{msg}; send at most that many items per request (TRENDML_MAX_ITEMS_PER_REQUEST)"
    elif etype == "missing":
        msg = f"{field} is missing; expected a value"
    elif etype in ("extra_forbidden",):
        msg = f"{field} is not a known field; remove it"
    extra = f" ({len(errors)} errors in all)" if len(errors) > 1 else ""
    return status, error_body("invalid request" if status == 422 else "request too large", field, msg + extra)


def validation_response(exc: ValidationError) -> tuple[int, dict[str, Any]]:
    return describe_errors(exc.errors(include_url=False, include_input=False))


def trendml_error_status(exc: TrendmlError) -> int:
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, (ModelNotFoundError, ModelMismatchError, StateError)):
        return 503
    return 500


def install_handlers(app: Any) -> None:
    """Exception handlers of the FastAPI app mounted at ``/v1``."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, body = describe_errors(list(exc.errors()))
        return JSONResponse(body, status_code=status)

    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict):
            return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)
        names = {404: "not found", 405: "method not allowed", 503: "unavailable"}
        return JSONResponse(
            error_body(names.get(exc.status_code, "error"), None, str(detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def _trendml(request: Request, exc: TrendmlError) -> JSONResponse:
        status = trendml_error_status(exc)
        if status >= 500 and status != 503:
            logger.error("internal error: %s", exc.message)
        message = (
            for_caller(getattr(request.state, "caller", None), exc.message) if status >= 500 else exc.message
        )
        return JSONResponse(error_body(type(exc).__name__, exc.field, message), status_code=status)

    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(TrendmlError, _trendml)
    # Anything else: not `add_exception_handler(Exception, ...)`, whose ServerErrorMiddleware answers
    # and then re-raises, so BentoML and uvicorn logged the same traceback twice more (3 in all).
    app.add_middleware(InternalErrorMiddleware)


INTERNAL_DETAIL = "the server failed; this is a bug, see the server log"


class InternalErrorMiddleware:
    """Catch-all inside the ``/v1`` app: an unhandled exception is logged once, here, with its
    traceback (never the request body), and answered ``500 {"error": "internal error", ...}``. It is
    not re-raised: the outer layers (Starlette's ServerErrorMiddleware, BentoML, uvicorn) would each
    log it again."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error in the API (%s %s)", scope.get("method"), scope.get("path"))
            if not started:  # else the answer is cut short; the log line above is the record
                await send_json(send, 500, error_body("internal error", None, INTERNAL_DETAIL))


#: What non-admin keys read instead of an internal reason (paths, URIs, exception text).
ADMIN_ONLY_DETAIL = "the reason is shown to admin keys only (GET /v1/model with an admin key); retry later"


def for_caller(caller: Any, detail: str | None) -> str | None:
    """``detail`` for an admin caller, :data:`ADMIN_ONLY_DETAIL` for anyone else (raw exception
    text can hold file paths and registry URIs)."""
    if detail is None:
        return None
    return detail if getattr(caller, "role", None) == "admin" else ADMIN_ONLY_DETAIL


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode("utf-8")


async def send_json(
    send: Any, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer an ASGI request with ``body`` as JSON (from a middleware, before the app runs)."""
    payload = json_bytes(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
