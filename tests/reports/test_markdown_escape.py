"""Markdown output escapes what people and clients wrote (notes, ids, keywords, item texts): parsed
with a CommonMark + GFM-tables parser, hostile values give no link, image, HTML, emphasis or code,
do not break the table, and read back as themselves."""

from __future__ import annotations

import copy

import pytest
from markdown_it import MarkdownIt

from trendml.reports import render_brief_markdown
from trendml.reports.render import md_text
from trendml.store.base import make_engine

HOSTILE = [
    "[click](http://evil.example/x) ![img](http://evil.example/p.png)",
    "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "**bold** _em_ `code` ~~strike~~ | a | table | cell",
    "line one\nline two\r\n# heading\n- list item",
    "&lt;entity&gt; &amp; $math$ \\backslash",
    "# starts a heading",
    "1. starts a list",
    "> starts a quote",
    "<http://autolink.example>",
]
FORBIDDEN = {
    "link_open",
    "image",
    "html_inline",
    "html_block",
    "em_open",
    "strong_open",
    "code_inline",
    "s_open",
}


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _text(inline) -> str:
    """What an inline token reads as (escapes resolved), whitespace collapsed."""
    parts = [c.content if c.type not in ("softbreak", "hardbreak") else " " for c in inline.children or []]
    return " ".join("".join(parts).split())


def _walk(tokens):
    for t in tokens:
        yield t
        yield from _walk(t.children or [])


@pytest.mark.parametrize("value", HOSTILE)
def test_md_text_reads_back_as_itself_and_formats_nothing(value):
    md = f"| a | b |\n|---|---|\n| x | {md_text(value)} |\n\n{md_text(value)}\n"
    tokens = list(_walk(_parser().parse(md)))
    kinds = {t.type for t in tokens}
    assert not kinds & FORBIDDEN, kinds & FORBIDDEN
    assert not kinds & {"heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open"}
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 2, "the value must stay in one table cell"
    flat = " ".join(value.split())
    texts = [_text(t) for t in tokens if t.type == "inline"]
    assert texts[-1] == flat and texts[-2] == flat


def test_brief_markdown_escapes_notes_ids_keywords_and_texts(report_store):
    from trendml.reports import build_brief

    engine = make_engine(report_store.url)
    try:
        brief = copy.deepcopy(build_brief(engine, report_store.campaign_trend, show_text=True))
    finally:
        engine.dispose()
    brief["trend"]["trend_id"] = "t-1 [x](http://evil.example)"
    brief["trend"]["keywords"] = ["# kw", "<b>kw</b>", "*kw*"]
    brief["examples"] = [
        {"id": "<i>id</i>", "stored": True, "severity": 2, "text": "![p](http://evil.example/p)"}
    ]
    brief["decisions"] = [
        {"created_at": "2026-03-03T10:00:00+00:00", "analyst": "ana|lyst", "action": "confirm", "note": n}
        for n in HOSTILE
    ]
    md = render_brief_markdown(brief)
    tokens = list(_walk(_parser().parse(md)))
    # ours: one bold warning (full texts shown) and a code-span bar per window; nothing else
    strong = [t for t in tokens if t.type == "strong_open"]
    bars = [t.content for t in tokens if t.type == "code_inline" and t.content != "--show-text"]
    assert len(strong) == 1 and len(bars) == len(brief["growth"]) and all(set(b) <= {"#"} for b in bars)
    kinds = {t.type for t in tokens}
    assert not kinds & (FORBIDDEN - {"strong_open", "code_inline"}), kinds & FORBIDDEN
    headings = [t for t in tokens if t.type == "heading_open"]
    assert [t.tag for t in headings].count("h1") == 1, "only the title is a level-1 heading"
    inline = [_text(t) for t in tokens if t.type == "inline"]
    assert "Trend brief: t-1 [x](http://evil.example)" in inline
    assert "ana|lyst" in inline
    for note in HOSTILE:
        assert " ".join(note.split()) in inline, "a note reads back as written"
    # the decisions table still has one row per decision, 4 cells each
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) >= len(HOSTILE) + 1
