"""Rendering of a report dict (:func:`trendml.reports.aggregate.build_report`) to Markdown and HTML.

HTML is one self-contained file: inline CSS, plots embedded as base64 PNG, no scripts, no external
assets. Markdown carries the same numbers as tables; its plots are separate PNG files the caller
writes next to it (:func:`report_plots`), linked only when their paths are passed in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from trendml.reports.plots import data_uri, items_per_day_plot, severity_mix_plot, trend_sizes_plot

logger = logging.getLogger(__name__)

PLOT_NAMES = ("severity_mix", "items_per_day", "trend_sizes")
N_PLOTTED_TRENDS = 5


def fmt_value(v: Any, nd: int = 2) -> str:
    """A number, flag or missing value as report text."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


#: Characters with an inline meaning in Markdown (CommonMark / GFM: emphasis, code, links, images,
#: raw HTML, entities, tables, strikethrough, math, autolinks); any ASCII punctuation may be
#: backslash-escaped, which renders it as itself.
_MD_INLINE = frozenset("\\`*_{}[]()<>!|~&$:")
#: At the start of a paragraph these begin a block (heading, list, quote, setext underline).
_MD_BLOCK_START = re.compile(r"^(\s*)([#+\-=>]|\d+[.)])")


class RawMarkdown(str):
    """Text that is already Markdown (ours: a code span, a link), left as it is by :func:`md_text`."""

    __slots__ = ()


def md_text(value: Any, nd: int = 2) -> str:
    """``value`` as literal Markdown text: Markdown characters backslash-escaped, line breaks and
    other control characters turned into spaces, so notes, ids, keywords and item texts can
    neither format the document, break a table, start a link or image, nor inject HTML.
    Numbers, flags and missing values are written as :func:`fmt_value` writes them."""
    if isinstance(value, RawMarkdown):
        return str(value)
    text = fmt_value(value, nd)
    if not isinstance(value, str):
        return text
    out = []
    for ch in text:
        if ch in _MD_INLINE:
            out.append("\\" + ch)
        elif ch in "\r\n\t\v\f\x85\u2028\u2029" or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0:
            out.append(" ")
        else:
            out.append(ch)
    text = "".join(out)
    m = _MD_BLOCK_START.match(text)
    if m:
        text = text[: m.end() - 1] + "\\" + text[m.end() - 1 :]
    return text


