"""A Perspective-compatible endpoint: ``POST /v1alpha1/comments:analyze`` (role: triage).

Clients written for Google's Perspective API (``commentanalyzer.googleapis.com``) can point their
base URL at this service. Request and response follow Perspective's shapes; the scores come from
the severity model's four level probabilities ``P0`` (none), ``P1`` (offensive), ``P2`` (hateful),
``P3`` (threat/violent) through a fixed, cumulative mapping (:data:`ATTRIBUTES`), so a client's
threshold keeps its meaning: "score >= t" reads "P(at least that level) >= t".

==================  ==================  =================================================
attribute           score               why
==================  ==================  =================================================
TOXICITY            1 - P0              offensive or worse
INSULT              1 - P0              the four levels do not separate insults
PROFANITY           1 - P0              nor profanity: both are "offensive or worse"
SEVERE_TOXICITY     P2 + P3             hateful or worse
IDENTITY_ATTACK     P2 + P3             the "hateful" level is identity-based hate
THREAT              P3                  threat / violent
==================  ==================  =================================================

- The key comes as ``?key=`` (as Perspective clients send it; it is moved into an
  ``Authorization: Bearer`` header and removed from the query string before anything else sees
  the request) or as a Bearer header. The key needs the triage role.
- Every error on ``/v1alpha1/...`` (authentication, body caps, rate limit, validation) answers in
  Perspective's shape ``{"error": {"code", "message", "status"}}`` (:class:`PerspectiveMiddleware`).
- An attribute outside the six, a ``scoreType`` other than ``PROBABILITY``, no text, a text over
  ``TRENDML_MAX_TEXT_CHARS`` or a ``languages`` list without ``en`` answer 400 ``INVALID_ARGUMENT``
  with a message that names the field.
- ``doNotStore: true``: nothing is written (no ``score_audit`` row, no embedding-cache entry) and
  nothing about the text is logged. Otherwise one ``score_audit`` row is written, as for
  ``/v1/score`` (content hash, never the text), with item id ``perspective:<clientToken>`` or
  ``perspective:<first 16 hex digits of the content hash>`` and ``trend_status`` ``not_assigned``.
- ``spanAnnotations``, ``sessionId``, ``communityId`` and ``context`` are accepted and ignored
  (no ``spanScores``: the model scores whole comments). ``scoreThreshold`` is honoured as
  Perspective does: an attribute scoring below it is left out of ``attributeScores``.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)

PREFIX = "/v1alpha1"
ANALYZE_PATH = PREFIX + "/comments:analyze"

#: Perspective attribute -> the severity levels whose probabilities add up to its score.
ATTRIBUTES: dict[str, tuple[int, ...]] = {
    "TOXICITY": (1, 2, 3),
    "SEVERE_TOXICITY": (2, 3),
    "IDENTITY_ATTACK": (2, 3),
    "INSULT": (1, 2, 3),
    "PROFANITY": (1, 2, 3),
    "THREAT": (3,),
}
LANGUAGES = ["en"]

#: HTTP status -> the google.rpc status name Perspective answers with.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def attribute_scores(probs: Any) -> dict[str, float]:
    """The six attributes' scores from one row of the four level probabilities."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape != (4,):
        raise ValueError(f"expected 4 level probabilities, got {p.shape[0]}")
    return {name: float(min(1.0, max(0.0, p[list(levels)].sum()))) for name, levels in ATTRIBUTES.items()}


def error_payload(code: int, message: str) -> dict[str, Any]:
    """Perspective's (google.rpc) error body."""
    return {"error": {"code": code, "message": message, "status": RPC_STATUS.get(code, "UNKNOWN")}}


class AnalyzeError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> AnalyzeError:
    return AnalyzeError(400, message)


