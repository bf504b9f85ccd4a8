"""Items from a file, a directory or a glob: JSONL, CSV and Parquet (the batch commands' input).

One JSONL/CSV file reads exactly as :func:`trendml.items.read_items`. A directory means every
``*.jsonl``, ``*.json``, ``*.csv`` and ``*.parquet`` file directly in it, a glob every matching file;
either way the files are read in sorted path order, so "input order" is well defined. Ids must be
unique across all the files. Parquet rows are checked exactly as JSONL lines are (a row's "line" is
its 1-based row number); ``pyarrow`` is imported only when a Parquet file is read.
"""

from __future__ import annotations

import glob as _glob
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from trendml.errors import InputError
from trendml.items import ITEM_FIELDS, ItemLimits, ReadResult, parse_items, read_items, show

ITEM_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
_GLOB_CHARS = set("*?[")


def expand_sources(spec: str | Path) -> list[Path]:
    """The files ``spec`` names (a file, a directory or a glob), sorted; :class:`InputError` if none."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in ITEM_SUFFIXES)
        if not files:
            raise InputError(
                f"directory {path} holds no items files; expected *.jsonl, *.csv or *.parquet files in it; "
                "point at the files or a glob"
            )
        return files
    if _GLOB_CHARS & set(text):
        files = sorted(Path(p) for p in _glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(
                f"glob {text} matches no files; expected it to match JSONL, CSV or Parquet files; "
                "check the pattern (quote it so the shell does not expand it)"
            )
        return files
    raise InputError(f"{path} does not exist; expected a JSONL, CSV or Parquet file, a directory or a glob")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def parquet_as_jsonl(path: Path) -> bytes:
    """A Parquet file's item columns as JSONL bytes (one row per line), for :func:`parse_items`."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow ships with mlflow's dependencies
        raise InputError(
            f"{path} is Parquet but pyarrow is not installed; expected pyarrow; run pip install pyarrow"
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the caller's input problem
        raise InputError(
            f"{path} is not a readable Parquet file ({type(exc).__name__}); expected Parquet with an id and "
            "a text (or caption) column; re-export the file"
        ) from None
    columns = table.column_names
    if "id" not in columns or not ({"text", "caption"} & set(columns)):
        missing = "id" if "id" not in columns else "text (or caption)"
        raise InputError(
            f"{path}: Parquet columns are {[show(c, 30) for c in columns[:20]]};"
            f" expected an '{missing}' column "
            f"(columns: {', '.join(ITEM_FIELDS)}); add it"
        )
    keep = [c for c in columns if c in ITEM_FIELDS]
    rows = table.select(keep).to_pylist()
    return "".join(json.dumps(r, default=_json_default) + "\n" for r in rows).encode("utf-8")


def read_item_sources(
    spec: str | Path,
    *,
    skip_invalid: bool = False,
    require_created_at: bool = False,
    limits: ItemLimits | None = None,
) -> ReadResult:
    """Read and validate the items of every file ``spec`` names, in order (see the module doc)."""
    files = expand_sources(spec)
    merged = ReadResult(items=[], rejects=[], path=str(spec))
    seen: dict[str, Path] = {}
    for path in files:
        if path.suffix.lower() == ".parquet":
            result = parse_items(
                parquet_as_jsonl(path),
                source=str(path),
                fmt="jsonl",
                skip_invalid=skip_invalid,
                require_created_at=require_created_at,
                limits=limits,
            )
        else:
            result = read_items(
                path, skip_invalid=skip_invalid, require_created_at=require_created_at, limits=limits
            )
        for item in result.items:
            if item.id in seen:
                raise InputError(
                    f"id {show(item.id, 60)} in {path} is also in {seen[item.id]}; "
                    "expected ids unique across the input files; drop one of them",
                    field="id",
                )
            seen[item.id] = path
        merged.items.extend(result.items)
        merged.rejects.extend(result.rejects)
    return merged
