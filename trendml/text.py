"""Text normalisation: pure functions, no state.

The same rule is applied before embedding, before hashing for the embedding cache and
before keyword extraction, so identical abuse content posted with different @mentions or
links is recognised as identical.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,50}")
_RETWEET = re.compile(r"^(?:\s*RT\b\s*:?\s*(?:@USER\s*:?\s*)?)+", re.IGNORECASE)
_WS = re.compile(r"\s+")
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")

#: Joins a text and a caption when an item has both (documented in docs/items.md).
CAPTION_SEPARATOR = " | "


def normalise_text(text: str) -> str:
    """Return ``text`` with HTML entities decoded, URLs -> ``URL``, @mentions -> ``@USER``,
    leading retweet markers removed, control characters dropped and whitespace collapsed.

    Idempotent: ``normalise_text(normalise_text(t)) == normalise_text(t)``.
    """
    if not text:
        return ""
    out = text
    # Entities can be double-encoded in scraped data ("&amp;#128514;"); decode until stable.
    for _ in range(3):
        decoded = html.unescape(out)
        if decoded == out:
            break
        out = decoded
    out = unicodedata.normalize("NFC", out).translate(_CONTROL)
    out = _URL.sub("URL", out)
    out = _MENTION.sub("@USER", out)
    out = _WS.sub(" ", out).strip()
    out = _RETWEET.sub("", out).strip()
    return out


def combine_text(text: str | None, caption: str | None) -> str:
    """The string embedded for an item: normalised text and caption joined by `` | ``.

    Either part may be missing; an item with neither is rejected earlier, at validation.
    """
    parts = [normalise_text(p) for p in (text, caption) if p]
    return CAPTION_SEPARATOR.join(p for p in parts if p)


def content_hash(text: str) -> str:
    """SHA-256 hex digest of an already-normalised text (the embedding cache key)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
