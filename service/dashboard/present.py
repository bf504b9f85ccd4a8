"""How the dashboard words things: dates, shares, masked keywords and titles, the status story,
"why flagged" in words, and the message codes a redirect may carry (never free text in a URL).

Registered as Jinja globals and filters by :func:`install`."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from trendml.lexicon import has_slur, mask_text

#: What a ``?msg=`` code says. Anything else in ``?msg=`` is ignored, so a crafted link cannot put
#: its own words on a page.
MESSAGES: dict[str, tuple[str, str]] = {
    "saved": ("ok", "Decision saved."),
    "changed": ("ok", "Decision changed: the history below keeps the earlier one."),
    "duplicate": (
        "info",
        "This form was already submitted: nothing new was stored. The current decision is shown.",
    ),
    "expired-form": (
        "error",
        "This form is too old or not for this trend: reload the page and decide again.",
    ),
    "bad-action": ("error", "Choose one of the decision buttons (confirm, dismiss or escalate)."),
    "session-expired": (
        "info",
        "Your session expired. Your decision and note are kept: check them and press the button again.",
    ),
    "moved": (
        "info",
        "Someone recorded another decision on this trend meanwhile (shown at the top). Your choice and "
        "note are kept below: press the button again to record it.",
    ),
    "qa-saved": ("ok", "Review saved."),
    "qa-undone": ("ok", "Review undone: the item is back in your list."),
}

#: The one story of a trend's state: the status describes its size over windows, *emerging* is
#: the flag that puts it in front of analysts.
STATUS_TEXT = {
    "new": "new: first window it appeared in",
    "growing": "growing: larger than its own past windows",
    "stable": "stable: about its usual size",
    "fading": "fading: smaller than its own past windows",
}


def message(code: str | None) -> tuple[str, str] | None:
    return MESSAGES.get(code or "")


def when(value: str | datetime | None, *, date_only: bool = False) -> str:
    """``2026-03-01 14:05 UTC`` (or ``2026-03-01``) from an ISO string or datetime; ``n/a`` for none."""
    if value is None or value == "":
        return "n/a"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if date_only:
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d %H:%M") + " UTC"


def pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f} %"


def plain(text: str | None) -> str:
    """Stored text with HTML entities (``&amp;``, ``&#8220;``) decoded once, for display."""
    return html.unescape(text or "")


def hidden(text: str, label: str = "hidden item, press to reveal") -> Markup:
    """Harmful text blurred until pressed: the accessible name is ``label``, never the text."""
    return Markup(
        '<span class="harmful blurred" tabindex="0" role="button" aria-pressed="false" aria-label="{}">'
        '<span class="reveal-text" aria-hidden="true">{}</span></span>'
    ).format(label, text)


def keyword_html(keyword: str) -> Markup:
    """A keyword, or a masked one (``•••``) that reveals the word when pressed."""
    if not has_slur(keyword):
        return Markup(escape(keyword))
    return hidden(keyword, "masked keyword, press to reveal")


def keywords_html(keywords: Sequence[str], limit: int | None = None) -> Markup:
    shown = list(keywords)[:limit] if limit else list(keywords)
    return Markup(", ").join(keyword_html(k) for k in shown)


def title_text(trend: Mapping[str, Any]) -> str:
    """The trend's readable title in plain text with slurs masked (for ``<title>`` and links)."""
    title = trend.get("title") or ""
    return mask_text(title) if title else str(trend.get("trend_id", ""))


def title_html(trend: Mapping[str, Any]) -> Markup:
    """The trend's title (its top keywords) with slurs masked and revealable; the id when none."""
    title = trend.get("title")
    if not title:
        return Markup(escape(str(trend.get("trend_id", ""))))
    return Markup(" · ").join(keyword_html(w) for w in str(title).split(" · "))


def _growing_windows(windows: Sequence[Mapping[str, Any]]) -> int:
    n = 0
    for w in reversed(windows):
        if w.get("status") != "growing":
            break
        n += 1
    return n


def why_flagged(trend: Mapping[str, Any], alpha: float = 0.01) -> list[str]:
    """A trend's last window in words: how dense it is against before, how long it has grown, where
    it comes from (with the p-value and whether it is significant at ``alpha``)."""
    windows = list(trend.get("windows") or [])
    last = windows[-1] if windows else {}
    out = []
    ratio = last.get("density_ratio")
    z = last.get("burst_z", trend.get("emergence_score"))
    if ratio is not None:
        out.append(f"{ratio:.1f}x its usual density in the embedding space")
    if z is not None:
        out.append(f"burst score {z:.1f} (emerging needs 4.0 or more with at least 3x density)")
    grow = _growing_windows(windows)
    if grow:
        out.append(f"growing for {grow} window{'s' if grow != 1 else ''}")
    elif last.get("status"):
        out.append(STATUS_TEXT.get(str(last["status"]), str(last["status"])))
    share, p = trend.get("us_share"), last.get("us_lift_p", trend.get("us_lift_p"))
    if share is not None:
        text = f"{share * 100:.0f} % US"
        if p is not None:
            verdict = "significant" if p < alpha else "not significant"
            text += f" (p = {p:.3g}, {verdict} at {alpha:g})"
        out.append(text)
    return out


def install(env: Any) -> None:
    """Register the helpers on a Jinja environment."""
    env.filters.update(when=when, pct=pct, plain=plain)
    env.globals.update(
        when=when,
        pct=pct,
        plain=plain,
        hidden=hidden,
        keywords_html=keywords_html,
        title_html=title_html,
        title_text=title_text,
        why_flagged=why_flagged,
        status_text=STATUS_TEXT,
        message=message,
    )
