"""Per-item routes (issue 22): moderator outcomes, reading one stored item, erasure and its log.

- ``POST /v1/items/{id}/outcome`` (triage) the moderator's action, final severity and policy area;
  idempotent (the same outcome twice stores one row; a changed one is recorded as a change)
- ``GET /v1/items/{id}`` (analyst) the stored item with its score, language and outcome; 404 once erased
- ``DELETE /v1/items/{id}`` (admin) erase the item everywhere (:mod:`trendml.erasure`)
- ``GET /v1/erasures`` (admin, the auditor's view) the erasure log: who, when, id, content hash

The handlers reach the running service through ``bentoml.get_current_service()``; the role table
is :data:`service.auth.RULES`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import bentoml
from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ErrorResponse

logger = logging.getLogger(__name__)

NOT_FOUND = {404: {"model": ErrorResponse, "description": "Unknown (or erased) item id."}}


class OutcomeRequest(BaseModel):
    """Body of ``POST /v1/items/{id}/outcome``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["none", "removed", "restricted", "escalated"] = Field(
        description="What the moderator did.", examples=["removed"]
    )
    severity: int = Field(ge=0, le=3, strict=True, description="The final severity 0..3.", examples=[2])
    policy_area: str = Field(
        min_length=1, max_length=64, description="A policy area of models/policy.yaml.", examples=["hate"]
    )


class OutcomeOut(BaseModel):
    id: int
    item_id: str
    action: str
    severity: int
    policy_area: str
    moderator: str
    previous_id: int | None = Field(description="The outcome this one changed (null for the first).")
    decided_at: str
    status: str = Field(description="created, unchanged (same as the latest: nothing stored) or changed.")


class StoredItemOut(BaseModel):
    id: str
    text: str | None
    caption: str | None
    created_at: str | None
    received_at: str | None
    region: str | None
    source: str | None
    report_reason: str | None
    content_hash: str
    language: str | None
    language_supported: bool
    severity: int | None
    severity_probs: list[float] | None
    model_version: str | None
    outcome: dict[str, Any] | None
    outcome_history: list[dict[str, Any]]


class ErasureOut(BaseModel):
    erased: list[str]
    unknown: list[str]
    cache_entries: int = Field(description="Embedding-cache entries removed (content no other item has).")
    detail: dict[str, int]


class ErasureLogOut(BaseModel):
    id: int
    item_id: str
    content_hash: str
    actor: str
    key_id: int | None
    reason: str
    at: str
    detail: dict[str, Any] | None


def _not_found(item_id: str) -> HTTPException:
    return HTTPException(
        404,
        detail={
            "error": "not found",
            "field": "item_id",
            "detail": f'item "{item_id[:80]}" is not stored (never sent, or erased); '
            "expected an id sent to POST /v1/items or POST /v1/score",
        },
    )


def _iso(dt: Any) -> str | None:
    from trendml.utc import aware

    return aware(dt).isoformat() if dt is not None else None


def install_item_routes(app: FastAPI) -> None:
    """Add the per-item routes to the API app (``/v1``)."""

    @app.post(
        "/items/{item_id}/outcome",
        response_model=OutcomeOut,
        responses=NOT_FOUND,
        tags=["items"],
    )
    def record_outcome(item_id: str, body: OutcomeRequest, request: Request) -> OutcomeOut:
        """Record a moderator's outcome on a stored or scored item (role: triage). Idempotent."""
        from sqlalchemy import select

        from trendml.store.audit import ScoreAudit
        from trendml.store.erasure_log import Erasure
        from trendml.store.items import get_items
        from trendml.store.outcomes import record_outcome

        svc = bentoml.get_current_service()
        caller = request.state.caller
        with svc.Session() as session:
            stored = bool(get_items(session, [item_id]))
            audited = session.scalar(select(ScoreAudit.id).where(ScoreAudit.item_id == item_id).limit(1))
            erased = session.scalar(select(Erasure.id).where(Erasure.item_id == item_id).limit(1))
            known = stored or (audited is not None and erased is None)  # an erased item stays gone
            if not known:
                raise _not_found(item_id)
            rec = record_outcome(
                session,
                item_id,
                action=body.action,
                severity=body.severity,
                policy_area=body.policy_area,
                moderator=caller.name,
                key_id=caller.id,
                areas=list(svc.policy.policy_areas),
            )
        return OutcomeOut(**rec.outcome.to_dict(), status=rec.status)

    @app.get("/items/{item_id}", response_model=StoredItemOut, responses=NOT_FOUND, tags=["items"])
    def get_item(item_id: str) -> StoredItemOut:
        """The stored item with its latest score, language and moderator outcome (role: analyst)."""
        from trendml.language import language_supported
        from trendml.store.items import get_items
        from trendml.store.outcomes import outcome_history

        svc = bentoml.get_current_service()
        with svc.Session() as session:
            row = get_items(session, [item_id]).get(item_id)
            if row is None:
                raise _not_found(item_id)
            history = [o.to_dict() for o in outcome_history(session, item_id)]
        return StoredItemOut(
            id=row.id,
            text=row.text,
            caption=row.caption,
            created_at=_iso(row.created_at),
            received_at=_iso(row.received_at),
            region=row.region,
            source=row.source,
            report_reason=row.report_reason,
            content_hash=row.content_hash,
            language=row.language,
            language_supported=language_supported(row.language),
            severity=row.severity,
            severity_probs=row.severity_probs,
            model_version=row.model_version,
            outcome=history[-1] if history else None,
            outcome_history=history,
        )

    @app.delete("/items/{item_id}", response_model=ErasureOut, responses=NOT_FOUND, tags=["items"])
    def erase_item(item_id: str, request: Request) -> ErasureOut:
        """Erase a stored item's text everywhere trendml holds it (role: admin); logged in the
        erasure log (GET /v1/erasures). 404 for an id not stored (or already erased)."""
        from trendml.erasure import erase_items

        svc = bentoml.get_current_service()
        caller = request.state.caller
        with svc.Session() as session:
            result = erase_items(
                session,
                [item_id],
                actor=caller.name,
                key_id=caller.id,
                cache_path=svc.settings.embedding_cache_path,
                search_dir=svc.settings.home / "search",
            )
        if not result.erased:
            raise _not_found(item_id)
        return ErasureOut(**result.to_dict())

    @app.get("/erasures", response_model=list[ErasureLogOut], tags=["admin"])
    def erasures(
        item_id: str | None = Query(None, max_length=256, description="Only this item id."),
        offset: int = Query(0, ge=0, le=1_000_000),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[ErasureLogOut]:
        """The erasure log, newest first: which item, its content hash, who, when, why (role: admin)."""
        from trendml.store.erasure_log import list_erasures

        svc = bentoml.get_current_service()
        with svc.Session() as session:
            return [
                ErasureLogOut(**e.to_dict())
                for e in list_erasures(session, item_id=item_id, limit=limit, offset=offset)
            ]
