"""The ``Item`` schema every command shares, and its readers (JSONL and CSV).

An item is one flagged piece of content::

    {"id": "a1", "text": "...", "caption": "...", "created_at": "2026-03-01T12:00:00Z",
     "region": "US", "source": "video_comment", "report_reason": "harassment"}

``id`` is required and unique; at least one of ``text``/``caption`` is non-empty;
``created_at`` is ISO-8601 (required for trend detection, optional for scoring);
``region`` is an ISO 3166-1 alpha-2 code.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trendml.errors import InputError
from trendml.regions import ISO_ALPHA2
from trendml.text import combine_text

logger = logging.getLogger(__name__)

DEFAULT_MAX_TEXT_CHARS = 10_000
ID_MAX_CHARS = 256
ITEM_FIELDS = ("id", "text", "caption", "created_at", "region", "source", "report_reason")


def parse_timestamp(value: Any) -> datetime:
    """Parse an ISO-8601 timestamp; naive times are taken as UTC. Raises ``ValueError``."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        raw = value.strip()
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f'"{value}" is not ISO-8601; expected e.g. 2026-03-01T12:00:00Z') from None
    else:
        raise ValueError(f"{value!r} is not ISO-8601; expected a string such as 2026-03-01T12:00:00Z")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


class Item(BaseModel):
    """One flagged item (text and/or video caption) with its metadata."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, frozen=True)

    id: str = Field(description="Unique id of the item in the caller's system.", examples=["v123-c9"])
    text: str | None = Field(default=None, description="Comment or post text.", examples=["example text"])
    caption: str | None = Field(default=None, description="Video caption or transcript.")
    created_at: datetime | None = Field(
        default=None, description="When the item was posted, ISO-8601.", examples=["2026-03-01T12:00:00Z"]
    )
    region: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country code.", examples=["US"])
    source: str | None = Field(default=None, description="Surface it came from, e.g. video_comment.")
    report_reason: str | None = Field(default=None, description="Why it was flagged, e.g. harassment.")

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        if isinstance(v, bool) or v is None:
            raise ValueError("id is missing; expected a non-empty string")
        if isinstance(v, int):
            v = str(v)
        if not isinstance(v, str) or not v.strip():
            raise ValueError("id is empty; expected a non-empty string")
        if len(v) > ID_MAX_CHARS:
            raise ValueError(f"id has {len(v)} characters; expected at most {ID_MAX_CHARS}")
        return v

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, v: Any) -> datetime | None:
        if v is None or v == "":
            return None
        return parse_timestamp(v)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: Any) -> str | None:
        if v is None or v == "":
            return None
        if not isinstance(v, str) or v.strip().upper() not in ISO_ALPHA2:
            raise ValueError(
                f'"{v}" is not an ISO 3166-1 alpha-2 country code; expected e.g. "US", or leave region out'
            )
        return v.strip().upper()

    @field_validator("text", "caption", "source", "report_reason", mode="before")
    @classmethod
    def _optional_str(cls, v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError(f"{type(v).__name__} value; expected a string")
        return v

    @model_validator(mode="after")
    def _has_content(self) -> Item:
        if not (self.text and self.text.strip()) and not (self.caption and self.caption.strip()):
            raise ValueError("text and caption are both empty; expected at least one non-empty string")
        return self

    @property
    def content(self) -> str:
        """The normalised string that is embedded and scored (see :func:`combine_text`)."""
        return combine_text(self.text, self.caption)


def validate_item(obj: Any, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> Item:
    """Validate one decoded record; raise :class:`InputError` naming the field."""
    if not isinstance(obj, dict):
        raise InputError(f"record is {type(obj).__name__}; expected a JSON object with an id and a text")
    for name in ("text", "caption"):
        value = obj.get(name)
        if isinstance(value, str) and len(value) > max_text_chars:
            raise InputError(
                f"{name} has {len(value):,} characters; expected at most {max_text_chars:,} "
                "(shorten it, or raise TRENDML_MAX_TEXT_CHARS)",
                field=name,
            )
    try:
        return Item.model_validate(obj)
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
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    require_created_at: bool = False,
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
    )


def parse_items(
    data: bytes,
    *,
    source: str = "<input>",
    fmt: str = "jsonl",
    skip_invalid: bool = False,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    require_created_at: bool = False,
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
                item = validate_item(obj, max_text_chars=max_text_chars)
                if require_created_at and item.created_at is None:
                    raise InputError(
                        "created_at is missing; expected an ISO-8601 time such as 2026-03-01T12:00:00Z "
                        "(trend detection needs it)",
                        field="created_at",
                    )
                if item.id in seen:
                    raise InputError(
                        f'id "{item.id[:60]}" duplicates line {seen[item.id]}; expected unique ids',
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
