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
- ``GET /healthz``, ``/livez``, ``/readyz`` (open), ``/metrics`` (BentoML's Prometheus metrics)

Run: ``trendml serve`` or ``bentoml serve service.service:TriageService``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime
from typing import Any, Literal

from trendml.config import Settings, apply_offline_environment

apply_offline_environment()

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import Body, FastAPI, HTTPException, Query, Request  # noqa: E402

from service.auth import AuthMiddleware  # noqa: E402
from service.errors import install_handlers  # noqa: E402
from service.models import ModelManager  # noqa: E402
from service.pipeline import decide, detect_stored  # noqa: E402
from service.schemas import (  # noqa: E402
    MAX_ITEMS,
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
    RequestItem,
    ScoreResult,
    TrendDetail,
    TrendList,
    TrendSummary,
    TrendWindow,
)
from service.trends_backend import TrendBackend  # noqa: E402
from trendml import __version__  # noqa: E402
from trendml.embed import embedder_from_settings  # noqa: E402

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
BATCH_MAX_SIZE = max(MAX_ITEMS, 64)

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

app = FastAPI(
    title="trendml API",
    version=__version__,
    description=(
        "Severity pre-scores and emerging abuse-trend detection. Send `Authorization: Bearer <key>`; "
        "roles: triage (score, items), analyst (trends, feedback), admin (everything)."
    ),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_handlers(app)


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
            return champion_info(svc.settings, active.version if active else None)

        return create_app(svc.settings, engine=svc.engine, model_info=model_info, root_path="/ui")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
        await self._app(scope, receive, send)


dashboard = DashboardApp()


@bentoml.service(name="trendml", workers=1, traffic={"timeout": 600})
@bentoml.asgi_app(app, path="/v1")
@bentoml.asgi_app(dashboard, path="/ui", name="dashboard")
class TriageService:
    """Severity pre-scores, trend assignment, trend API and analyst feedback."""

    def __init__(self) -> None:
        from trendml.store.base import create_all, make_engine, make_sessionmaker

        t0 = time.perf_counter()
        import torch

        torch.set_num_threads(max(1, TORCH_THREADS))
        self.settings = Settings.from_env()
        self.settings.ensure_home()
        self.engine = make_engine(self.settings.db_url)
        create_all(self.engine)
        self.Session = make_sessionmaker(self.engine)
        self.embedder = embedder_from_settings(self.settings)
        self._embed_lock = threading.Lock()
        self._detect_lock = threading.Lock()
        self.embed_texts(["warm up"])
        self.models = ModelManager(
            self.settings,
            self.embedder,
            uri=os.environ.get("TRENDML_MODEL_URI") or None,
            interval_s=RELOAD_INTERVAL_S,
        )
        self.models.refresh()
        self.models.start()
        self.trends = TrendBackend(
            self.engine, self.Session, window=os.environ.get("TRENDML_TREND_WINDOW") or "1d"
        )
        self._start_detect_schedule(_env_float("TRENDML_DETECT_INTERVAL_S", 0.0))
        active = self.models.active
        logger.info(
            "trendml service initialised in %.1fs: model %s, trends %s",
            time.perf_counter() - t0,
            f"{active.name} v{active.version}" if active else f"NOT LOADED ({self.models.last_error})",
            "on" if self.trends.available else f"off ({self.trends.reason})",
        )

    # ------------------------------------------------------------------ plumbing
    def __is_ready__(self) -> bool:
        return self.models.active is not None

    def ready(self) -> bool:
        return self.models.active is not None

    def not_ready_reason(self) -> str:
        return self.models.last_error or "the severity model is still loading; retry shortly"

    def authenticate(self, token: str) -> Any:
        from trendml.store.keys import lookup_key

        with self.Session() as session:
            return lookup_key(session, token)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.encode(texts)

    def _start_detect_schedule(self, interval_s: float) -> None:
        """Optional schedule: ``TRENDML_DETECT_INTERVAL_S`` > 0 runs detection that often."""
        self._stop_schedule = threading.Event()
        if interval_s <= 0 or not self.trends.available:
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

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop_schedule.set()
        self.models.stop()
        self.engine.dispose()

    def _model_status(self) -> ModelStatus:
        active = self.models.active
        return ModelStatus(
            ready=active is not None,
            model=ModelRef(name=active.name, version=active.version) if active else None,
            loaded_at=_iso(active.loaded_at) if active else None,
            last_error=self.models.last_error,
            trends_available=self.trends.available,
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
    def score(self, items: list[RequestItem]) -> list[ScoreResult]:
        """Severity pre-score, trend and priority for each item (role: triage).

        Body: ``{"items": [item, ...]}`` (1..max items). Answer: one result per item, in order.
        """
        from trendml.priority import priority
        from trendml.store.audit import add_audit
        from trendml.store.items import record_scores
        from trendml.text import content_hash

        active = self.models.active
        if active is None:  # the auth middleware refuses these first; kept for direct calls
            raise bentoml.exceptions.ServiceUnavailable(self.not_ready_reason())
        texts = [it.content for it in items]
        vectors = self.embed_texts(texts)
        probs = np.asarray(active.model.predict_proba(texts, vectors), dtype=np.float64)
        severity = decide(active.model, probs)
        assigned = self.trends.assign(items, vectors)
        results: list[ScoreResult] = []
        audit: list[dict[str, Any]] = []
        for it, text, p, s, (trend_id, emerging) in zip(items, texts, probs, severity, assigned, strict=True):
            prio = priority(int(s), emerging=bool(emerging))
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
                }
            )
        with self.Session() as session:
            add_audit(session, audit)
            record_scores(session, [r.model_dump() for r in results])
            session.commit()
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
    def detect(self, body: DetectRequest | None = Body(default=None)) -> DetectResponse:
        """Run trend detection over the stored items not yet processed and store the trends (role: admin).

        Incremental: windows already processed are final; only complete windows are processed unless
        ``include_open_window``; ``reset`` starts over from every stored item."""
        body = body or DetectRequest()
        return self.run_detection(
            since=body.since, reset=body.reset, include_open_window=body.include_open_window
        )

    def run_detection(
        self, *, since: datetime | None = None, reset: bool = False, include_open_window: bool = False
    ) -> DetectResponse:
        if not self.trends.available:
            raise HTTPException(
                503, detail={"error": "trends unavailable", "field": None, "detail": self.trends.reason}
            )
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
            out = detect_stored(
                self.Session,
                self.embed_texts,
                self.trends,
                self.models.active,
                since=since,
                reset=reset,
                include_open_window=include_open_window,
            )
            return DetectResponse(**out)
        finally:
            self._detect_lock.release()

    # ------------------------------------------------------------------ trends
    @app.get("/trends", response_model=TrendList, responses=ERRORS, tags=["trends"])
    def list_trends(
        self,
        status: Literal["new", "growing", "stable", "fading"] | None = Query(
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
        since: datetime | None = Query(
            None, description="Only trends seen in a window starting at or after this time (ISO-8601)."
        ),
        offset: int = Query(0, ge=0, le=1_000_000, description="Trends to skip."),
        limit: int = Query(50, ge=1, le=500, description="Trends per page."),
    ) -> TrendList:
        """Trends, most recently seen first, then by emergence score (role: analyst)."""
        from trendml.store.feedback import latest_actions

        found = self.trends.list_trends(
            status=status,
            emerging=emerging,
            region=region.upper() if region else None,
            since=since,
            limit=limit,
            offset=offset,
        )
        with self.Session() as session:
            decided = {k: v.action for k, v in latest_actions(session).items()}
        return TrendList(
            items=[TrendSummary(**{**t, "feedback": decided.get(t["trend_id"])}) for t in found["items"]],
            total=found["total"],
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
        members: bool = Query(False, description="Include each window's member item ids."),
    ) -> TrendDetail:
        """One trend: one entry per window, keywords, representative items with scores (role: analyst)."""
        from trendml.store.feedback import list_feedback
        from trendml.store.items import get_items

        trend = self._trend_or_404(trend_id, members=members)
        rep_ids = list(trend.get("representative_ids", []))
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
        fields = {k: v for k, v in trend.items() if k in TrendSummary.model_fields}
        return TrendDetail(
            **fields,
            feedback=history[-1].action if history else None,
            windows=[TrendWindow(**w) for w in trend.get("windows", [])],
            representatives=reps,
            feedback_history=[FeedbackOut(**f.to_dict()) for f in history],
        )

    def _trend_or_404(self, trend_id: str, *, members: bool = False) -> dict[str, Any]:
        trend = self.trends.get_trend(trend_id, members=members) if self.trends.available else None
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
        "/trends/{trend_id}/feedback", response_model=list[FeedbackOut], responses=ERRORS, tags=["feedback"]
    )
    def trend_feedback(self, trend_id: str) -> list[FeedbackOut]:
        """Every decision recorded on a trend, oldest first (role: analyst)."""
        from trendml.store.feedback import list_feedback

        with self.Session() as session:
            return [FeedbackOut(**f.to_dict()) for f in list_feedback(session, trend_id)]

    @app.get("/feedback/export", responses=ERRORS, tags=["feedback"])
    def export_feedback(self) -> list[dict[str, Any]]:
        """Analyst decisions as labelled rows for retraining (role: admin); see docs/service.md."""
        from trendml.store.feedback import export_labels

        with self.Session() as session:
            return list(export_labels(session, self.trends.members_of))

    # ------------------------------------------------------------------ model and keys
    @app.get("/model", response_model=ModelStatus, responses=ERRORS, tags=["admin"])
    def model_status(self) -> ModelStatus:
        """The model in use, when it was loaded and the last load error (any key)."""
        return self._model_status()

    @app.get("/model/history", response_model=list[AliasEvent], responses=ERRORS, tags=["admin"])
    def model_history(self) -> list[AliasEvent]:
        """Every move of the champion alias, newest first: when, by whom, from, to, forced, the
        gate's reasons (any key). Empty when there is no registry yet."""
        from training.registry import alias_history

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
    def reload(self) -> ModelStatus:
        """Check the registry now and switch to the current champion if it moved (role: admin)."""
        self.models.refresh()
        return self._model_status()

    @app.post("/keys", response_model=KeyCreated, status_code=201, responses=ERRORS, tags=["admin"])
    def create_key(self, body: KeyCreateRequest) -> KeyCreated:
        """Create an API key (role: admin). The key is in this answer only."""
        from trendml.store.keys import create_key

        with self.Session() as session:
            key, info = create_key(session, body.role, body.name)
        return KeyCreated(key=key, **info.to_dict())

    @app.get("/keys", response_model=list[KeyOut], responses=ERRORS, tags=["admin"])
    def list_keys(self) -> list[KeyOut]:
        """All keys (never the keys themselves) (role: admin)."""
        from trendml.store.keys import list_keys

        with self.Session() as session:
            return [KeyOut(**k.to_dict()) for k in list_keys(session)]

    @app.delete("/keys/{key_id}", response_model=KeyOut, responses=ERRORS, tags=["admin"])
    def revoke_key(self, key_id: int) -> KeyOut:
        """Revoke a key (role: admin); requests with it get 401 from then on."""
        from trendml.errors import InputError
        from trendml.store.keys import revoke_key

        with self.Session() as session:
            try:
                return KeyOut(**revoke_key(session, key_id).to_dict())
            except InputError as exc:
                raise HTTPException(
                    404, detail={"error": "not found", "field": "key_id", "detail": exc.message}
                ) from None


TriageService.add_asgi_middleware(AuthMiddleware)
