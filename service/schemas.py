"""Request and response models of the HTTP API (they are the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from trendml.config import Settings
from trendml.items import Item, ItemLimits, first_duplicate, parse_timestamp
from trendml.utc import iso_z

if TYPE_CHECKING:
    from trendml.trends.record import TimelinePoint, TrendTimeline, TrendView

#: Read once at import: the limits are part of the published schema.
LIMITS = Settings.from_env()
MAX_ITEMS = LIMITS.max_items_per_request
MAX_TEXT = LIMITS.max_text_chars

ITEM_EXAMPLE = {
    "id": "v123-c9",
    "text": "example comment text",
    "created_at": "2026-03-01T12:00:00Z",
    "region": "US",
    "source": "video_comment",
    "report_reason": "harassment",
}


class RequestItem(Item):
    """A flagged item: the shared item schema with the server's limits (TRENDML_MAX_TEXT_CHARS,
    TRENDML_MIN_CREATED_AT, TRENDML_MAX_CREATED_AHEAD_S)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limits = ItemLimits.from_settings(LIMITS)


def _unique_ids(items: list[RequestItem]) -> list[RequestItem]:
    """Ids are unique within a request (docs/items.md): a repeat is a 422 naming it."""
    dup = first_duplicate([it.id for it in items])
    if dup is not None:
        k, first = dup
        raise ValidationError.from_exception_data(
            "items",
            [
                {
                    "type": PydanticCustomError(
                        "duplicate_id",
                        "id duplicates items[{first}].id; expected ids unique in a request; "
                        "send each item once",
                        {"first": first},
                    ),
                    "loc": (k, "id"),
                    "input": items[k].id,
                }
            ],
        )
    return items


def utc_time(value: object) -> datetime | None:
    """A query or body time: ISO-8601, naive taken as UTC, must be expressible in UTC."""
    if value is None or value == "":
        return None
    return parse_timestamp(value)


class ScoreRequest(BaseModel):
    """Body of ``POST /v1/score``."""

    items: list[RequestItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Items to score, 1..{MAX_ITEMS} per request (TRENDML_MAX_ITEMS_PER_REQUEST); "
        "ids unique in a request.",
        examples=[[ITEM_EXAMPLE]],
    )

    _ids = field_validator("items")(_unique_ids)


class ModelRef(BaseModel):
    name: str = Field(description="Registered model name.", examples=["trendml-severity"])
    version: str = Field(description="Registered model version that produced this score.", examples=["3"])


class ScoreResult(BaseModel):
    """Pre-score of one item."""

    id: str = Field(description="The item's id, as sent.", examples=["v123-c9"])
    severity: int = Field(
        ge=0, le=3, description="0 none, 1 offensive, 2 hateful, 3 threat/violent.", examples=[2]
    )
    severity_probs: list[float] = Field(
        min_length=4,
        max_length=4,
        description="Probabilities of severity 0..3.",
        examples=[[0.1, 0.2, 0.6, 0.1]],
    )
    trend_id: str | None = Field(description="Known trend the item joins, or null.", examples=["T0007"])
    emerging: bool = Field(description="True when that trend is currently emerging.", examples=[False])
    priority: int = Field(
        ge=1,
        le=4,
        description="1 urgent .. 4 low: severity, one level up in an emerging trend.",
        examples=[2],
    )
    model: ModelRef
    language: str | None = Field(
        default=None,
        description="Detected language (ISO 639-1; `und` when undetermined).",
        examples=["en"],
    )
    language_supported: bool = Field(
        default=True,
        description="False when the text is confidently in a language the models do not support "
        "(they are English-only): the pre-score is unreliable; see the model card.",
        examples=[True],
    )


class ItemsRequest(BaseModel):
    """Body of ``POST /v1/items``."""

    items: list[RequestItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Items to store, 1..{MAX_ITEMS} per request; ids unique in a request.",
        examples=[[ITEM_EXAMPLE]],
    )

    _ids = field_validator("items")(_unique_ids)


class ItemsResponse(BaseModel):
    stored: int = Field(description="Items newly stored.", examples=[1])
    duplicates: int = Field(
        description="Items whose id was already stored (the stored one is kept).", examples=[0]
    )
    total: int = Field(description="Items in the store after this request.", examples=[1200])


