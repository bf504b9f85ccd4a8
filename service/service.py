"""The trendml triage service: one BentoML service class.

Routes (all but health/readiness need ``Authorization: Bearer <key>``; see :mod:`service.auth`):

- ``POST /v1/score``  (triage) adaptive-batched severity pre-scores + trend + priority, audited
- ``POST /v1/items``  (triage) store flagged items for trend detection
- ``POST /v1/detect`` (admin) run trend detection over the stored items
- ``GET /v1/trends``, ``GET /v1/trends/{id}`` (analyst) list and inspect trends
- ``POST /v1/trends/{id}/feedback`` (analyst) confirm / dismiss / escalate + note
- ``GET /v1/feedback/export`` (admin) analyst decisions as labels for retraining
- ``POST /v1/reload``, ``GET /v1/model`` (admin / any key) model status and hot swap
- ``GET /v1/model/history`` (any key) the champion alias history
- ``POST|GET|DELETE /v1/keys`` (admin) API keys
- ``POST /v1alpha1/comments:analyze`` (triage) Perspective-compatible scores (:mod:`service.perspective`)
- ``GET /healthz``, ``/livez``, ``/readyz`` (open), ``/metrics`` (BentoML's Prometheus metrics)

Run: ``trendml serve`` or ``bentoml serve service.service:TriageService``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from datetime import datetime
from typing import Annotated, Any

from trendml.config import Settings, apply_offline_environment

apply_offline_environment()

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import Body, FastAPI, HTTPException, Query, Request  # noqa: E402
from pydantic import BeforeValidator  # noqa: E402

from service.auth import AuthMiddleware  # noqa: E402
from service.curation_schemas import MergeRequest, RenameRequest, SplitRequest  # noqa: E402
from service.detect_lease import DEFAULT_TTL_S, LeaseHeld, detection_lease, make_holder  # noqa: E402
from service.docs_page import install_docs  # noqa: E402
from service.errors import InternalErrorMiddleware, for_caller, install_handlers  # noqa: E402
from service.hardening import HardeningMiddleware, ScoreRefusals, install_metrics_labels  # noqa: E402
from service.item_routes import install_item_routes  # noqa: E402
from service.keycache import KeyCache  # noqa: E402
from service.models import ModelManager  # noqa: E402
from service.monitoring import Monitor, install_monitoring_routes  # noqa: E402
from service.perspective import PerspectiveMiddleware  # noqa: E402
from service.perspective import app as perspective_app  # noqa: E402
from service.pipeline import detect_stored  # noqa: E402
from service.ratelimit import RateLimitMiddleware  # noqa: E402
from service.readiness import ReadinessMiddleware  # noqa: E402
from service.retention import start_retention_schedule  # noqa: E402
from service.schemas import (  # noqa: E402
    MAX_ITEMS,
    AdminAuditOut,
    AliasEvent,
    DetectRequest,
    DetectResponse,
    ErrorResponse,
    FeedbackOut,
    FeedbackRequest,
    ItemsRequest,
    ItemsResponse,
    KeyCreated,
    KeyCreateRequest,
    KeyOut,
    ModelRef,
    ModelStatus,
    RepresentativeItem,
    ScoreItem,
    ScoreResult,
    TrendDetail,
    TrendList,
    TrendSummary,
    utc_time,
)
from service.trends_backend import DatabaseUnavailable, TrendBackend, is_connection_error  # noqa: E402
from service.workers import worker_count  # noqa: E402
from trendml import __version__  # noqa: E402
from trendml.embed import embedder_from_settings  # noqa: E402
from trendml.policy import load_policy  # noqa: E402
from trendml.trends.status import StatusName  # noqa: E402

logger = logging.getLogger(__name__)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


RELOAD_INTERVAL_S = _env_float("TRENDML_RELOAD_INTERVAL_S", 30.0)
#: torch intra-op threads. The service runs one batch at a time; one thread avoids OpenMP
#: spin-waiting on small, shared machines (measured 27 ms vs 100+ ms per single-item embedding
#: on the 2 shared cores here). Raise it on a dedicated many-core host.
TORCH_THREADS = int(_env_float("TRENDML_TORCH_THREADS", 1))
BATCH_MAX_LATENCY_MS = int(_env_float("TRENDML_BATCH_MAX_LATENCY_MS", 60_000))
#: Python's GIL switch interval in the service process (ms; CPython's default is 5). The batch thread
#: runs the embedder, which releases the GIL inside every torch op and needs it back between ops;
#: while the event loop parses requests, each hand-back can wait a whole interval.
GIL_SWITCH_INTERVAL_MS = _env_float("TRENDML_GIL_SWITCH_INTERVAL_MS", 5.0)
#: Seconds a verified API key is reused without a database lookup (service.keycache); revocations
#: through the API clear it at once, others (CLI) take effect within this time. 0 disables it.
KEY_CACHE_TTL_S = _env_float("TRENDML_KEY_CACHE_TTL_S", 2.0)
BATCH_MAX_SIZE = max(MAX_ITEMS, 64)
#: Worker processes (``TRENDML_WORKERS``): ``auto`` (the default) runs one per CPU core, at most
#: ``service.workers.MAX_AUTO_WORKERS`` (4); a number runs that many. Each has its own model, batch
#: thread and event loop.
#: One process is GIL-bound near one core under many small requests (2026-12-01, 2 quiet cores, 32
#: single-item clients: 30.7 items/s with 1 worker, 67.9 with 2). Each worker loads the model (~0.7 GB
#: of RSS more each) and keeps its own key cache and trend snapshot; quotas are shared through the
#: store (service.ratelimit) and detection runs under a lease (docs/service.md, "Throughput").
WORKERS = worker_count(os.environ.get("TRENDML_WORKERS"))

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or unknown API key.",
        403: "The key lacks the role.",
        413: "Too many items in one request.",
        422: "Schema error; `field` names the offending field.",
        503: "No model loaded, or the trend engine is unavailable.",
    }.items()
}


def _not_scored(exc: Exception) -> Exception:
    """The 503 of a scoring batch whose database cannot be reached (checked or written)."""
    return bentoml.exceptions.ServiceUnavailable(
        f"the database cannot be reached ({type(exc).__name__}); nothing was scored; retry shortly"
    )


def _levels_doc() -> str:
    """The severity levels as the policy names them (models/policy.yaml, ``TRENDML_POLICY``)."""
    try:
        levels = load_policy(Settings.from_env().policy_file).levels
    except Exception as exc:  # noqa: BLE001 - the service itself refuses to start with the reason
        return f" (policy not loaded: {type(exc).__name__})"
    return " Severity levels: " + "; ".join(f"{k} {lv.name}: {lv.description}" for k, lv in levels.items())


app = FastAPI(
    title="trendml API",
    version=__version__,
    description=(
        "Severity pre-scores and emerging abuse-trend detection. Send `Authorization: Bearer <key>`; "
        "roles: triage (score, items), analyst (trends, feedback), admin (everything)." + _levels_doc()
    ),
    docs_url=None,  # served by service.docs_page from this origin (no CDN, no inline script)
    openapi_url="/openapi.json",
)
install_handlers(app)
install_docs(app)
install_metrics_labels(app)
install_item_routes(app)  # issue 22: outcomes, GET/DELETE one item, the erasure log (service.item_routes)
install_monitoring_routes(app)  # issue 22: GET /v1/monitoring (service.monitoring)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


class DashboardApp:
    """The analysts' dashboard (:mod:`service.dashboard`), mounted at ``/ui``. Built on its first
    request from the running service's settings, database engine and model manager, so the
    dashboard and the API share one store. It checks its own sign-in (an analyst key in a cookie)."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        from service.dashboard import create_app
        from service.dashboard.model_info import champion_info

        svc = bentoml.get_current_service()

        def model_info() -> dict[str, Any] | None:
            active = svc.models.active
            info = champion_info(svc.settings, active.version if active else None)
            if info is not None and getattr(svc, "monitor", None) is not None:
                info = {**info, "monitoring": svc.monitor.snapshot}  # issue 22 (service.monitoring)
            return info

        app = create_app(svc.settings, engine=svc.engine, model_info=model_info, root_path="/ui")
        app.state.searcher = svc.searcher()  # issue 16: the search page uses the service's index and model
        return app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if self._app is None:
            with self._lock:
                if self._app is None:  # an unhandled error is logged once and answered 500 (service.errors)
                    self._app = InternalErrorMiddleware(self._build())
        await self._app(scope, receive, send)


