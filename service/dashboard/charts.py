"""Inline SVG charts rendered on the server: no chart library, no external assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

SEVERITY_COLOURS = ("#9aa5b1", "#e0a800", "#d9480f", "#a61e4d")


def sparkline(
    values: Sequence[float], *, width: int = 120, height: int = 28, highlight_last: bool = True
) -> str:
    """A small line of ``values`` (one per window), scaled to its own maximum."""
    if not values:
        return f'<svg class="spark" width="{width}" height="{height}" role="img" aria-label="no data"></svg>'
    top = max(max(values), 1)
    step = width / max(len(values) - 1, 1)
    pts = [
        (i * step if len(values) > 1 else width / 2, height - 3 - (v / top) * (height - 6))
        for i, v in enumerate(values)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    last = ""
    if highlight_last:
        x, y = pts[-1]
        last = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#d9480f"/>'
    label = escape(", ".join(str(int(v)) for v in values))
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="size per window: {label}"><polyline fill="none" stroke="#1864ab" stroke-width="1.5" '
        f'points="{path}"/>{last}</svg>'
    )


def severity_bar(
    mix: Sequence[float] | None,
    *,
    width: int = 100,
    height: int = 12,
    names: Mapping[int, str] | None = None,
) -> str:
    """A stacked bar of the severity mix (shares of 0 none .. 3 threat); its label names the levels
    (``names``, the policy's level names) so the bar does not rely on colour alone."""
    if not mix:
        return '<span class="muted">n/a</span>'
    total = sum(mix) or 1.0
    x = 0.0
    rects = []
    for share, colour in zip(mix, SEVERITY_COLOURS, strict=False):
        w = width * share / total
        if w > 0:
            rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}"/>')
        x += w
    title = escape(" · ".join(f"{(names or {}).get(i, i)}: {s:.0%}" for i, s in enumerate(mix)))
    return (
        f'<svg class="sevbar" width="{width}" height="{height}" role="img" aria-label="severity mix {title}">'
        f"<title>{title}</title>{''.join(rects)}</svg>"
    )


def timeline(
    labels: Sequence[str],
    sizes: Sequence[int],
    emerging: Sequence[bool],
    *,
    width: int = 640,
    height: int = 180,
    baseline: bool = False,
) -> str:
    """Bars of a trend's size per window; emerging windows in orange; with ``baseline``, a dashed
    line at the median size (the trend's usual size)."""
    if not sizes:
        return '<p class="muted">no windows</p>'
    pad_l, pad_b, pad_t = 36, 34, 10
    top = max(max(sizes), 1)
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    bw = inner_w / len(sizes)
    parts = [
        f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="trend size per window: {escape(", ".join(str(int(v)) for v in sizes))}">',
        f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" y2="{pad_t + inner_h}" '
        'stroke="#868e96"/>',
        f'<text x="{pad_l - 6}" y="{pad_t + 8}" text-anchor="end" class="axis">{top}</text>',
        f'<text x="{pad_l - 6}" y="{pad_t + inner_h}" text-anchor="end" class="axis">0</text>',
    ]
    for i, (label, size, em) in enumerate(zip(labels, sizes, emerging, strict=True)):
        h = inner_h * size / top
        x = pad_l + i * bw + bw * 0.15
        colour = "#d9480f" if em else "#1864ab"
        parts.append(
            f'<rect x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{bw * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{colour}">'
            f"<title>{escape(label)}: {size}{' (emerging)' if em else ''}</title></rect>"
        )
        if len(sizes) <= 16 or i % max(1, len(sizes) // 8) == 0:
            parts.append(
                f'<text x="{x + bw * 0.35:.1f}" y="{height - pad_b + 14}" text-anchor="middle" class="axis">'
                f"{escape(label)}</text>"
            )
    if baseline:
        import statistics

        med = statistics.median(sizes)
        y = pad_t + inner_h - inner_h * med / top
        parts.append(
            f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#495057" '
            f'stroke-dasharray="4 3"><title>usual size (median): {med:g}</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)
