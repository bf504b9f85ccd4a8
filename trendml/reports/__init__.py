"""Operations reports, trend briefs: aggregations as pure functions over plain records
(:mod:`~trendml.reports.aggregate`), one loader that reads the store (:mod:`~trendml.reports.load`),
renderers to Markdown and self-contained HTML (:mod:`~trendml.reports.render`, :mod:`~trendml.reports.brief`).

Heavy imports (matplotlib, jinja2, sklearn) happen inside the functions that need them.
"""

from __future__ import annotations

from trendml.reports.aggregate import build_report
from trendml.reports.brief import build_brief, render_brief_html, render_brief_markdown
from trendml.reports.load import load_report_data, open_store, production_numbers
from trendml.reports.period import Period, report_period
from trendml.reports.redact import redact
from trendml.reports.render import render_html, render_markdown, report_plots

__all__ = [
    "Period",
    "build_brief",
    "build_report",
    "load_report_data",
    "open_store",
    "production_numbers",
    "redact",
    "render_brief_html",
    "render_brief_markdown",
    "render_html",
    "render_markdown",
    "report_period",
    "report_plots",
]