dashboard = DashboardApp()


@bentoml.service(name="trendml", workers=WORKERS, traffic={"timeout": 600})
@bentoml.asgi_app(app, path="/v1")
@bentoml.asgi_app(dashboard, path="/ui", name="dashboard")
@bentoml.asgi_app(perspective_app, path="/v1alpha1", name="perspective")
class TriageService:
    """Severity pre-scores, trend assignment, trend API and analyst feedback."""

    def __init__(self) -> None:
        from trendml.schema import create_all
        from trendml.store.base import make_engine, make_sessionmaker

        t0 = time.perf_counter()
        import torch

        torch.set_num_threads(max(1, TORCH_THREADS))
        sys.setswitchinterval(max(0.0001, GIL_SWITCH_INTERVAL_MS / 1000.0))
        self.settings = Settings.from_env()
        self.settings.ensure_home()
        self.policy = load_policy(self.settings.policy_file)  # a bad key stops start-up, naming it
        self.engine = make_engine(self.settings.db_url)
        create_all(self.engine)
        self.Session = make_sessionmaker(self.engine)
        self.key_cache = KeyCache(KEY_CACHE_TTL_S)
        self.refusals = ScoreRefusals()  # refused score requests of this worker (service.hardening)
        self.embedder = embedder_from_settings(self.settings)
        self._embed_lock = threading.Lock()
        self._blas: Any = None
        self._detect_lock = threading.Lock()
        self._lease_holder = make_holder()
        self._lease_ttl_s = _env_float("TRENDML_DETECT_LEASE_TTL_S", DEFAULT_TTL_S)
        self.embed_texts(["warm up"])
        self.models = ModelManager(
            self.settings,
            self.embedder,
            uri=os.environ.get("TRENDML_MODEL_URI") or None,
            interval_s=RELOAD_INTERVAL_S,
            on_watch_swap=self._audit_watcher_swap,
        )
        self.models.refresh()
        self.models.start()
        self.trends = TrendBackend(
            self.engine,
            self.Session,
            window=os.environ.get("TRENDML_TREND_WINDOW") or "1d",
            policy=self.policy,
        )
        self._start_alert_delivery()
        self._start_detect_schedule(_env_float("TRENDML_DETECT_INTERVAL_S", 0.0))
        start_retention_schedule(self, self._stop_schedule)  # TRENDML_RETENTION_DAYS (service.retention)
        self.monitor = Monitor(self)  # drift, ECE, language share, cache hit rate (service.monitoring)
        self.monitor.start(self._stop_schedule)
        active = self.models.active
        logger.info(
            "trendml service initialised in %.1fs: model %s, trends %s",
            time.perf_counter() - t0,
            f"{active.name} v{active.version}" if active else f"NOT LOADED ({self.models.last_error})",
            f"degraded ({self.trends.degraded})" if self.trends.degraded else "on",
        )

    # ------------------------------------------------------------------ plumbing
    def __is_ready__(self) -> bool:
        return self.models.active is not None

    def ready(self) -> bool:
        return self.models.active is not None

    def not_ready_reason(self, caller: Any = None) -> str:
        """Why no model is loaded: the raw load error for admin keys, a generic line for others."""
        if self.models.last_error:
            return for_caller(caller, self.models.last_error) or ""
        return "the severity model is still loading; retry shortly"

    def refuse_conflicts(self, items: list[Any]) -> list[bool]:
        """Which items of a scoring batch are refused: every item of a request (``request_ref``)
        that has an item whose id is stored with other content (the score would not be theirs).
        Each refused request's indexes are posted on :attr:`refusals`, where the auth middleware
        takes them and answers 409 (:mod:`service.hardening`). One query per batch."""
        from trendml.store.items import content_conflicts

        try:
            with self.Session() as session:
                conflicts = content_conflicts(session, items)
        except Exception as exc:
            if is_connection_error(exc):  # nothing can be checked (nor audited): 503, not a bug
                raise _not_scored(exc) from None
            raise
        if not conflicts:
            return [False] * len(items)
        position: list[int] = []  # an item's index in its own request
        seen: dict[str | None, int] = {}
        for it in items:
            position.append(seen.get(it.request_ref, 0))
            seen[it.request_ref] = position[-1] + 1
        refused: dict[str | None, list[int]] = {}
        for i in conflicts:
            refused.setdefault(items[i].request_ref, []).append(position[i])
        for ref, indexes in refused.items():
            if ref is not None:
                self.refusals.post(ref, indexes)
        return [it.request_ref in refused for it in items]

    def admin_audit(
        self,
        action: str,
        caller: Any,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str = "schedule",
    ) -> None:
        """Append to the admin audit log (who: the calling key, else ``actor``: ``schedule``, ``watcher``)."""
        from trendml.store.admin_audit import record_admin

        with self.Session() as session:
            record_admin(
                session,
                action,
                actor=caller.name if caller is not None else actor,
                key_id=caller.id if caller is not None else None,
                target=target,
                detail=detail,
            )

    def _audit_watcher_swap(self, old: Any, new: Any) -> None:
        """The champion watcher switched models on its own: a ``reload`` by ``watcher``."""
        self.admin_audit(
            "reload",
            None,
            target=new.version,
            detail={"from": old.version if old else None, "error": None, "automatic": True},
            actor="watcher",
        )

    def cached_key(self, token: str) -> Any:
        """The key's info when it was verified less than ``TRENDML_KEY_CACHE_TTL_S`` ago, else None
        (then :meth:`authenticate` asks the database). Called on the event loop: no I/O."""
        return self.key_cache.get(token)

    def authenticate(self, token: str) -> Any:
        from trendml.store.keys import lookup_key

        def load() -> Any:
            with self.Session() as session:
                return lookup_key(session, token)

        try:  # one query per key when its cache entry expires, however many requests wait on it
            return self.key_cache.get_or_load(token, load)
        except Exception as exc:
            if is_connection_error(exc):
                raise DatabaseUnavailable(f"the database cannot be reached ({type(exc).__name__})") from None
            raise

    def _blas_controller(self) -> Any:
        """A ``threadpoolctl.ThreadpoolController`` made on the first scored batch (after the model
        loaded its libraries) and reused: finding the BLAS libraries per batch cost ~2 % of the
        server's CPU at 32 concurrent clients."""
        if self._blas is None:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        return self._blas

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.encode(texts)

    def _start_detect_schedule(self, interval_s: float) -> None:
        """Optional schedule: ``TRENDML_DETECT_INTERVAL_S`` > 0 runs detection that often."""
        self._stop_schedule = threading.Event()
        if interval_s <= 0:
            return

        def loop() -> None:
            while not self._stop_schedule.wait(interval_s):
                try:
                    self.run_detection()
                except HTTPException as exc:
                    logger.info("scheduled detection skipped: %s", exc.detail)
                except Exception:  # noqa: BLE001 - keep the schedule alive
                    logger.exception("scheduled detection failed")

        threading.Thread(target=loop, name="trendml-detect-schedule", daemon=True).start()

    def _start_alert_delivery(self) -> None:
        """The alert outbox's sender (service.alert_delivery): every ``TRENDML_ALERT_DELIVERY_INTERVAL_S``
        seconds (default 5; 0 turns it off) when a webhook has a URL."""
        from service.alert_delivery import DeliveryLoop

        self.alert_delivery = DeliveryLoop(
            self.Session, self.policy, interval_s=_env_float("TRENDML_ALERT_DELIVERY_INTERVAL_S", 5.0)
        )
        self.alert_delivery.start()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.alert_delivery.stop()
        self._stop_schedule.set()
        self.models.stop()
        self.engine.dispose()

    def trends_health(self) -> str:
        """ "ok", "degraded" (scores carry no trend; reason on /v1/model) or "unavailable" (no database)."""
        try:
            self.trends.current_state()
        except DatabaseUnavailable:
            return "unavailable"
        except Exception as exc:  # noqa: BLE001 - reported, never raised from a probe
            self.trends._degrade(f"{type(exc).__name__}: {str(exc)[:200]}")
        return "degraded" if self.trends.degraded else "ok"

    def _model_status(self, *, admin: bool = True) -> ModelStatus:
        active = self.models.active
        trends_error = self.trends.degraded if admin else None
        return ModelStatus(
            trends_error=trends_error,
            ready=active is not None,
            model=ModelRef(name=active.name, version=active.version) if active else None,
            loaded_at=_iso(active.loaded_at) if active else None,
            last_error=self.models.last_error,
            trends_available=True,  # the trend engine is part of trendml; kept for the API's clients
            embedder=f"{self.embedder.name}@{self.embedder.version}",
        )

    # ------------------------------------------------------------------ scoring
    @bentoml.api(
        route="/v1/score",
        batchable=True,
        batch_dim=0,
        max_batch_size=BATCH_MAX_SIZE,
        max_latency_ms=BATCH_MAX_LATENCY_MS,
    )
    def score(self, items: list[ScoreItem]) -> list[ScoreResult]:
        """Severity pre-score, trend and priority for each item (role: triage).

        Body: ``{"items": [item, ...]}`` (1..max items). Answer: one result per item, in order.
        """
        from trendml.language import detect_languages, language_supported
        from trendml.severity.scoring import score_vectors
        from trendml.store.audit import add_audit
        from trendml.store.items import record_scores
        from trendml.text import content_hash

        active = self.models.active
        if active is None:  # the auth middleware refuses these first; kept for direct calls
            raise bentoml.exceptions.ServiceUnavailable(self.not_ready_reason())
        refused = self.refuse_conflicts(items)  # scored below like the rest, but nothing is written
        texts = [it.content for it in items]
        vectors = self.embed_texts(texts)
        scored = score_vectors(
            active.model, texts, vectors, model_name=active.name, model_version=active.version
        )
        probs, severity = scored.probs, scored.labels
        languages = detect_languages(texts, blas=self._blas_controller())
        try:
            assigned = self.trends.assign(items, vectors)  # never fails because of the trend state
        except DatabaseUnavailable as exc:
            raise bentoml.exceptions.ServiceUnavailable(f"{exc}; nothing was scored; retry shortly") from None
        # the trend engine clusters English only: an unsupported-language item joins no trend
        assigned = [
            a if language_supported(lang) else (None, False, "unsupported_lang")
            for a, lang in zip(assigned, languages, strict=True)
        ]
        results: list[ScoreResult] = []
        audit: list[dict[str, Any]] = []
        for it, text, p, s, (trend_id, emerging, trend_status) in zip(
            items, texts, probs, severity, assigned, strict=True
        ):
            prio = self.policy.priority_of(int(s), emerging=bool(emerging))
            probs_list = [round(float(x), 6) for x in p]
            results.append(
                ScoreResult(
                    id=it.id,
                    severity=int(s),
                    severity_probs=probs_list,
                    trend_id=trend_id,
                    emerging=bool(emerging),
                    priority=prio,
                    model=ModelRef(name=active.name, version=active.version),
                    language=languages[len(results)],
                    language_supported=language_supported(languages[len(results)]),
                )
            )
            audit.append(
                {
                    "item_id": it.id,
                    "input_hash": content_hash(text),
                    "model_name": active.name,
                    "model_version": active.version,
                    "severity": int(s),
                    "severity_probs": probs_list,
                    "trend_id": trend_id,
                    "emerging": bool(emerging),
                    "priority": prio,
                    "trend_status": trend_status,
                    "key_id": it.caller_key_id,
                    "key_name": it.caller_key_name,
                }
            )
        kept = [i for i, r in enumerate(refused) if not r]
        try:
            with self.Session() as session:
                add_audit(session, [audit[i] for i in kept])
                # only onto stored rows with the same content (refused requests write nothing)
                record_scores(
                    session,
                    [{**results[i].model_dump(), "content_hash": audit[i]["input_hash"]} for i in kept],
                )
                session.commit()
        except Exception as exc:
            if is_connection_error(exc):  # nothing could be audited: no answer either
                raise _not_scored(exc) from None
            raise
        return results

    # ------------------------------------------------------------------ items and detection
    @app.post("/items", response_model=ItemsResponse, responses=ERRORS, tags=["items"])
    def add_items(self, body: ItemsRequest) -> ItemsResponse:
        """Store flagged items for trend detection (role: triage). Ids already stored are kept as they are."""
        from trendml.store.items import add_items, count_items

        with self.Session() as session:
            stored, dups = add_items(session, body.items)
            total = count_items(session)
        return ItemsResponse(stored=stored, duplicates=dups, total=total)

    @app.post("/detect", response_model=DetectResponse, responses=ERRORS, tags=["trends"])
    def detect(self, request: Request, body: DetectRequest | None = Body(default=None)) -> DetectResponse:
        """Run trend detection over the stored items not yet processed and store the trends (role: admin).

        Incremental: windows already processed are final; only complete windows are processed unless
        ``include_open_window``; ``reset`` starts over from every stored item."""
        body = body or DetectRequest()
        return self.run_detection(
            since=body.since,
            reset=body.reset,
            include_open_window=body.include_open_window,
            caller=request.state.caller,
        )

    def run_detection(
        self,
        *,
        since: datetime | None = None,
        reset: bool = False,
        include_open_window: bool = False,
        caller: Any = None,
    ) -> DetectResponse:
        if not self._detect_lock.acquire(blocking=False):
            raise HTTPException(
                409,
                detail={
                    "error": "detection running",
                    "field": None,
                    "detail": "a detection run is in progress; retry when it ends",
                },
            )
        try:
            try:
                with detection_lease(self.Session, self._lease_holder, ttl_s=self._lease_ttl_s):
                    out = detect_stored(
                        self.Session,
                        self.embed_texts,
                        self.trends,
                        self.models.active,
                        since=since,
                        reset=reset,
                        include_open_window=include_open_window,
                    )
            except LeaseHeld as held:
                raise HTTPException(
                    409,
                    detail={
                        "error": "detection running",
                        "field": None,
                        "detail": f"a detection run is in progress in another replica ({held.holder}); "
                        f"retry when it ends (its lease lapses within {held.seconds_left:.0f}s)",
                    },
                ) from None
            result = DetectResponse(**out)
            self.admin_audit(
                "detect",
                caller,
                detail={
                    "since": _iso(since),
                    "reset": reset,
                    "include_open_window": include_open_window,
                    **result.model_dump(include={"n_items", "n_windows", "n_trends", "n_emerging"}),
                },
            )
            return result
        finally:
            self._detect_lock.release()

    # ------------------------------------------------------------------ trends
    @app.get("/trends", response_model=TrendList, responses=ERRORS, tags=["trends"])
    def list_trends(
        self,
        status: StatusName | None = Query(
            None, description="Only trends with this status in their latest window."
        ),
        emerging: bool | None = Query(
            None, description="Only trends emerging (true) or not (false) in their latest window."
        ),
        region: str | None = Query(
            None,
            description="Only trends whose members in their latest window come from this ISO country code "
            "significantly more often than the window's items do (one-sided p < 0.01).",
            min_length=2,
            max_length=2,
        ),
        since: Annotated[
            datetime | None,
            Query(description="Only trends seen in a window starting at or after this time (ISO-8601)."),
            BeforeValidator(utc_time),
        ] = None,
        offset: int = Query(0, ge=0, le=1_000_000, description="Trends to skip."),
        limit: int = Query(50, ge=1, le=500, description="Trends per page."),
    ) -> TrendList:
        """Trends, most recently seen first, then by emergence score (role: analyst)."""
        from trendml.curation import curated_list, redirects
        from trendml.store.feedback import latest_actions

        merged = bool(redirects(self.engine))  # issue 16: trends an analyst merged are left out
        found = self.trends.list_trends(
            status=status,
            emerging=emerging,
            region=region.upper() if region else None,
            since=since,
            limit=500 if merged else limit,
            offset=0 if merged else offset,
        )
        listed, total = curated_list(self.engine, found.items), found.total  # analyst titles
        if merged:
            total -= len(found.items) - len(listed)
            listed = listed[offset : offset + limit]
        with self.Session() as session:
            decided = {k: v.action for k, v in latest_actions(session).items()}
        return TrendList(
            items=[TrendSummary.from_view(t, feedback=decided.get(t.trend_id)) for t in listed],
            total=total,
            offset=offset,
            limit=limit,
        )

    @app.get(
        "/trends/{trend_id}",
        response_model=TrendDetail,
        responses={**ERRORS, 404: {"model": ErrorResponse, "description": "Unknown trend id."}},
        tags=["trends"],
    )
    def get_trend(
        self,
        trend_id: str,
        request: Request,
        members: bool = Query(False, description="Include each window's member item ids."),
    ) -> TrendDetail:
        """One trend: one entry per window, keywords, representative items with scores (role: analyst)."""
        from trendml.store.feedback import list_feedback
        from trendml.store.items import get_items

        self._redirect_merged(trend_id, request)
        timeline = self._trend_or_404(trend_id)
        latest = timeline.windows[-1].trend if timeline.windows else None
        rep_ids = list(latest.representative_ids) if latest is not None else []
        with self.Session() as session:
            rows = get_items(session, rep_ids)
            history = list_feedback(session, trend_id)
        reps = []
        for item_id in rep_ids:
            row = rows.get(item_id)
            if row is None:
                reps.append(RepresentativeItem(id=item_id))
                continue
            reps.append(
                RepresentativeItem(
                    id=row.id,
                    text=row.text,
                    caption=row.caption,
                    created_at=_iso(row.to_item().created_at),
                    region=row.region,
                    severity=row.severity,
                    severity_probs=row.severity_probs,
                    model_version=row.model_version,
                )
            )
        from trendml.curation import titles

        return TrendDetail.from_timeline(
            timeline,
            title=titles(self.engine).get(trend_id, timeline.trend.title),  # issue 16: analyst title
            representatives=reps,
            feedback_history=[FeedbackOut(**f.to_dict()) for f in history],
            members=members,
        )

    def _redirect_merged(self, trend_id: str, request: Request) -> None:
        """A trend an analyst merged answers 307 to the trend it lives on (issue 16, curation)."""
        from trendml.curation import resolve

        target = resolve(self.engine, trend_id)
        if target != trend_id:
            from urllib.parse import quote

            query = f"?{request.url.query}" if request.url.query else ""
            raise HTTPException(
                307,
                detail={
                    "error": "merged",
                    "field": "trend_id",
                    "detail": f'trend "{trend_id}" was merged into "{target}"; follow Location',
                },
                headers={"Location": quote(target) + query},  # relative: /v1/trends/<target>
            )

    def _trend_or_404(self, trend_id: str) -> Any:
        """The trend's ``TrendTimeline``, or 404."""
        trend = self.trends.get_trend(trend_id)
        if trend is None:
            raise HTTPException(
                404,
                detail={
                    "error": "not found",
                    "field": "trend_id",
                    "detail": f'trend "{trend_id[:80]}" does not exist; expected an id from GET /v1/trends',
                },
            )
        return trend

    @app.post(
        "/trends/{trend_id}/feedback",
        response_model=FeedbackOut,
        status_code=201,
        responses={**ERRORS, 404: {"model": ErrorResponse, "description": "Unknown trend id."}},
        tags=["feedback"],
    )
    def add_feedback(self, trend_id: str, body: FeedbackRequest, request: Request) -> FeedbackOut:
        """Record an analyst's decision on a trend (role: analyst). Stored durably; latest wins on export."""
        from trendml.store.feedback import add_feedback

        self._trend_or_404(trend_id)
        caller = request.state.caller
        with self.Session() as session:
            row = add_feedback(session, trend_id, body.action, body.note, analyst=caller.name)
        return FeedbackOut(**row.to_dict())

    @app.get(
        "/trends/{trend_id}/feedback",
        response_model=list[FeedbackOut],
        responses={**ERRORS, 404: {"model": ErrorResponse, "description": "Unknown trend id."}},
        tags=["feedback"],
    )
    def trend_feedback(self, trend_id: str) -> list[FeedbackOut]:
        """Every decision recorded on a trend, oldest first (role: analyst); 404 for an unknown trend."""
        from trendml.store.feedback import list_feedback

        self._trend_or_404(trend_id)
        with self.Session() as session:
            return [FeedbackOut(**f.to_dict()) for f in list_feedback(session, trend_id)]

    @app.get("/feedback/export", responses=ERRORS, tags=["feedback"])
    def export_feedback(self) -> list[dict[str, Any]]:
        """Analyst decisions as labelled rows for retraining (role: admin); see docs/service.md."""
        from trendml.store.feedback import export_labels

        with self.Session() as session:  # every trend's members from one generation of the trend state
            return self.trends.export(lambda members_of: list(export_labels(session, members_of)))

    # ------------------------------------------------------------------ model and keys
    @app.get("/model", response_model=ModelStatus, responses=ERRORS, tags=["admin"])
    def model_status(self, request: Request) -> ModelStatus:
        """The model in use, when it was loaded and the last load error (any key; the error's text
        for admin keys only); with an admin key also why trend assignment is degraded
        (``trends_error``)."""
        caller = getattr(request.state, "caller", None)
        status = self._model_status(admin=getattr(caller, "role", None) == "admin")
        return status.model_copy(update={"last_error": for_caller(caller, status.last_error)})

    @app.get("/model/history", response_model=list[AliasEvent], responses=ERRORS, tags=["admin"])
    def model_history(self) -> list[AliasEvent]:
        """Every move of the champion alias, newest first: when, by whom, from, to, forced, the
        gate's reasons (any key). Empty when there is no registry yet."""
        from trendml.registry import alias_history

        return [
            AliasEvent(
                seq=int(e.get("seq", 0)),
                at=str(e.get("at", "")),
                by=str(e.get("by", "unknown")),
                action=str(e.get("action", "")),
                from_version=None if e.get("from") is None else str(e["from"]),
                to_version=str(e.get("to")),
                forced=bool(e.get("forced")),
                reasons=[str(r) for r in e.get("reasons") or []],
            )
            for e in reversed(alias_history(self.settings))
        ]

    @app.post("/reload", response_model=ModelStatus, responses=ERRORS, tags=["admin"])
    def reload(self, request: Request) -> ModelStatus:
        """Check the registry now and switch to the current champion if it moved (role: admin)."""
        before = self.models.active
        self.models.refresh()
        status = self._model_status()
        self.admin_audit(
            "reload",
            request.state.caller,
            target=status.model.version if status.model else None,
            detail={"from": before.version if before else None, "error": status.last_error},
        )
        return status

    @app.post("/keys", response_model=KeyCreated, status_code=201, responses=ERRORS, tags=["admin"])
    def create_key(self, body: KeyCreateRequest, request: Request) -> KeyCreated:
        """Create an API key (role: admin). The key is in this answer only. Names are unique: a
        taken name (revoked keys' included) is 409."""
        from trendml.store.keys import create_key

        with self.Session() as session:
            key, info = create_key(session, body.role, body.name)
        self.admin_audit(
            "key.create", request.state.caller, target=f"#{info.id} {info.name}", detail={"role": info.role}
        )
        return KeyCreated(key=key, **info.to_dict())

    @app.get("/keys", response_model=list[KeyOut], responses=ERRORS, tags=["admin"])
    def list_keys(self) -> list[KeyOut]:
        """All keys (never the keys themselves) (role: admin)."""
        from trendml.store.keys import list_keys

        with self.Session() as session:
            return [KeyOut(**k.to_dict()) for k in list_keys(session)]

    @app.delete("/keys/{key_id}", response_model=KeyOut, responses=ERRORS, tags=["admin"])
    def revoke_key(self, key_id: int, request: Request) -> KeyOut:
        """Revoke a key (role: admin); requests with it get 401 from then on, and its dashboard
        sessions end."""
        from trendml.errors import InputError
        from trendml.store.keys import revoke_key

        with self.Session() as session:
            try:
                info = revoke_key(session, key_id)
            except InputError as exc:
                raise HTTPException(
                    404, detail={"error": "not found", "field": "key_id", "detail": exc.message}
                ) from None
        self.key_cache.clear()  # the revoked key gets 401 from the next request on
        self.admin_audit(
            "key.revoke", request.state.caller, target=f"#{info.id} {info.name}", detail={"role": info.role}
        )
        return KeyOut(**info.to_dict())

    @app.get("/audit", response_model=list[AdminAuditOut], responses=ERRORS, tags=["admin"])
    def admin_audit_log(
        self,
        action: str | None = Query(None, max_length=32, description="Only this action (e.g. key.create)."),
        offset: int = Query(0, ge=0, le=1_000_000),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[AdminAuditOut]:
        """The admin audit log, newest first: key creation / revocation / rotation, detection runs,
        reloads; who (key name and id, or cli / schedule) and when (role: admin)."""
        from trendml.store.admin_audit import list_admin

        with self.Session() as session:
            return [
                AdminAuditOut(**r.to_dict())
                for r in list_admin(session, limit=limit, offset=offset, action=action)
            ]

    # ------------------------------------------------------------------ alerts (issue 16)
    @app.get("/alerts", responses=ERRORS, tags=["alerts"])
    def list_alerts(
        self,
        trend_id: str | None = Query(None, max_length=64, description="Only this trend's alerts."),
        offset: int = Query(0, ge=0, le=1_000_000),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        """Alerts, newest first, each with its webhook deliveries (role: analyst); see docs/alerts.md."""
        from trendml.alerts.outbox import list_alerts

        with self.Session() as session:
            return list_alerts(session, limit=limit, offset=offset, trend_id=trend_id)

    @app.post("/alerts/{alert_id}/replay", responses=ERRORS, tags=["alerts"])
    def replay_alert(self, alert_id: str, request: Request) -> dict[str, Any]:
        """Queue every delivery of an alert again (role: admin)."""
        from trendml.alerts.outbox import replay_alert
        from trendml.errors import InputError

        with self.Session() as session:
            try:
                n = replay_alert(session, alert_id)
            except InputError as exc:
                raise HTTPException(
                    404, detail={"error": "not found", "field": "alert_id", "detail": exc.message}
                ) from None
        self.admin_audit("alert.replay", request.state.caller, target=alert_id, detail={"deliveries": n})
        return {"alert_id": alert_id, "queued": n}

    # ------------------------------------------------------------------ search (issue 16)
    def searcher(self) -> Any:
        """The item search (trendml.search): the keyword index in the database, the hnswlib index
        under ``TRENDML_HOME/search`` fed from the embedding cache, query texts embedded here."""
        if getattr(self, "_searcher", None) is None:
            from trendml.embed.base import embedder_id
            from trendml.search import Searcher

            cache = getattr(self.embedder, "cache", None)
            model = embedder_id(self.embedder)
            self._searcher = Searcher(
                self.engine,
                self.settings.home / "search",
                model=model,
                vectors_for=(lambda hashes: cache.get_many(model, hashes)) if cache is not None else None,
                embed_query=lambda q: self.embed_texts([q])[0],
                check_every_s=2.0,  # new items reach semantic search within 2 s of being embedded
            )
        return self._searcher

    @app.get("/search", responses=ERRORS, tags=["search"])
    def search(
        self,
        q: str | None = Query(None, max_length=2000, description="Words (keyword) or text (semantic)."),
        mode: str = Query("keyword", pattern="^(keyword|semantic)$", description="keyword or semantic."),
        like: str | None = Query(None, max_length=256, description="semantic: neighbours of this item id."),
        since: Annotated[
            datetime | None,
            Query(description="Items created at or after (ISO-8601)."),
            BeforeValidator(utc_time),
        ] = None,
        until: Annotated[
            datetime | None, Query(description="Items created before (ISO-8601)."), BeforeValidator(utc_time)
        ] = None,
        region: str | None = Query(None, min_length=2, max_length=2, description="ISO country code."),
        min_severity: int | None = Query(None, ge=0, le=3, description="Only items scored at least this."),
        trend_id: str | None = Query(None, max_length=64, description="Only members of this trend."),
        limit: int = Query(20, ge=1, le=200),
    ) -> dict[str, Any]:
        """Stored items by keyword or meaning (role: analyst): ``{"items": [{"id", "score",
        "severity", "trend_id", "created_at", "region"}], "total", "engine"}``; see docs/search.md."""
        from trendml.search import SearchFilters

        filters = SearchFilters(
            since=since,
            until=until,
            region=region.upper() if region else None,
            min_severity=min_severity,
            trend_id=trend_id,
        )
        return self.searcher().search(q, mode=mode, filters=filters, limit=limit, like=like)

    # ------------------------------------------------------------------ curation (issue 16)
    def _curate(self, fn: Any, *args: Any) -> dict[str, Any]:
        from trendml.errors import InputError

        try:
            return fn(self.engine, *args)
        except InputError as exc:
            if exc.field == "trend_id":
                raise HTTPException(
                    404, detail={"error": "not found", "field": "trend_id", "detail": exc.message}
                ) from None
            raise

    @app.post("/trends/{trend_id}/merge", responses=ERRORS, tags=["curation"])
    def merge_trend(self, trend_id: str, body: MergeRequest, request: Request) -> dict[str, Any]:
        """Merge this trend into ``into`` (role: analyst): its id redirects to ``into`` from now on and
        the next detection maps its group onto ``into``; attributed in the trend's history."""
        from trendml.curation import merge

        return self._curate(merge, trend_id, body.into, request.state.caller.name)

    @app.post("/trends/{trend_id}/split", responses=ERRORS, tags=["curation"])
    def split_trend(self, trend_id: str, body: SplitRequest, request: Request) -> dict[str, Any]:
        """Move ``member_ids`` of this trend to a new trend (role: analyst); ``other_id`` names it."""
        from trendml.curation import split
        from trendml.embed.base import embedder_id
        from trendml.store.items import get_items

        cache = getattr(self.embedder, "cache", None)

        def vectors(ids: list[str]) -> Any:
            if cache is None:
                return None
            with self.Session() as session:
                rows = get_items(session, ids)
            found = cache.get_many(embedder_id(self.embedder), [r.content_hash for r in rows.values()])
            vecs = [found[r.content_hash] for r in rows.values() if r.content_hash in found]
            return np.stack(vecs) if vecs else None

        return self._curate(
            lambda engine, *a: split(engine, *a, title=body.title, vectors=vectors),
            trend_id,
            body.member_ids,
            request.state.caller.name,
        )

    @app.post("/trends/{trend_id}/rename", responses=ERRORS, tags=["curation"])
    def rename_trend(self, trend_id: str, body: RenameRequest, request: Request) -> dict[str, Any]:
        """Give this trend the title analysts see (role: analyst)."""
        from trendml.curation import rename

        return self._curate(rename, trend_id, body.title, request.state.caller.name)

    @app.get("/trends/{trend_id}/history", responses=ERRORS, tags=["curation"])
    def trend_history(self, trend_id: str) -> list[dict[str, Any]]:
        """Every curation action on this trend, oldest first: who, when, what (role: analyst)."""
        from trendml.curation import history

        return history(self.engine, trend_id)


# Issue 14 (throughput): BentoML's output descriptor of `score` (a root model over list[ScoreResult])
# answers `mime_type()` by generating the whole JSON schema of the output, on every response: a third
# of the event loop's CPU at 32 concurrent single-item clients (yappi, CPU clock). The answer is
# always JSON; saying so once skips that work. (Local to the score route; see docs/service.md.)
TriageService.apis["score"].output_spec.media_type = "application/json"

# In this order, after BentoML's own metrics middleware: body caps and headers before authentication.
TriageService.add_asgi_middleware(PerspectiveMiddleware)  # ?key= and Perspective's error shape on /v1alpha1
TriageService.add_asgi_middleware(HardeningMiddleware)
TriageService.add_asgi_middleware(AuthMiddleware)
TriageService.add_asgi_middleware(
    RateLimitMiddleware,
    per_minute=_env_float("TRENDML_RATE_LIMIT_PER_MIN", 0.0),
    burst=_env_float("TRENDML_RATE_LIMIT_BURST", 0.0) or None,
    shared=WORKERS > 1,  # one bucket per key for all worker processes, in the store
)
TriageService.add_asgi_middleware(ReadinessMiddleware)
