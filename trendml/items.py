"""The ``Item`` schema every command shares, and its readers (JSONL and CSV).

An item is one flagged piece of content::

    {"id": "a1", "text": "...", "caption": "...", "created_at": "2026-03-01T12:00:00Z",
     "region": "US", "source": "video_comment", "report_reason": "harassment"}

``id`` is required and unique; at least one of ``text``/``caption`` holds a visible character
after normalisation; ``created_at`` is ISO-8601 between :attr:`ItemLimits.min_created_at` and
a day past the clock (required for trend detection, optional for scoring); ``region`` is an
ISO 3166-1 alpha-2 code. One rule for every path: the CLI readers, ``/v1/items`` and
``/v1/score`` all validate with this model (see docs/items.md).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trendml.config import DEFAULT_MAX_CREATED_AHEAD_S, DEFAULT_MIN_CREATED_AT
from trendml.errors import InputError
from trendml.regions import ISO_ALPHA2
from trendml.text import combine_text, has_visible_text

if TYPE_CHECKING:
    from trendml.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_MAX_TEXT_CHARS = 10_000
ID_MAX_CHARS = 256
#: ``source`` and ``report_reason``: the size of their database columns.
META_MAX_CHARS = 128
ITEM_FIELDS = ("id", "text", "caption", "created_at", "region", "source", "report_reason")
_BOM = b"\xef\xbb\xbf"
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ItemLimits:
    """The configurable bounds of the item contract (from :class:`~trendml.config.Settings`)."""

    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    min_created_at: datetime = DEFAULT_MIN_CREATED_AT
    max_created_ahead_s: float = DEFAULT_MAX_CREATED_AHEAD_S

    @classmethod
    def from_settings(cls, settings: Settings) -> ItemLimits:
        return cls(
            max_text_chars=settings.max_text_chars,
            min_created_at=settings.min_created_at,
            max_created_ahead_s=settings.max_created_ahead_s,
        )

    def latest_created_at(self, now: datetime | None = None) -> datetime:
        """The latest ``created_at`` accepted: the clock plus ``max_created_ahead_s``."""
        return (now or datetime.now(UTC)) + timedelta(seconds=self.max_created_ahead_s)


def show(value: Any, limit: int = 40) -> str:
    """A received value, quoted for an error message: ASCII-escaped (controls, surrogates and
    invisible characters are visible and printable anywhere) and cut to ``limit`` characters."""
    if isinstance(value, str):
        cut = value[:limit]
        return json.dumps(cut) + ("…" if len(value) > limit else "")
    try:
        return json.dumps(value)[:limit]
    except (TypeError, ValueError):
        return type(value).__name__


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({show(value)})"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"a number ({value!r})"
    if isinstance(value, int):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _check_unicode(name: str, value: str) -> None:
    """Refuse lone surrogates (not encodable, so not storable) and NUL (PostgreSQL refuses it)."""
    if value.isascii():
        if "\x00" in value:
            raise ValueError(
                f"{name} holds a NUL character at position {value.index(chr(0))}; "
                "expected text without NUL; remove it"
            )
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{name} holds a lone surrogate (U+{ord(value[exc.start]):04X}) at position {exc.start}; "
            "expected valid Unicode; re-encode the source as UTF-8"
        ) from None
    if "\x00" in value:
        raise ValueError(
            f"{name} holds a NUL character at position {value.index(chr(0))}; expected text without NUL; "
            "remove it"
        )


def parse_timestamp(value: Any) -> datetime:
    """Parse an ISO-8601 timestamp into UTC; naive times are taken as UTC. Raises ``ValueError``
    (also for times that cannot be expressed in UTC, such as 0001-01-01T00:00:00+01:00)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        raw = value.strip()
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"{show(value)} is not ISO-8601; expected e.g. 2026-03-01T12:00:00Z") from None
    else:
        raise ValueError(f"{_kind(value)} is not ISO-8601; expected a string such as 2026-03-01T12:00:00Z")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{show(value)} is outside the calendar once converted to UTC; "
            "expected a time between years 1 and 9999 in UTC"
        ) from None


