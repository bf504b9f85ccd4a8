"""Trend briefs for moderator training: what a trend is, how it grew, examples, decisions so far.

Example texts are truncated and redacted by default (:mod:`trendml.reports.redact`); pass
``show_text=True`` for full texts. Keywords and the title are shown with slurs masked
(:mod:`trendml.lexicon`) unless ``show_text``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from trendml.errors import InputError
from trendml.reports.plots import data_uri, sparkline_plot
from trendml.reports.redact import redact
from trendml.reports.render import RawMarkdown, fmt_value, md_text

logger = logging.getLogger(__name__)


def build_brief(
    engine: Engine,
    trend_id: str,
    *,
    show_text: bool = False,
    n_examples: int = 5,
    level_names: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Everything a brief shows, JSON-ready. Raises :class:`InputError` for an unknown trend id.

    Examples are the representative items of the trend's latest window first, then of earlier
    windows, up to ``n_examples``; their texts are redacted unless ``show_text``.
    """
    from trendml.store.feedback import list_feedback
    from trendml.store.items import get_items
    from trendml.trends.queries import trend_timeline

    timeline = trend_timeline(engine, trend_id)
    if timeline is None:
        raise InputError(
            f'trend "{trend_id}" does not exist; expected a trend id from the dashboard, the trends API '
            "or `trendml report`",
            field="trend_id",
        )
    from trendml.reports.aggregate import SEVERITY_NAMES

    names = dict(level_names or SEVERITY_NAMES)
    tl = timeline.to_json()
    if not show_text:  # keywords and the title are the trend's label: slurs in them are masked too
        from trendml.lexicon import mask_keywords, mask_text

        tl["keywords"] = mask_keywords(tl["keywords"])
        tl["title"] = mask_text(tl["title"]) if tl.get("title") else tl.get("title")
    rep_ids = timeline.representative_ids(n_examples)
    windows = tl.pop("windows")
    with Session(engine) as s:
        rows = get_items(s, rep_ids)
        feedback = [f.to_dict() for f in list_feedback(s, trend_id)]
    examples = []
    for i in rep_ids:
        row = rows.get(i)
        text = None if row is None else " / ".join(x for x in (row.text, row.caption) if x)
        examples.append(
            {
                "id": i,
                "stored": row is not None,
                "severity": None if row is None else row.severity,
                "severity_name": None if row is None or row.severity is None else names.get(row.severity),
                "text": None if text is None else (text if show_text else redact(text)),
            }
        )
    growth = [
        {
            "start": w["start"],
            "size": int(w["size"]),
            "n_items": w.get("n_items"),
            "share": round(int(w["size"]) / w["n_items"], 4) if w.get("n_items") else None,
            "status": w.get("status"),
            "emerging": bool(w.get("emerging")),
            "us_share": w.get("us_share"),
            "us_lift": w.get("us_lift"),
        }
        for w in windows
    ]
    return {
        "trend": tl,
        "growth": growth,
        "examples": examples,
        "redacted": not show_text,
        "decisions": feedback,
    }


def _pct(v: float | None) -> str:
    """A share as the dashboard shows it (``89 %``)."""
    return fmt_value(None) if v is None else f"{v * 100:.0f} %"


def _facts(brief: Mapping[str, Any]) -> list[tuple[str, str]]:
    t = brief["trend"]
    facts = [
        ("Title", fmt_value(t.get("title"))),
        ("Status (latest window)", fmt_value(t["status"])),
        ("Emerging now", fmt_value(t["emerging"])),
        ("Ever emerging", fmt_value(t["ever_emerging"])),
        ("First seen", fmt_value(t["first_seen"])),
        ("Last seen", fmt_value(t["last_seen"])),
        ("Windows", fmt_value(t["n_windows"])),
        ("Members, all windows", fmt_value(t["total_size"])),
        ("Members, latest window", fmt_value(t["size"])),
        ("US share", _pct(t["us_share"])),
        ("US lift", fmt_value(t["us_lift"])),
        ("Emergence score", fmt_value(t["emergence_score"])),
    ]
    if t.get("parent_id"):
        facts.append(("Split from", t["parent_id"]))
    if t.get("merged_into"):
        facts.append(("Merged into", t["merged_into"]))
    return facts