class DetectRequest(BaseModel):
    """Body of ``POST /v1/detect`` (all fields optional)."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(
        default=None,
        description="Only use stored items created at or after this time.",
        examples=["2026-03-01T00:00:00Z"],
    )

    _since = field_validator("since", mode="before")(lambda v: utc_time(v))

    reset: bool = Field(
        default=False,
        description="Forget every processed window and trend first, then detect over all items.",
    )
    include_open_window: bool = Field(
        default=False,
        description="Also process the window that holds the current time (a processed window is final).",
    )


class DetectResponse(BaseModel):
    n_items: int = Field(description="Stored items used.", examples=[3000])
    n_windows: int = Field(description="Windows analysed.", examples=[10])
    n_trends: int = Field(description="Trends found over all windows.", examples=[12])
    n_emerging: int = Field(description="Trends flagged emerging in the latest window.", examples=[1])
    scored: int = Field(description="Stored items that were scored for this run.", examples=[3000])
    model: ModelRef | None = Field(description="Severity model used for the trends' severity mix, if loaded.")
    seconds: float = Field(description="Wall time of the run.", examples=[12.5])
    retired_with_decisions: list[str] = Field(
        default_factory=list,
        description="With reset: trends carrying an analyst decision that the re-run did not bring back "
        "(retired; their decisions and members stay in the label export).",
    )
    n_unsupported_language: int = Field(
        default=0,
        description="Of n_items, those left out of clustering because their language is not "
        "supported (they are still scored).",
        examples=[0],
    )
    n_alerts: int = Field(default=0, description="Alerts this run queued in the outbox (docs/alerts.md).")


class TrendSummary(BaseModel):
    """A trend as of its latest window (fields of the trend engine's contract)."""

    trend_id: str = Field(examples=["t202603050000-001"])
    status: str = Field(description="new / growing / stable / fading, in its latest window.")
    emerging: bool = Field(description="Emerging in its latest window (burst and density ratio vs history).")
    ever_emerging: bool = Field(default=False, description="Was emerging in any window.")
    size: int = Field(description="Members in its latest window.")
    total_size: int = Field(default=0, description="Members over every window.")
    n_windows: int = Field(default=0, description="Windows it appeared in.")
    emergence_score: float | None = Field(default=None, description="Burst z-score in its latest window.")
    us_share: float | None = None
    us_lift: float | None = None
    keywords: list[str] = Field(default_factory=list, description="c-TF-IDF keywords of its latest window.")
    title: str | None = Field(
        default=None,
        description="Readable label: its 3 most distinctive keywords.",
        examples=["border · wall · caravan"],
    )
    first_seen: str | None = Field(default=None, description="Start of the first window with the trend.")
    last_seen: str | None = Field(default=None, description="Start of the latest window with the trend.")
    parent_id: str | None = Field(default=None, description="Trend it split from, if any.")
    merged_into: str | None = Field(default=None, description="Trend it merged into, if it ended so.")
    feedback: str | None = Field(default=None, description="Latest analyst decision, if any.")

    @classmethod
    def view_fields(cls, view: TrendView) -> dict[str, Any]:
        """The fields of a stored trend (:class:`trendml.trends.record.TrendView`): the one place the
        API's trend models are filled from the typed trend record."""
        return {
            "trend_id": view.trend_id,
            "status": view.status.value,
            "emerging": view.emerging,
            "ever_emerging": view.ever_emerging,
            "size": view.size,
            "total_size": view.total_size,
            "n_windows": view.n_windows,
            "emergence_score": view.emergence_score,
            "us_share": view.us_share,
            "us_lift": view.us_lift,
            "keywords": list(view.keywords),
            "title": view.title,
            "first_seen": iso_z(view.first_seen),
            "last_seen": iso_z(view.last_seen),
            "parent_id": view.parent_id,
            "merged_into": view.merged_into,
        }

    @classmethod
    def from_view(cls, view: TrendView, *, feedback: str | None = None) -> TrendSummary:
        return cls(**cls.view_fields(view), feedback=feedback)


class TrendList(BaseModel):
    items: list[TrendSummary] = Field(description="This page of trends.")
    total: int = Field(description="Trends matching the filters (before paging).")
    offset: int
    limit: int


class TrendWindow(BaseModel):
    """The trend in one window."""

    start: str
    end: str
    n_items: int | None = Field(default=None, description="Items in the window.")
    size: int = Field(description="Members in this window.")
    status: str | None = None
    emerging: bool
    emergence_score: float | None = None
    us_share: float | None = None
    us_lift: float | None = None
    keywords: list[str] = Field(default_factory=list)
    title: str | None = Field(default=None, description="Its 3 most distinctive keywords in this window.")
    representative_ids: list[str] = Field(default_factory=list)
    region_counts: dict[str, int] = Field(default_factory=dict, description="Members per region.")
    severity_mix: list[float] | None = Field(
        default=None, description="Mean severity probabilities of members."
    )
    member_ids: list[str] | None = Field(default=None, description="Member item ids (with ?members=true).")

    @classmethod
    def from_point(cls, point: TimelinePoint, *, members: bool = False) -> TrendWindow:
        """The trend's stored ``TrendSnapshot`` in one window of its timeline."""
        t = point.trend
        return cls(
            start=iso_z(point.start),
            end=iso_z(point.end),
            n_items=point.n_items,
            size=t.size,
            status=t.status.value,
            emerging=t.emerging,
            emergence_score=t.emergence_score,
            us_share=t.us_share,
            us_lift=t.us_lift,
            keywords=list(t.keywords),
            title=t.title,
            representative_ids=list(t.representative_ids),
            region_counts=dict(t.region_counts or {}),
            severity_mix=list(t.severity_mix) if t.severity_mix is not None else None,
            member_ids=list(t.member_ids) if members else None,
        )


class RepresentativeItem(BaseModel):
    id: str
    text: str | None = None
    caption: str | None = None
    created_at: str | None = None
    region: str | None = None
    severity: int | None = None
    severity_probs: list[float] | None = None
    model_version: str | None = None


class FeedbackOut(BaseModel):
    id: int
    trend_id: str
    action: Literal["confirm", "dismiss", "escalate"]
    note: str | None
    analyst: str
    created_at: str


class TrendDetail(TrendSummary):
    windows: list[TrendWindow] = Field(
        description="One entry per window where the trend appears, in time order."
    )
    representatives: list[RepresentativeItem] = Field(description="Representative items with their scores.")
    feedback_history: list[FeedbackOut] = Field(default_factory=list)

    @classmethod
    def from_timeline(
        cls,
        timeline: TrendTimeline,
        *,
        title: str | None,
        representatives: list[RepresentativeItem],
        feedback_history: list[FeedbackOut],
        members: bool = False,
    ) -> TrendDetail:
        """One trend's timeline, with its analyst ``title``, representative items and decisions."""
        return cls(
            **{**cls.view_fields(timeline.trend), "title": title},
            feedback=feedback_history[-1].action if feedback_history else None,
            windows=[TrendWindow.from_point(p, members=members) for p in timeline.windows],
            representatives=representatives,
            feedback_history=feedback_history,
        )


class FeedbackRequest(BaseModel):
    """Body of ``POST /v1/trends/{trend_id}/feedback``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "dismiss", "escalate"] = Field(
        description="confirm (a real campaign), dismiss (not one), escalate (urgent, hand up).",
        examples=["confirm"],
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Free-text note.", examples=["same slur"]
    )


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["triage", "analyst", "admin"] = Field(examples=["analyst"])
    name: str | None = Field(default=None, max_length=128, examples=["alice"])


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str = Field(description="First characters of the key, to recognise it.")
    created_at: str
    revoked: bool


class KeyCreated(KeyOut):
    key: str = Field(description="The new key. Shown once; only its hash is stored.")


class ModelStatus(BaseModel):
    ready: bool
    model: ModelRef | None
    loaded_at: str | None
    last_error: str | None = Field(description="Why the latest (re)load failed, if it did.")
    trends_available: bool
    trends_error: str | None = Field(
        None, description="Admin keys only: why trend assignment is degraded (scores carry trend_id null)."
    )
    embedder: str


class AliasEvent(BaseModel):
    """One move of the ``champion`` alias (``trendml models promote/rollback``, or training's first
    version)."""

    seq: int
    at: str = Field(description="When, UTC ISO 8601.")
    by: str = Field(description="Who: user@host of the process that moved the alias.")
    action: str = Field(description="register | promote | rollback.")
    from_version: str | None = Field(description="The champion before (none for the first version).")
    to_version: str = Field(description="The champion after.")
    forced: bool = Field(description="True when the gate refused and --force overrode it.")
    reasons: list[str] = Field(description="The gate's reasons (overridden when forced).")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: str = Field(description="What went wrong, in one sentence.", examples=["invalid request"])
    field: str | None = Field(
        default=None,
        description="The offending field, when one is to blame.",
        examples=["items[0].created_at"],
    )
    detail: str | None = Field(default=None, description="Received, expected and remedy.")


class ScoreItem(RequestItem):
    """An item as ``score`` receives it: a :class:`RequestItem` plus the key that sent it and the
    request it came in (a random ref: one batch holds items of many requests), which the auth
    middleware writes into the body after authentication (a client's own values are
    overwritten). Hidden from the published schema."""

    caller_key_id: SkipJsonSchema[int | None] = Field(default=None, exclude=True)
    caller_key_name: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    request_ref: SkipJsonSchema[str | None] = Field(default=None, exclude=True, max_length=64)


class AdminAuditOut(BaseModel):
    """One row of the admin audit log."""

    id: int
    at: str = Field(description="When (UTC).")
    actor: str = Field(description="The key's name, or cli / schedule / watcher (automatic model reload).")
    key_id: int | None = Field(description="The key's id (null for cli / schedule / watcher).")
    action: str = Field(examples=["key.create"])
    target: str | None = Field(description="What it acted on (a key, a model version).")
    detail: dict[str, Any] | None = None
