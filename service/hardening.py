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
- **Bounded metric labels.** BentoML labels request metrics with the raw path, so every unknown
  path would add a series. A path that matches no route is handed on as ``/v1/_unmatched`` (it
  still needs a key and answers 404), so unknown paths share one label.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

UNMATCHED_PATH = "/v1/_unmatched"
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

#: Routes outside the ``/v1`` API app: BentoML's own and the dashboard's.
STATIC_ROUTES = [
    re.compile(p)
    for p in (
        r"^/(healthz|livez|readyz|metrics|docs\.json|schema\.json)?/?$",
        r"^/static_content/[^/]+$",
        r"^/v1/score/?$",
        r"^/ui/?$",
        r"^/ui/(login|logout|trends|queue|model|qa)/?$",
        r"^/ui/trends/[^/]+(/feedback)?/?$",
        r"^/ui/static/[^/]+$",
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


class RouteMatcher:
    """Is a path one of the service's routes? ``/v1/...`` is checked against the API app's routes
    (so routes added there are known without a list here), the rest against :data:`STATIC_ROUTES`.
    The API app's routes are read when asked: BentoML adds the class's routes when the service
    instance is made, after this middleware."""

    def __init__(self, api: Any = None) -> None:
        self._api = api
        self._n = -1
        self._regexes: list[re.Pattern[str]] = []

    def _api_regexes(self) -> list[re.Pattern[str]]:
        routes = list(getattr(self._api, "routes", ()) or ())
        if len(routes) != self._n:
            self._regexes = [r.path_regex for r in routes if getattr(r, "path_regex", None) is not None]
            self._n = len(routes)
        return self._regexes

    def known(self, path: str) -> bool:
        if any(p.match(path) for p in STATIC_ROUTES):
            return True
        if path.startswith("/v1/"):
            sub = path[3:]
            return any(p.match(sub) for p in self._api_regexes())
        return False


def install_unmatched_route(app: Any) -> None:
    """The API app's answer to every path that matches no route (``/v1/_unmatched``): a JSON 404."""
    from fastapi import HTTPException

    @app.api_route(
        UNMATCHED_PATH.removeprefix("/v1"),
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        include_in_schema=False,
    )
    def unmatched() -> None:
        raise HTTPException(
            404,
            detail={
                "error": "not found",
                "field": None,
                "detail": "no route has this path; expected a path from /v1/docs or /docs.json",
            },
        )


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
    """See the module doc. ``api`` is the FastAPI app mounted at ``/v1`` (its routes are known)."""

    def __init__(
        self, app: Any, api: Any = None, max_items: int | None = None, max_text: int | None = None
    ) -> None:
        from service.schemas import MAX_ITEMS, MAX_TEXT

        self.app = app
        self.max_items = max_items or MAX_ITEMS
        self.max_text = max_text or MAX_TEXT
        self.routes = RouteMatcher(api)

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
                return await _send_json(
                    send,
                    400,
                    {
                        "error": "bad request",
                        "field": "Content-Length",
                        "detail": "Content-Length is not a number",
                    },
                )
            if declared > cap:
                return await _send_json(send, 413, _too_large(cap, path, self.max_items, self.max_text))
        if length is not None or b"transfer-encoding" in headers:
            body = await _read_capped(receive, cap)
            if body is None:  # client went away
                return
            if isinstance(body, int):
                return await _send_json(send, 413, _too_large(cap, path, self.max_items, self.max_text))
            receive = _replay(body, receive)
        if not self.routes.known(path):
            scope = {**scope, "path": UNMATCHED_PATH, "raw_path": UNMATCHED_PATH.encode()}
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


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# ---------------------------------------------------------------------------- score gate
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


def with_caller(body: bytes, caller: Any) -> bytes:
    """The score body with the calling key written into every item (replacing any value sent)."""
    data = json.loads(body)
    for item in data.get("items", []):
        if isinstance(item, dict):
            item["caller_key_id"] = caller.id
            item["caller_key_name"] = caller.name
    return json.dumps(data).encode("utf-8")
