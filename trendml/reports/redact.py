"""Redaction of example texts in briefs, so nobody reads harmful content by accident.

Rule (documented in docs/reports.md): collapse whitespace, keep the first ``max_chars`` characters
(``…`` marks a cut), then every word that is not a common English stop word (scikit-learn's list)
becomes ``•`` of its length: no first letter is kept, so the sentence cannot be rebuilt next to the
keyword list. ``@mentions`` and URLs are replaced by ``@user`` and ``<url>``. Digits, punctuation
and stop words stay, so the shape of the message (and e.g. a threat's structure) remains visible.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

MASK = "•"
DEFAULT_MAX_CHARS = 80
_TOKEN = re.compile(r"(?P<url>https?://\S+|www\.\S+)|(?P<mention>@\w+)|(?P<word>[^\W\d_]+)", re.IGNORECASE)


def truncate(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Whitespace collapsed, cut to ``max_chars`` characters (``…`` appended when cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[:max_chars].rstrip() + "…"


def _mask_token(match: re.Match[str]) -> str:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    if match.group("url"):
        return "<url>"
    if match.group("mention"):
        return "@user"
    w = match.group("word")
    if w.lower() in ENGLISH_STOP_WORDS:
        return w
    return MASK * len(w)


def redact(text: str | None, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``text`` truncated and masked by the rule above (``""`` for no text)."""
    if not text:
        return ""
    return _TOKEN.sub(_mask_token, truncate(text, max_chars))