def report_plots(report: Mapping[str, Any]) -> dict[str, bytes]:
    """The report's plots as PNG bytes: ``severity_mix``, ``items_per_day``, ``trend_sizes``."""
    top = [t["trend_id"] for t in report["trends"]["top"][:N_PLOTTED_TRENDS]]
    return {
        "severity_mix": severity_mix_plot(report["items"]["severity_mix"], report.get("severity_names")),
        "items_per_day": items_per_day_plot(report["items"]["per_day"]),
        "trend_sizes": trend_sizes_plot(report["trends"]["sizes"], top),
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(md_text(c) for c in r) + " |")
    return "\n".join(out)


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The headline numbers as (label, value) pairs (shared by both renderers)."""
    ttd = report["analysts"]["time_to_decision"]
    qa = report["qa"]
    return [
        ("Items received", report["items"]["received"]),
        ("Items scored", report["items"]["scored"]),
        ("Trends seen", report["trends"]["seen"]),
        ("Trends surfaced (emerging)", report["trends"]["surfaced"]),
        ("Trends confirmed", report["trends"]["confirmed"]),
        ("Trends dismissed", report["trends"]["dismissed"]),
        ("Trends escalated", report["trends"]["escalated"]),
        ("Analyst actions", report["analysts"]["n_actions"]),
        ("Median time to decision (hours)", ttd["median_hours"]),
        ("Trends decided for the first time", ttd["n"]),
        ("QA kappa, model vs reviewer", qa["kappa_model_reviewer"]),
        ("QA pairs, model vs reviewer", qa["n_model_reviewer"]),
        ("QA kappa, reviewer vs reviewer", qa["kappa_reviewers"]),
        ("QA pairs, reviewer vs reviewer", qa["n_reviewer_pairs"]),
    ]


def _severity_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    from trendml.reports.aggregate import SEVERITY_NAMES

    mix = report["items"]["severity_mix"]
    total = max(1, report["items"]["received"])
    names = report.get("severity_names") or {str(k): v for k, v in SEVERITY_NAMES.items()}
    rows = [[f"{k} {names[k]}", mix[k], f"{mix[k] / total:.1%}"] for k in ("0", "1", "2", "3")]
    rows.append(["unscored", mix["unscored"], f"{mix['unscored'] / total:.1%}"])
    return rows


def _top_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [
            t["trend_id"],
            t["size_in_period"],
            t["n_windows"],
            t["status"],
            t["emerged_in_period"],
            t["us_share"],
            t["us_lift"],
            ", ".join(t["keywords"][:6]),
            t["decision"],
        ]
        for t in report["trends"]["top"]
    ]


TOP_HEADERS = [
    "trend",
    "size in period",
    "windows",
    "status",
    "emerged",
    "US share",
    "US lift",
    "keywords",
    "decision",
]
DAY_HEADERS = ["day", "items", "scored", "trends surfaced", "analyst actions"]


QA_HEADERS = ["comparison", "Cohen's kappa", "raw agreement", "pairs"]


def _qa_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    qa = report["qa"]
    return [
        [
            "model vs reviewer",
            qa["kappa_model_reviewer"],
            qa["agreement_model_reviewer"],
            qa["n_model_reviewer"],
        ],
        ["reviewer vs reviewer", qa["kappa_reviewers"], qa["agreement_reviewers"], qa["n_reviewer_pairs"]],
    ]


def _qa_note(report: Mapping[str, Any]) -> str:
    qa = report["qa"]
    base = (
        "Reviews entered in this period; a kappa is undefined (–) with fewer than 2 pairs or a single label."
    )
    if "store_sampled" in qa:
        base += (
            f" QA sample, all time: {qa['store_sampled']} items sampled,"
            f" {qa['store_reviewed_items']} reviewed, {qa['store_unreviewed']} awaiting review."
        )
    return base


OUTCOME_HEADERS = ["pre-score level", "precision", "recall", "pre-scored", "outcomes"]


def _outcome_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """Precision and recall of the pre-score per level against moderator outcomes."""
    from trendml.reports.aggregate import SEVERITY_NAMES

    o = report.get("outcomes") or {}
    names = report.get("severity_names") or {str(k): v for k, v in SEVERITY_NAMES.items()}
    return [
        [f"{k} {names[k]}", v["precision"], v["recall"], v["pre_scored"], v["outcomes"]]
        for k, v in (o.get("per_level") or {}).items()
    ]


def _confusion_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    m = (report.get("outcomes") or {}).get("confusion") or []
    return [[f"pre-score {k}", *row] for k, row in enumerate(m)]


def _outcome_note(report: Mapping[str, Any]) -> str:
    o = report.get("outcomes") or {}
    acts = ", ".join(f"{k} {v}" for k, v in sorted((o.get("actions") or {}).items())) or "none"
    return (
        f"{o.get('n', 0)} items with a moderator outcome decided in the period and a pre-score "
        f"(accuracy {fmt_value(o.get('accuracy'))}); {o.get('n_unscored', 0)} outcomes on items never "
        f"pre-scored; actions: {acts}. Rows of the confusion matrix: pre-score; columns: outcome 0..3."
    )


def _monitoring_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    m = report.get("monitoring") or {}
    return [[d["day"], d["n"], d["psi"]] for d in m.get("drift") or []]


def _monitoring_note(report: Mapping[str, Any]) -> str:
    m = report.get("monitoring") or {}
    if not m:
        return ""
    ref = m.get("reference") or {}
    cal = m.get("calibration") or {}
    lang = m.get("unsupported_language") or {}
    return (
        f"Severity-mix drift: PSI of each day's returned scores against the reference window "
        f"({ref.get('start', 'none')[:10] if ref else 'none'}, {ref.get('n', 0) if ref else 0} scores). "
        f"Calibration: ECE {fmt_value(cal.get('ece'), 3)} over {cal.get('n', 0)} items with a moderator "
        f"outcome or unanimous QA label. Unsupported-language share: {fmt_value(lang.get('share'), 3)} "
        f"({lang.get('unsupported', 0)} of {lang.get('n', 0)} items)."
    )


def _day_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    return [
        [d["day"], d["items"], d["scored"], d["trends_surfaced"], d["analyst_actions"]]
        for d in report["per_day"]
    ]


def render_markdown(report: Mapping[str, Any], *, plot_paths: Mapping[str, str] | None = None) -> str:
    """The report as Markdown tables; ``plot_paths`` (name -> relative path) adds image links."""
    p = report["period"]
    plots = plot_paths or {}
    parts = [
        f"# trendml {md_text(p['kind'])} report: {md_text(p['label'])}",
        f"Period: {md_text(p['start'])} to {md_text(p['end'])} (UTC, end excluded).",
        "## Summary",
        _table(["metric", "value"], [list(r) for r in summary_rows(report)]),
        "## Per day",
        _table(DAY_HEADERS, _day_rows(report)),
    ]
    if "items_per_day" in plots:
        parts.append(f"![items per day]({plots['items_per_day']})")
    parts += ["## Severity mix", _table(["severity", "items", "share"], _severity_rows(report))]
    if "severity_mix" in plots:
        parts.append(f"![severity mix]({plots['severity_mix']})")
    parts += [
        "## Top trends",
        _table(TOP_HEADERS, _top_rows(report)) if report["trends"]["top"] else "No trends.",
    ]
    if "trend_sizes" in plots and report["trends"]["top"]:
        parts.append(f"![trend sizes]({plots['trend_sizes']})")
    a = report["analysts"]
    parts += [
        "## Analyst actions",
        _table(["action", "count"], [[k, v] for k, v in a["actions"].items()]),
        _table(["analyst", "actions"], [[k, v] for k, v in a["by_analyst"].items()])
        if a["by_analyst"]
        else "",
        "## QA agreement",
        _table(QA_HEADERS, _qa_rows(report)),
        _qa_note(report),
        "## Models in production",
        _table(
            ["model version", "scores", "sev 0", "sev 1", "sev 2", "sev 3"],
            [[m["model_version"], m["n"], *m["severity_mix"].values()] for m in report["models"]],
        )
        if report["models"]
        else "No scores were returned in this period.",
    ]
    if report.get("outcomes"):
        parts += [
            "## Pre-scores against moderator outcomes",
            _table(OUTCOME_HEADERS, _outcome_rows(report)) if report["outcomes"]["n"] else "",
            _table(["", "outcome 0", "outcome 1", "outcome 2", "outcome 3"], _confusion_rows(report))
            if report["outcomes"]["n"]
            else "",
            md_text(_outcome_note(report)),
        ]
    if report.get("monitoring"):
        parts += [
            "## Live monitoring",
            _table(["day", "scores", "drift PSI"], _monitoring_rows(report))
            if _monitoring_rows(report)
            else "",
            md_text(_monitoring_note(report)),
        ]
    return "\n\n".join(x for x in parts if x) + "\n"


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>trendml {{ p.kind }} report: {{ p.label }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:980px;color:#212529}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #dee2e6;padding:.25rem .6rem;text-align:left}th{background:#f1f3f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
.muted{color:#868e96;font-size:.85rem}
</style></head><body>
<h1>trendml {{ p.kind }} report: {{ p.label }}</h1>
<p class="muted">Period {{ p.start }} to {{ p.end }} (UTC, end excluded). Generated by trendml.</p>
<h2>Summary</h2>
<table>{% for k, v in summary %}<tr><th>{{ k }}</th><td class="n">{{ fmt(v) }}</td></tr>{% endfor %}</table>
<h2>Per day</h2>
<table><tr>{% for h in day_headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in day_rows %}<tr>
{% for c in r %}<td class="n">{{ fmt(c) }}</td>{% endfor %}</tr>{% endfor %}</table>
<img alt="items per day" src="{{ plots.items_per_day }}">
<h2>Severity mix</h2>
<table><tr><th>severity</th><th>items</th><th>share</th></tr>
{% for r in severity_rows %}<tr>{% for c in r %}<td>{{ fmt(c) }}</td>{% endfor %}</tr>{% endfor %}</table>
<img alt="severity mix" src="{{ plots.severity_mix }}">
<h2>Top trends</h2>
{% if top_rows %}<table><tr>{% for h in top_headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in top_rows %}<tr>{% for c in r %}<td>{{ fmt(c) }}</td>{% endfor %}</tr>{% endfor %}</table>
<img alt="trend sizes per window" src="{{ plots.trend_sizes }}">
{% else %}<p>No trends in this period.</p>{% endif %}
<h2>Analyst actions</h2>
<table><tr><th>action</th><th>count</th></tr>
{% for k, v in a.actions.items() %}<tr><td>{{ k }}</td><td class="n">{{ v }}</td></tr>{% endfor %}</table>
{% if a.by_analyst %}<table><tr><th>analyst</th><th>actions</th></tr>
{% for k, v in a.by_analyst.items() %}<tr><td>{{ k }}</td><td class="n">{{ v }}</td></tr>{% endfor %}</table>
{% endif %}
<h2>QA agreement</h2>
<table><tr>{% for h in qa_headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in qa_rows %}<tr>{% for c in r %}<td>{{ fmt(c) }}</td>{% endfor %}</tr>{% endfor %}</table>
<p class="muted">{{ qa_note }}</p>
<h2>Models in production</h2>
{% if models %}<table><tr><th>model version</th><th>scores</th>
<th>sev 0</th><th>sev 1</th><th>sev 2</th><th>sev 3</th></tr>
{% for m in models %}<tr><td>{{ m.model_version }}</td><td class="n">{{ m.n }}</td>
{% for v in m.severity_mix.values() %}<td class="n">{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>No scores were returned in this period.</p>{% endif %}
{% if outcome_rows %}<h2>Pre-scores against moderator outcomes</h2>
{% if outcomes.n %}<table><tr>{% for h in outcome_headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in outcome_rows %}<tr>{% for c in r %}<td>{{ fmt(c) }}</td>{% endfor %}</tr>{% endfor %}</table>
<table><tr><th></th><th>outcome 0</th><th>outcome 1</th><th>outcome 2</th><th>outcome 3</th></tr>
{% for r in confusion_rows %}<tr>{% for c in r %}<td class="n">{{ fmt(c) }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endif %}<p class="muted">{{ outcome_note }}</p>{% endif %}
{% if monitoring_note %}<h2>Live monitoring</h2>
{% if monitoring_rows %}<table><tr><th>day</th><th>scores</th><th>drift PSI</th></tr>
{% for r in monitoring_rows %}<tr>{% for c in r %}<td class="n">{{ fmt(c) }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endif %}<p class="muted">{{ monitoring_note }}</p>{% endif %}
</body></html>
"""


def _env():
    from jinja2 import Environment

    return Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def render_html(report: Mapping[str, Any], *, plots: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page with its plots embedded as base64 PNG."""
    pngs = dict(plots) if plots is not None else report_plots(report)
    return (
        _env()
        .from_string(_HTML)
        .render(
            p=report["period"],
            summary=summary_rows(report),
            fmt=fmt_value,
            day_headers=DAY_HEADERS,
            day_rows=_day_rows(report),
            severity_rows=_severity_rows(report),
            top_headers=TOP_HEADERS,
            top_rows=_top_rows(report),
            a=report["analysts"],
            models=report["models"],
            qa_headers=QA_HEADERS,
            qa_rows=_qa_rows(report),
            qa_note=_qa_note(report),
            plots={k: data_uri(v) for k, v in pngs.items()},
            outcomes=report.get("outcomes") or {},
            outcome_headers=OUTCOME_HEADERS,
            outcome_rows=_outcome_rows(report),
            confusion_rows=_confusion_rows(report),
            outcome_note=_outcome_note(report),
            monitoring_rows=_monitoring_rows(report),
            monitoring_note=_monitoring_note(report),
        )
    )
