"""Matplotlib plots of a report, as PNG bytes (embedded as base64 in HTML, or files beside Markdown).

Uses the non-interactive Agg canvas directly (``matplotlib.figure.Figure``), so nothing touches
pyplot's global state or needs a display.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)

SEVERITY_COLOURS = ("#9aa5b1", "#f0b429", "#e8590c", "#c92a2a")


def _figure(width: float = 6.0, height: float = 2.8):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def severity_mix_plot(mix: Mapping[str, int], level_names: Mapping[str, str] | None = None) -> bytes:
    """Bar chart of items per severity (and unscored); ``level_names`` from the policy."""
    level_names = level_names or {"0": "none", "1": "offensive", "2": "hateful", "3": "threat"}
    keys = ["0", "1", "2", "3", "unscored"]
    names = [f"{k} {level_names.get(k, '')}".strip() for k in keys[:4]] + ["unscored"]
    fig, ax = _figure()
    values = [int(mix.get(k, 0)) for k in keys]
    bars = ax.bar(names, values, color=[*SEVERITY_COLOURS, "#dee2e6"])
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("items")
    ax.set_title("Severity mix", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def items_per_day_plot(per_day: Mapping[str, int]) -> bytes:
    """Bar chart of items per day."""
    fig, ax = _figure()
    days = list(per_day)
    bars = ax.bar([d[5:] for d in days], [per_day[d] for d in days], color="#364fc7")
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("items")
    ax.set_title("Items per day", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def trend_sizes_plot(sizes: Mapping[str, Mapping[str, int]], trend_ids: Sequence[str]) -> bytes:
    """Size per window of each trend in ``trend_ids`` (windows as x, one line per trend)."""
    fig, ax = _figure()
    windows = sorted({w for tid in trend_ids for w in sizes.get(tid, {})})
    pos = {w: k for k, w in enumerate(windows)}
    for tid in trend_ids:
        pts = sorted(sizes.get(tid, {}).items())
        ax.plot([pos[w] for w, _ in pts], [s for _, s in pts], marker="o", label=tid)
    ax.set_xticks(range(len(windows)), [w[5:16].replace("T", " ") for w in windows], fontsize=7, rotation=30)
    ax.set_ylabel("members")
    ax.set_title("Trend sizes per window", fontsize=10)
    if trend_ids:  # beside the axes, never over the lines
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    return _png(fig)


def sparkline_plot(sizes: Sequence[int], labels: Sequence[str]) -> bytes:
    """A small bar chart of one trend's size per window (for briefs)."""
    fig, ax = _figure(5.0, 2.0)
    ax.bar(range(len(sizes)), list(sizes), color="#c92a2a")
    ax.set_xticks(
        range(len(labels)), [lab[5:16].replace("T", " ") for lab in labels], fontsize=7, rotation=30
    )
    ax.set_ylabel("members", fontsize=8)
    ax.tick_params(labelsize=7)
    return _png(fig)