def first_duplicate(ids: Sequence[str]) -> tuple[int, int] | None:
    """``(index, index of its first occurrence)`` of the first repeated id, or None.

    The one rule for duplicate ids in a file or a request (docs/items.md): ids are unique
    within one file or request, so a repeat is an error naming both positions."""
    seen: dict[str, int] = {}
    for k, item_id in enumerate(ids):
        if item_id in seen:
            return k, seen[item_id]
        seen[item_id] = k
    return None


class _Hidden:
    """Stands for a text in a repr: ``<hidden, 42 characters>``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"<hidden, {self.n} characters>"


class Item(BaseModel):
    """One flagged item (text and/or video caption) with its metadata.

    Validation applies :class:`ItemLimits`: the ones passed as ``context={"limits": ...}``,
    else the class's :attr:`limits` (subclasses such as the service's set their own)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)

    #: Bounds used when no ``limits`` are passed in the validation context.
    limits: ClassVar[ItemLimits] = ItemLimits()

    id: str = Field(description="Unique id of the item in the caller's system.", examples=["v123-c9"])
    text: str | None = Field(default=None, description="Comment or post text.", examples=["example text"])
    caption: str | None = Field(default=None, description="Video caption or transcript.")
    created_at: datetime | None = Field(
        default=None,
        description="When the item was posted, ISO-8601, from 2000-01-01 to a day past the server's clock.",
        examples=["2026-03-01T12:00:00Z"],
    )
    region: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country code.", examples=["US"])
    source: str | None = Field(
        default=None, description="Surface it came from, e.g. video_comment (at most 128 characters)."
    )
    report_reason: str | None = Field(
        default=None, description="Why it was flagged, e.g. harassment (at most 128 characters)."
    )

    def __repr_args__(self):  # noqa: ANN204 - pydantic's signature
        """The repr (logs, tracebacks, pytest's failure output) shows the lengths of ``text`` and
        ``caption``, never their content: the items are flagged content, slurs included."""
        for name, value in super().__repr_args__():
            if name in ("text", "caption") and isinstance(value, str):
                yield name, _Hidden(len(value))
            else:
                yield name, value

    @classmethod
    def _limits(cls, info: ValidationInfo) -> ItemLimits:
        ctx = info.context
        if isinstance(ctx, dict) and isinstance(ctx.get("limits"), ItemLimits):
            return ctx["limits"]
        return cls.limits

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        if v is None:
            raise ValueError("id is missing; expected a non-empty string")
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"id is {_kind(v)}; expected a non-empty string (or an integer)")
        if not v.strip():
            raise ValueError("id is empty; expected a non-empty string")
        if len(v) > ID_MAX_CHARS:
            raise ValueError(f"id has {len(v)} characters; expected at most {ID_MAX_CHARS}")
        _check_unicode("id", v)
        if _ID_CONTROL.search(v):
            raise ValueError(f"id {show(v)} holds a control character; expected printable characters")
        return v

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, v: Any, info: ValidationInfo) -> datetime | None:
        if v is None or v == "":
            return None
        dt = parse_timestamp(v)
        limits = cls._limits(info)
        lo, hi = limits.min_created_at, limits.latest_created_at()
        if dt < lo:
            raise ValueError(
                f"{show(v)} is before {lo:%Y-%m-%d %H:%M} UTC; expected a time from "
                f"{lo:%Y-%m-%d} on (TRENDML_MIN_CREATED_AT); fix the item's time"
            )
        if dt > hi:
            raise ValueError(
                f"{show(v)} is more than {limits.max_created_ahead_s:g} s past the server's clock "
                f"(latest accepted {hi:%Y-%m-%dT%H:%M:%S}Z); expected a time that has happened; "
                "fix the item's time or the clock (TRENDML_MAX_CREATED_AHEAD_S)"
            )
        return dt

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: Any) -> str | None:
        if v is None or v == "":
            return None
        if not isinstance(v, str) or v.strip().upper() not in ISO_ALPHA2:
            shown = show(v, 12) if isinstance(v, str) else _kind(v)
            raise ValueError(
                f"{shown} is not an ISO 3166-1 alpha-2 country code; expected e.g. US, or leave region out"
            )
        return v.strip().upper()

    @field_validator("text", "caption", mode="before")
    @classmethod
    def _content_str(cls, v: Any, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        name = str(info.field_name)
        if not isinstance(v, str):
            raise ValueError(f"{name} is {_kind(v)}; expected a string")
        limit = cls._limits(info).max_text_chars
        if len(v) > limit:
            raise ValueError(
                f"{name} has {len(v):,} characters; expected at most {limit:,} "
                "(shorten it, or raise TRENDML_MAX_TEXT_CHARS)"
            )
        _check_unicode(name, v)
        return v

    @field_validator("source", "report_reason", mode="before")
    @classmethod
    def _meta_str(cls, v: Any, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        name = str(info.field_name)
        if not isinstance(v, str):
            raise ValueError(f"{name} is {_kind(v)}; expected a string")
        if len(v) > META_MAX_CHARS:
            raise ValueError(
                f"{name} has {len(v):,} characters; expected at most {META_MAX_CHARS}; shorten it"
            )
        _check_unicode(name, v)
        return v

    @model_validator(mode="after")
    def _has_content(self) -> Item:
        if not (self.text and self.text.strip()) and not (self.caption and self.caption.strip()):
            raise ValueError("text and caption are both empty; expected at least one non-empty string")
        if not has_visible_text(self.content):
            raise ValueError(
                "text and caption have no visible character after normalisation (only whitespace, "
                "control, format or zero-width characters); expected at least one visible character"
            )
        return self

    @property
    def content(self) -> str:
        """The normalised string that is embedded and scored (see :func:`combine_text`)."""
        return combine_text(self.text, self.caption)


def validate_item(obj: Any, *, max_text_chars: int | None = None, limits: ItemLimits | None = None) -> Item:
    """Validate one decoded record; raise :class:`InputError` naming the field.

    ``limits`` default to :class:`ItemLimits` (``max_text_chars``, when given, overrides theirs)."""
    if not isinstance(obj, dict):
        raise InputError(f"record is {_kind(obj)}; expected a JSON object with an id and a text")
    limits = limits or ItemLimits()
    if max_text_chars is not None and max_text_chars != limits.max_text_chars:
        limits = ItemLimits(max_text_chars, limits.min_created_at, limits.max_created_ahead_s)
    try:
        return Item.model_validate(obj, context={"limits": limits})
    except ValidationError as exc:
        raise _input_error(exc) from None


def _input_error(exc: ValidationError) -> InputError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if err.get("type") == "missing":
        msg = f"{loc} is missing; expected a value"
    field_name = loc or ("text" if "text and caption" in msg else None)
    if loc and not msg.startswith(loc):
        msg = f"{loc}: {msg}"
    return InputError(msg, field=field_name)


@dataclass(frozen=True)
class Reject:
    """A record that failed validation, kept so nothing is silently dropped."""

    line: int
    field: str | None
    error: str
    raw: str

    def to_json(self) -> str:
        return json.dumps({"line": self.line, "field": self.field, "error": self.error, "raw": self.raw})


@dataclass
class ReadResult:
    items: list[Item]
    rejects: list[Reject] = field(default_factory=list)
    path: str = ""


def _records_jsonl(data: bytes) -> Iterator[tuple[int, str, Any]]:
    data = data.removeprefix(_BOM)  # a UTF-8 byte-order mark, as the CSV reader allows
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, "", _LineError(lineno, None, f"is not valid UTF-8 (byte {exc.start})", raw)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            obj = _LineError(lineno, None, f"is not valid JSON ({exc.msg})", raw)
        yield lineno, line, obj


def _records_csv(data: bytes, source: str) -> Iterator[tuple[int, str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lineno = data[: exc.start].count(b"\n") + 1
        raise _LineError(lineno, None, f"is not valid UTF-8 (byte {exc.start})", b"") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if "id" not in header or not ({"text", "caption"} & set(header)):
        missing = "id" if "id" not in header else "text (or caption)"
        raise InputError(
            f"{source}: CSV header has columns {header}; expected an '{missing}' column "
            f"(columns: {', '.join(ITEM_FIELDS)}); add it to the header"
        )
    for row in reader:
        lineno = reader.line_num
        if None in row:
            yield lineno, "", _LineError(lineno, None, "has more values than the header has columns", b"")
            continue
        record = {k: (v if v != "" else None) for k, v in row.items() if k in ITEM_FIELDS}
        yield lineno, json.dumps(record), record


class _LineError(Exception):
    def __init__(self, line: int, field_name: str | None, message: str, raw: bytes) -> None:
        self.line, self.field, self.message = line, field_name, message
        self.raw = raw.decode("utf-8", errors="replace")


def read_items(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    max_text_chars: int | None = None,
    require_created_at: bool = False,
    limits: ItemLimits | None = None,
) -> ReadResult:
    """Read and validate items from a JSONL (or ``.csv``) file.

    The first bad record raises :class:`InputError` with its line number and field, unless
    ``skip_invalid`` is true: then bad records are collected in ``ReadResult.rejects``.
    Duplicate ids are errors (or rejects) too. A file with no valid item is an error.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist; expected a JSONL or CSV file of items; check the path")
    data = p.read_bytes()
    return parse_items(
        data,
        source=str(p),
        fmt="csv" if p.suffix.lower() == ".csv" else "jsonl",
        skip_invalid=skip_invalid,
        max_text_chars=max_text_chars,
        require_created_at=require_created_at,
        limits=limits,
    )


def parse_items(
    data: bytes,
    *,
    source: str = "<input>",
    fmt: str = "jsonl",
    skip_invalid: bool = False,
    max_text_chars: int | None = None,
    require_created_at: bool = False,
    limits: ItemLimits | None = None,
) -> ReadResult:
    """Parse items from raw bytes (see :func:`read_items`)."""
    items: list[Item] = []
    rejects: list[Reject] = []
    seen: dict[str, int] = {}
    records = _records_csv(data, source) if fmt == "csv" else _records_jsonl(data)
    expected = "one UTF-8 JSON object per line" if fmt == "jsonl" else "UTF-8 CSV rows matching the header"
    try:
        for lineno, raw, obj in records:
            if isinstance(obj, _LineError):
                if not skip_invalid:
                    raise InputError(
                        f"{source} line {obj.line} {obj.message}; expected {expected}; "
                        "fix the line or pass --skip-invalid"
                    )
                rejects.append(Reject(obj.line, obj.field, obj.message, obj.raw))
                continue
            try:
                item = validate_item(obj, max_text_chars=max_text_chars, limits=limits)
                if require_created_at and item.created_at is None:
                    raise InputError(
                        "created_at is missing; expected an ISO-8601 time such as 2026-03-01T12:00:00Z "
                        "(trend detection needs it)",
                        field="created_at",
                    )
                if item.id in seen:
                    raise InputError(
                        f"id {show(item.id, 60)} duplicates line {seen[item.id]}; "
                        "expected ids unique in a file",
                        field="id",
                    )
            except InputError as exc:
                if not skip_invalid:
                    raise InputError(
                        f"{source} line {lineno}: {exc.message}; fix the line or pass --skip-invalid",
                        field=exc.field,
                    ) from None
                rejects.append(Reject(lineno, exc.field, exc.message, raw))
                continue
            seen[item.id] = lineno
            items.append(item)
    except _LineError as exc:  # CSV that cannot be decoded at all
        raise InputError(
            f"{source} line {exc.line} {exc.message}; expected {expected}; re-save the file as UTF-8"
        ) from None
    if not items:
        detail = f" ({len(rejects)} invalid records skipped)" if rejects else ""
        raise InputError(
            f"{source} holds no valid items{detail}; expected one JSON object per line with an id and a text"
        )
    if rejects:
        logger.warning("%s: skipped %d invalid records", source, len(rejects))
    return ReadResult(items=items, rejects=rejects, path=source)


def write_rejects(rejects: Sequence[Reject], path: str | Path) -> Path:
    """Write rejected records as JSONL (line, field, error, raw) so they can be fixed and resent."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for r in rejects:
            fh.write(r.to_json() + "\n")
    return p


def write_items(items: Iterable[Item], path: str | Path) -> Path:
    """Write items as JSONL (the format :func:`read_items` reads)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for it in items:
            fh.write(it.model_dump_json(exclude_none=True) + "\n")
    return p
