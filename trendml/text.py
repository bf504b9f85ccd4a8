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
_VISIBLE_ASCII = re.compile(r"[!-~]")

#: Joins a text and a caption when an item has both (documented in docs/items.md).
CAPTION_SEPARATOR = " | "

#: Characters that draw nothing although they are not whitespace: Unicode's
#: Default_Ignorable_Code_Point set (zero-width space and joiners, bidi marks and isolates,
#: variation selectors, Hangul fillers, tags, ...) plus the braille blank U+2800.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
#: Categories that draw nothing: controls, format characters, surrogates, separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


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


def is_visible_char(ch: str) -> bool:
    """True when ``ch`` draws something: not whitespace, a control, format or separator
    character, a surrogate, or another default-ignorable code point."""
    if ch.isspace() or unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return False
    cp = ord(ch)
    return not any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES)


def has_visible_text(text: str) -> bool:
    """True when ``text`` holds at least one visible character (see :func:`is_visible_char`)."""
    if _VISIBLE_ASCII.search(text):  # the common case, without a per-character loop
        return True
    return any(is_visible_char(ch) for ch in text if ord(ch) > 0x7E)


def content_hash(text: str) -> str:
    """SHA-256 hex digest of an already-normalised text (the embedding cache key)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