def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(md_text(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _bar(size: int, peak: int, width: int = 30) -> str:
    return "#" * max(1 if size else 0, round(width * size / peak)) if peak else ""


def render_brief_markdown(brief: Mapping[str, Any]) -> str:
    """The brief as Markdown; growth as a table with a text bar per window."""
    t = brief["trend"]
    peak = max((g["size"] for g in brief["growth"]), default=0)
    note = (
        (
            "Example texts are truncated to 80 characters and masked (every word but common stop words; "
            "slurs in keywords too); run with `--show-text` for full texts."
        )
        if brief["redacted"]
        else "**Full example texts are shown (`--show-text`): they contain harmful content.**"
    )
    parts = [
        f"# Trend brief: {md_text(t['trend_id'])}",
        _md_table(["", ""], [list(f) for f in _facts(brief)]),
        "## Keywords",
        ", ".join(md_text(k) for k in t["keywords"]) or "–",
        "## How it grew",
        _md_table(
            ["window", "size", "items in window", "share", "status", "emerging", "growth"],
            [
                [
                    g["start"],
                    g["size"],
                    g["n_items"],
                    _pct(g["share"]),
                    g["status"],
                    g["emerging"],
                    RawMarkdown("`" + _bar(g["size"], peak) + "`"),
                ]
                for g in brief["growth"]
            ],
        ),
        "## Example items",
        note,
        _md_table(
            ["item", "severity", "text"],
            [
                [
                    e["id"],
                    e["severity"] if not e.get("severity_name") else f"{e['severity']} {e['severity_name']}",
                    e["text"] if e["stored"] else RawMarkdown("(not in the item store)"),
                ]
                for e in brief["examples"]
            ],
        )
        if brief["examples"]
        else "No examples.",
        "## Analyst decisions",
        _md_table(
            ["when", "analyst", "action", "note"],
            [[d["created_at"], d["analyst"], d["action"], d["note"]] for d in brief["decisions"]],
        )
        if brief["decisions"]
        else "No decisions yet.",
    ]
    return "\n\n".join(parts) + "\n"


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trend brief: {{ t.trend_id }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:900px;color:#212529}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.25rem .6rem;text-align:left;vertical-align:top}th{background:#f1f3f5}
code{background:#f1f3f5;padding:0 .3rem;border-radius:3px}.warn{color:#c92a2a;font-weight:600}
.muted{color:#868e96;font-size:.85rem}img{max-width:100%}
</style></head><body>
<h1>Trend brief: {{ t.trend_id }}</h1>
<table>{% for k, v in facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
<h2>Keywords</h2><p>{% for k in t.keywords %}<code>{{ k }}</code> {% endfor %}</p>
<h2>How it grew</h2>
{% if spark %}<img alt="size per window" src="{{ spark }}">{% endif %}
<table><tr><th>window</th><th>size</th><th>items in window</th><th>share</th>
<th>status</th><th>emerging</th></tr>
{% for g in growth %}<tr><td>{{ g.start }}</td><td>{{ g.size }}</td><td>{{ fmt(g.n_items) }}</td>
<td>{{ pct(g.share) }}</td><td>{{ fmt(g.status) }}</td><td>{{ fmt(g.emerging) }}</td></tr>{% endfor %}</table>
<h2>Example items</h2>
{% if redacted %}<p class="muted">Texts truncated to 80 characters and masked; run with --show-text for full
texts.</p>{% else %}<p class="warn">Full texts shown: they contain harmful content.</p>{% endif %}
<table><tr><th>item</th><th>severity</th><th>text</th></tr>
{% for e in examples %}<tr><td>{{ e.id }}</td>
<td>{{ fmt(e.severity) }}{% if e.severity_name %} {{ e.severity_name }}{% endif %}</td>
<td>{{ e.text if e.stored else "(not in the item store)" }}</td></tr>{% endfor %}</table>
<h2>Analyst decisions</h2>
{% if decisions %}<table><tr><th>when</th><th>analyst</th><th>action</th><th>note</th></tr>
{% for d in decisions %}<tr><td>{{ d.created_at }}</td><td>{{ d.analyst }}</td><td>{{ d.action }}</td>
<td>{{ fmt(d.note) }}</td></tr>{% endfor %}</table>{% else %}<p>No decisions yet.</p>{% endif %}
</body></html>
"""


def render_brief_html(brief: Mapping[str, Any]) -> str:
    """The brief as one self-contained HTML page (size-per-window chart embedded as base64 PNG)."""
    from jinja2 import Environment

    growth = brief["growth"]
    spark = (
        data_uri(sparkline_plot([g["size"] for g in growth], [g["start"] for g in growth]))
        if growth
        else None
    )
    return (
        Environment(autoescape=True)
        .from_string(_HTML)
        .render(
            t=brief["trend"],
            facts=_facts(brief),
            growth=growth,
            examples=brief["examples"],
            redacted=brief["redacted"],
            decisions=brief["decisions"],
            spark=spark,
            fmt=fmt_value,
            pct=_pct,
        )
    )