def parse_request(obj: Any, max_text: int) -> dict[str, Any]:
    """Check an AnalyzeComment request; return ``text``, ``attributes`` ({name: threshold|None}),
    ``do_not_store`` and ``client_token``. Raises :class:`AnalyzeError` naming the field."""
    if not isinstance(obj, dict):
        raise _bad('the request body is not a JSON object; expected {"comment": {"text": ...}, ...}')
    comment = obj.get("comment")
    if not isinstance(comment, dict) or "text" not in comment:
        raise _bad('comment.text: no comment text received; expected {"comment": {"text": "..."}}')
    text = comment["text"]
    if not isinstance(text, str):
        raise _bad(f"comment.text: received {type(text).__name__}; expected a string")
    if not text.strip():
        raise _bad("comment.text: Comment must be non-empty; send the text to analyze")
    if len(text) > max_text:
        raise _bad(
            f"comment.text: Comment text too long: {len(text):,} characters; expected at most "
            f"{max_text:,} (TRENDML_MAX_TEXT_CHARS); split or shorten the text"
        )
    ctype = comment.get("type", "PLAIN_TEXT")
    if ctype not in ("PLAIN_TEXT", None):
        raise _bad(f"comment.type: received {str(ctype)[:40]!r}; expected PLAIN_TEXT")
    requested = obj.get("requestedAttributes")
    if not isinstance(requested, dict) or not requested:
        raise _bad(
            "requestedAttributes: no attribute requested; expected an object such as "
            '{"TOXICITY": {}}; supported: ' + ", ".join(ATTRIBUTES)
        )
    attributes: dict[str, float | None] = {}
    for name, spec in requested.items():
        if name not in ATTRIBUTES:
            raise _bad(
                f"requestedAttributes.{name[:64]}: Attribute {name[:64]} is not supported by this server; "
                "supported: " + ", ".join(ATTRIBUTES)
            )
        spec = spec if spec is not None else {}
        if not isinstance(spec, dict):
            raise _bad(
                f"requestedAttributes.{name}: expected an object such as {{}} or "
                '{"scoreType": "PROBABILITY"}'
            )
        stype = spec.get("scoreType", "PROBABILITY")
        if stype not in ("PROBABILITY", None, ""):
            raise _bad(
                f"requestedAttributes.{name}.scoreType: received {str(stype)[:40]!r}; expected PROBABILITY"
            )
        threshold = spec.get("scoreThreshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1
        ):
            raise _bad(f"requestedAttributes.{name}.scoreThreshold: expected a number between 0 and 1")
        attributes[name] = None if threshold is None else float(threshold)
    languages = obj.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
            raise _bad('languages: expected a list of language codes such as ["en"]')
        if languages and not any(x.lower().split("-")[0] == "en" for x in languages):
            raise _bad(
                "languages: Attribute scores are not available for "
                f"{', '.join(x[:8] for x in languages[:5])}; "
                'this server scores English only; send ["en"] or leave languages out'
            )
    dns = obj.get("doNotStore", False)
    if not isinstance(dns, bool):
        raise _bad("doNotStore: expected true or false")
    token = obj.get("clientToken")
    if token is not None and (not isinstance(token, str) or len(token) > 200):
        raise _bad("clientToken: expected a string of at most 200 characters")
    return {"text": text, "attributes": attributes, "do_not_store": dns, "client_token": token}


def _score(svc: Any, content: str, do_not_store: bool) -> tuple[Any, Any]:
    """The active model and the four level probabilities of ``content``. With ``do_not_store`` the
    embedding cache is bypassed (no vector of the text is kept)."""
    active = svc.models.active
    if active is None:
        raise AnalyzeError(503, "model not loaded: " + svc.not_ready_reason())
    if do_not_store:
        base = getattr(svc.embedder, "embedder", svc.embedder)  # CachedEmbedder wraps the real one
        with svc._embed_lock:
            vectors = base.encode([content])
    else:
        vectors = svc.embed_texts([content])
    from trendml.severity.scoring import score_vectors

    scored = score_vectors(
        active.model, [content], vectors, model_name=active.name, model_version=active.version
    )
    return active, scored


def _audit(svc: Any, active: Any, item_id: str, digest: str, scored: Any, caller: Any) -> None:
    from trendml.store.audit import add_audit

    severity, probs = int(scored.labels[0]), scored.probs
    row = {
        "item_id": item_id,
        "input_hash": digest,
        "model_name": active.name,
        "model_version": str(active.version),
        "severity": severity,
        "severity_probs": [round(float(x), 6) for x in probs[0]],
        "trend_id": None,
        "emerging": None,
        "trend_status": "not_assigned",
        "priority": svc.policy.priority_of(severity),
        "key_id": getattr(caller, "id", None),
        "key_name": getattr(caller, "name", None),
    }
    with svc.Session() as session:
        add_audit(session, [row])
        session.commit()


