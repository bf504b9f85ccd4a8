"""The outermost ASGI layer of the service: body caps, security headers, bounded metric labels.

It runs before authentication (:mod:`service.auth`) and before BentoML's metrics middleware:

- **Body caps, before parsing.** A request whose ``Content-Length`` is over the cap of its route is
  answered 413 without reading a byte; a body without a length is read up to the cap and refused
  (413) as soon as it goes over. Then the body is handed on as received. Caps (bytes):

  ===============================  ======================================================
  ``POST /v1/score``, ``/v1/items``  ``MAX_ITEMS * (2 * MAX_TEXT * 6 + 4096) + 65536``:
                                     the most items per request, each with a text and a
                                     caption of the most characters, every character
                                     JSON-escaped (``\\uXXXX``: 6 bytes), plus 4 KiB of
                                     other fields per item (31.8 MB at the defaults)
  ``/ui/...`` (forms)                16 KiB (a key, a note of 2,000 characters)
  anything else                      64 KiB
  ===============================  ======================================================

- **Security headers** on every answer: ``Content-Security-Policy`` (scripts from this origin
  only: no inline or third-party script runs, so the Google Tag Manager snippet in BentoML's
  docs page at ``/`` is blocked), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``; dashboard pages also ``Cache-Control: no-store``.
- **Bounded metric labels** (:func:`install_metrics_labels`): request metrics are labelled with
  the route's template (``/v1/trends/{trend_id}``) and every path that matches no route with one
  label, ``/{unmatched}``, so ``/metrics`` does not grow with each unknown path or trend id.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from service.errors import send_json

logger = logging.getLogger(__name__)

UNMATCHED_LABEL = "/{unmatched}"
#: Refusals before the body is read close the connection (what is left of the body is not read).
CLOSE = ((b"connection", b"close"),)
_ORIGINAL = "trendml.original_path"
KIB = 1024
FORM_BODY_CAP = 16 * KIB
DEFAULT_BODY_CAP = 64 * KIB
ITEM_ROUTES = re.compile(r"^/v1/(score|items)/?$")

CSP_STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
#: The API docs pages (Swagger UI sets inline styles); scripts are still this origin's only.
CSP_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)

#: Routes outside the ``/v1`` API app (BentoML's own and the dashboard's) and their metric label
#: (None: the path itself).
STATIC_ROUTES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(p), label)
    for p, label in (
        (r"^/(healthz|livez|readyz|metrics|docs\.json|schema\.json)?$", None),
        (r"^/static_content/[^/]+$", "/static_content/{file}"),
        (r"^/v1/score/?$", "/v1/score"),
        (r"^/v1alpha1/comments:analyze/?$", "/v1alpha1/comments:analyze"),
        (r"^/ui/?$", "/ui"),
        (r"^/ui/(login|logout|trends|queue|model|qa)/?$", None),
        (r"^/ui/trends/[^/]+/?$", "/ui/trends/{trend_id}"),
        (r"^/ui/trends/[^/]+/feedback/?$", "/ui/trends/{trend_id}/feedback"),
        (r"^/ui/static/[^/]+$", "/ui/static/{file}"),
    )
]


def items_body_cap(max_items: int, max_text: int) -> int:
    """Largest body accepted by ``POST /v1/score`` and ``/v1/items`` (see the module doc)."""
    return max_items * (2 * max_text * 6 + 4096) + 65536


def body_cap(path: str, max_items: int, max_text: int) -> int:
    if ITEM_ROUTES.match(path):
        return items_body_cap(max_items, max_text)
    if path == "/ui" or path.startswith("/ui/"):
        return FORM_BODY_CAP
    return DEFAULT_BODY_CAP


class RouteLabeller:
    """The metrics label of a request: its route's template (``/v1/trends/{trend_id}``), or
    :data:`UNMATCHED_LABEL` for a path no route matches. ``/v1/...`` is matched with the API app's
    own routes (read when asked: BentoML adds the class's routes when the service instance is
    made), the rest with :data:`STATIC_ROUTES`."""

    def __init__(self, api: Any = None) -> None:
        self._api = api

    def label(self, path: str, method: str = "GET") -> str:
        for pattern, template in STATIC_ROUTES:
            if pattern.match(path):
                return template or path
        if path.startswith("/v1/") and self._api is not None:
            sub = {"type": "http", "path": path[3:], "method": method, "root_path": ""}
            found = _template(getattr(self._api, "routes", []), sub)
            if found:
                return "/v1" + found
        return UNMATCHED_LABEL


def _template(routes: Iterable[Any], scope: dict[str, Any]) -> str | None:
    from starlette.routing import Match

    for route in routes:
        regex, path = getattr(route, "path_regex", None), getattr(route, "path", None)
        if regex is not None and path:
            if regex.match(scope["path"]):
                return str(path)
            continue
        nested = getattr(route, "original_router", None)  # FastAPI's included routers
        nested_routes = getattr(nested if nested is not None else route, "routes", None)
        if nested_routes:
            found = _template(nested_routes, scope)
            if found:
                return found
            continue
        try:
            if route.matches(scope)[0] != Match.NONE:
                return "{matched}"
        except Exception:  # noqa: BLE001 - a route type we do not know: not a match
            continue
    return None


def install_metrics_labels(api: Any) -> None:
    """Label BentoML's request metrics with route templates instead of raw paths.

    BentoML's metrics middleware is the outermost layer (before any middleware a service adds)
    and labels every request with ``scope["path"]``, so each unknown path, and each trend id,
    would add series to ``/metrics`` for good. BentoML builds that middleware from
    ``bentoml._internal.server.http.instruments.RunnerTrafficMetricsMiddleware`` when it builds the
    app, after this module is imported; this replaces that name with a subclass that shows the
    metrics a labelled copy of the scope and hands the application the real one. Idempotent."""
    from bentoml._internal.server.http import instruments

    base = instruments.RunnerTrafficMetricsMiddleware
    if getattr(base, "trendml_route_labels", False):
        return
    labeller = RouteLabeller(api)

    class RouteLabelledMetrics(base):  # type: ignore[misc, valid-type]
        trendml_route_labels = True

        def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
            async def real(scope: dict[str, Any], receive: Any, send: Any) -> None:
                original = scope.get(_ORIGINAL)
                if original is not None:
                    scope = {k: v for k, v in scope.items() if k != _ORIGINAL}
                    scope["path"], scope["raw_path"] = original
                await app(scope, receive, send)

            super().__init__(real, *args, **kwargs)

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                label = labeller.label(scope.get("path", ""), scope.get("method", "GET"))
                if label != scope.get("path"):
                    scope = {**scope, "path": label, _ORIGINAL: (scope["path"], scope.get("raw_path"))}
            await super().__call__(scope, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics


def _too_large(cap: int, path: str, max_items: int, max_text: int) -> dict[str, Any]:
    if ITEM_ROUTES.match(path):
        expected = f"at most {max_items} items of at most {max_text:,} characters; split the request"
    else:
        expected = f"at most {cap:,} bytes for {path[:80]}; send less"
    return {
        "error": "request too large",
        "field": None,
        "detail": f"the body is over {cap:,} bytes; expected {expected}",
    }


class HardeningMiddleware:
    """Body caps and security headers (see the module doc)."""

    def __init__(self, app: Any, max_items: int | None = None, max_text: int | None = None) -> None:
        from service.schemas import MAX_ITEMS, MAX_TEXT

        self.app = app
        self.max_items = max_items or MAX_ITEMS
        self.max_text = max_text or MAX_TEXT

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        send = self._with_headers(send, path)
        cap = body_cap(path, self.max_items, self.max_text)
        headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                return await send_json(
                    send,
                    400,
                    {
                        "error": "bad request",
                        "field": "Content-Length",
                        "detail": "Content-Length is not a number",
                    },
                    CLOSE,
                )
            if declared > cap:
                return await send_json(send, 413, _too_large(cap, path, self.max_items, self.max_text), CLOSE)
        if length is not None or b"transfer-encoding" in headers:
            body = await _read_capped(receive, cap)
            if body is None:  # client went away
                return
            if isinstance(body, int):
                return await send_json(send, 413, _too_large(cap, path, self.max_items, self.max_text), CLOSE)
            receive = replay_body(body, receive)
        return await self.app(scope, receive, send)

    @staticmethod
    def _with_headers(send: Any, path: str) -> Any:
        ui = path == "/ui" or path.startswith("/ui/")
        csp = (CSP_STRICT if ui else CSP_DOCS).encode()

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                if b"content-security-policy" not in have:
                    extra.append((b"content-security-policy", csp))
                if ui and b"cache-control" not in have:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


async def _read_capped(receive: Any, cap: int) -> bytes | int | None:
    """The whole body, or its size so far once it is over ``cap``, or None on disconnect."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return size
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that hands ``body`` on once (already read), then defers to ``receive``."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# ---------------------------------------------------------------------------- score gate
# A score of other content for a stored id is refused (409) and writes nothing. The check runs in
# the scoring batch (one query per batch, in the same thread as the writes), not per request in
# the middleware: at 32 single-item clients the per-request query and its thread hop were ~8 % of
# the server's CPU. The batch posts each refused request's item indexes on the worker's
# :class:`ScoreRefusals` under the request's ref, which the middleware wrote into every item
# (:func:`with_caller`); the middleware takes them when the answer is ready and sends the 409
# instead of it.
class ScoreRefusals:
    """Refused score requests of this worker: request ref -> conflicting item indexes (in the
    request). Posted by the scoring batch, taken once by the middleware; bounded (the oldest go
    first) so refs whose request vanished cannot pile up."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._refused: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def post(self, ref: str, indexes: list[int]) -> None:
        with self._lock:
            self._refused[ref] = sorted(indexes)
            while len(self._refused) > self.max_entries:
                del self._refused[next(iter(self._refused))]

    def take(self, ref: str) -> list[int] | None:
        with self._lock:
            return self._refused.pop(ref, None)


def content_conflict_body(items: list[Any], conflicts: list[int]) -> dict[str, Any]:
    i = conflicts[0]
    more = f" ({len(conflicts)} items in all)" if len(conflicts) > 1 else ""
    return {
        "error": "conflict",
        "field": f"items[{i}]",
        "detail": (
            f'item "{str(items[i].id)[:80]}" is stored with other content; expected the stored text and '
            f"caption for a stored id{more}; score the stored content, or use a new id for new content"
        ),
    }


def with_caller(body: bytes, caller: Any, ref: str) -> bytes:
    """The score body with the calling key and the request's ref written into every item
    (replacing any value sent)."""
    data = json.loads(body)
    for item in data.get("items", []):
        if isinstance(item, dict):
            item["caller_key_id"] = caller.id
            item["caller_key_name"] = caller.name
            item["request_ref"] = ref
    return json.dumps(data).encode("utf-8")
