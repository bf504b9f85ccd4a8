"""Request and response models of the HTTP API (they are the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trendml.config import Settings
from trendml.items import Item

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
    """A flagged item (the shared item schema) with the service's size limit on text and caption."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _limit(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("text", "caption"):
                value = data.get(name)
                if isinstance(value, str) and len(value) > MAX_TEXT:
                    raise ValueError(
                        f"{name} has {len(value):,} characters; expected at most {MAX_TEXT:,} "
                        "(shorten it, or raise TRENDML_MAX_TEXT_CHARS on the server)"
                    )
        return data


class ScoreRequest(BaseModel):
    """Body of ``POST /v1/score``."""

    items: list[RequestItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Items to score, 1..{MAX_ITEMS} per request (TRENDML_MAX_ITEMS_PER_REQUEST).",
        examples=[[ITEM_EXAMPLE]],
    )


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


class ItemsRequest(BaseModel):
    """Body of ``POST /v1/items``."""

    items: list[RequestItem] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Items to store, 1..{MAX_ITEMS} per request.",
        examples=[[ITEM_EXAMPLE]],
    )


class ItemsResponse(BaseModel):
    stored: int = Field(description="Items newly stored.", examples=[1])
    duplicates: int = Field(
        description="Items whose id was already stored (kept as first received).", examples=[0]
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
    embedder: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: str = Field(description="What went wrong, in one sentence.", examples=["invalid request"])
    field: str | None = Field(
        default=None,
        description="The offending field, when one is to blame.",
        examples=["items[0].created_at"],
    )
    detail: str | None = Field(default=None, description="Received, expected and remedy.")