async def analyze(request: Request) -> JSONResponse:
    import bentoml

    from service.schemas import MAX_TEXT
    from trendml.text import combine_text, content_hash, has_visible_text

    try:
        raw = await request.body()
        try:
            obj = json.loads(raw.removeprefix(b"\xef\xbb\xbf") or b"null")
        except (ValueError, RecursionError):
            raise _bad("Invalid JSON payload received; expected a JSON object") from None
        req = parse_request(obj, MAX_TEXT)
        svc = bentoml.get_current_service()
        if svc is None:
            raise AnalyzeError(503, "the service is starting; retry shortly")
        content = combine_text(req["text"], None)
        if not content or not has_visible_text(content):
            raise _bad("comment.text: Comment must be non-empty (only invisible characters received)")
        active, scored = await run_in_threadpool(_score, svc, content, req["do_not_store"])
        if not req["do_not_store"]:
            digest = content_hash(content)
            item_id = "perspective:" + (req["client_token"] or digest[:16])
            caller = request.scope.get("state", {}).get("caller")
            await run_in_threadpool(_audit, svc, active, item_id, digest, scored, caller)
    except AnalyzeError as exc:
        return JSONResponse(error_payload(exc.code, exc.message), status_code=exc.code)
    scores = attribute_scores(scored.probs[0])
    out: dict[str, Any] = {
        "attributeScores": {
            name: {"summaryScore": {"value": round(scores[name], 6), "type": "PROBABILITY"}}
            for name, threshold in req["attributes"].items()
            if threshold is None or scores[name] >= threshold
        },
        "languages": list(LANGUAGES),
    }
    if req["client_token"] is not None:
        out["clientToken"] = req["client_token"]
    return JSONResponse(out)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    code = getattr(exc, "status_code", 404)
    return JSONResponse(
        error_payload(
            code, f"{request.method} {PREFIX}{request.url.path}: no such method; expected POST {ANALYZE_PATH}"
        ),
        status_code=code,
    )


app = Starlette(
    routes=[Route("/comments:analyze", analyze, methods=["POST"])],
    exception_handlers={404: _not_found, 405: _not_found},
)


def _query_key(query: bytes) -> tuple[str | None, bytes]:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    key = next((v for k, v in pairs if k == "key"), None)
    rest = [(k, v) for k, v in pairs if k != "key"]
    return key, urlencode(rest).encode("latin-1")


class PerspectiveMiddleware:
    """For ``/v1alpha1/...`` only: ``?key=`` becomes a Bearer header (and leaves the query string,
    so no log or metric sees it), and every ``{"error", "field", "detail"}`` error body answered by
    the layers after this one (body caps, authentication, rate limit) is rewritten into
    Perspective's ``{"error": {"code", "message", "status"}}``. Outermost: added first."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            return await self.app(scope, receive, send)
        key, query = _query_key(scope.get("query_string", b""))
        if key is not None:
            headers = list(scope.get("headers", []))
            if not any(k.lower() == b"authorization" for k, _ in headers):
                headers.append((b"authorization", f"Bearer {key}".encode("latin-1")))
            scope = {**scope, "headers": headers, "query_string": query}
        await self.app(scope, receive, _rewriting_send(send))


def _rewriting_send(send: Any) -> Any:
    held: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            if message.get("status", 200) >= 400:
                held["start"] = message
                return
            return await send(message)
        if message["type"] != "http.response.body" or "start" not in held:
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = held.pop("start"), b"".join(chunks)
        status = start["status"]
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("error"), str):
            detail = obj.get("detail")
            field = obj.get("field")
            text = obj["error"] + (f" ({field})" if field else "") + (f": {detail}" if detail else "")
            body = json.dumps(error_payload(status, text)).encode()
            headers = [
                (k, v)
                for k, v in start.get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            start = {**start, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return wrapped
