"""A slur lexicon, shipped as hashes, and keyword masking with it.

**Where it comes from.** It is derived from the labelled data the project ships
(``shared/data``, described in its DATA.md) by :func:`derive_lexicon`, from two sources and one
filter:

- ToxicSpans (Civil Comments posts, CC0 1.0): words a rater highlighted inside an ``Identity based
  Attack`` span in at least :data:`MIN_RATE` of the (at least :data:`MIN_POSTS`) posts they occur
  in (:func:`from_toxic_spans`);
- Davidson et al.'s hate-speech tweets (MIT): words in at least :data:`MIN_HATE` tweets labelled
  hate, labelled hate at least :data:`MIN_HATE_RATE` of the time (the base rate is 6 %) and
  labelled neither hate nor offensive at most :data:`MAX_BENIGN_RATE` of the time
  (:func:`from_labelled`);
- less every word of ToxiGen's *neutral* seed statements about groups (MIT / CDLA-Permissive-2.0):
  a word used in neutral sentences about a group is a group's name, not a slur.

Measured on the same data (``docs/dashboard.md``): 35 words; at least one occurs in 40 % of
Davidson's hate tweets, 0.9 % of its benign tweets and none of ToxiGen's neutral statements.
``python -m trendml.lexicon /path/to/shared/data`` rebuilds it.

**How it ships.** Only the SHA-256 of each lower-cased word is stored
(``trendml/datasets/data/lexicon/slurs.sha256``), so the repository and the package do not hold
a list of slurs in clear text; :func:`is_slur` hashes a word and looks it up.

**Masking.** :func:`mask_word` keeps no letter of a slur (``•`` of the same length, so a reader
sees a word was hidden but not which); :func:`mask_keywords` masks a keyword list. The dashboard
shows masked keywords with a reveal on click; reports and briefs show them masked unless
``--show-text``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

LEXICON_FILE = Path(__file__).resolve().parent / "datasets" / "data" / "lexicon" / "slurs.sha256"
MASK = "•"
MIN_POSTS = 3
MIN_RATE = 0.5
MIN_HATE = 10
MIN_HATE_RATE = 0.3
MAX_BENIGN_RATE = 0.05
IDENTITY_SPAN = "Identity based Attack"
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


def _digest(word: str) -> str:
    return hashlib.sha256(word.strip().lower().encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def load_lexicon(path: Path = LEXICON_FILE) -> frozenset[str]:
    """The shipped hashes (an empty set, with a warning, when the file is missing)."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        logger.warning("no slur lexicon at %s: keywords are not masked", path)
        return frozenset()
    return frozenset(h.strip() for h in lines if h.strip() and not h.startswith("#"))


def is_slur(word: str, lexicon: frozenset[str] | None = None) -> bool:
    """True when ``word`` (any case; a trailing plural ``s`` also tried) is in the lexicon."""
    lex = load_lexicon() if lexicon is None else lexicon
    w = word.strip().lower()
    if not w:
        return False
    return _digest(w) in lex or (len(w) > 3 and w.endswith("s") and _digest(w[:-1]) in lex)


def mask_word(word: str) -> str:
    """A word hidden entirely: no first letter, same length."""
    return MASK * max(len(word), 3)


def mask_text(text: str, lexicon: frozenset[str] | None = None) -> str:
    """``text`` with every lexicon word (and each word of a multi-word keyword) masked."""
    return _WORD.sub(lambda m: mask_word(m.group(0)) if is_slur(m.group(0), lexicon) else m.group(0), text)


def has_slur(text: str, lexicon: frozenset[str] | None = None) -> bool:
    return any(is_slur(m.group(0), lexicon) for m in _WORD.finditer(text or ""))


def mask_keywords(keywords: Sequence[str], lexicon: frozenset[str] | None = None) -> list[str]:
    """Each keyword with its lexicon words masked."""
    return [mask_text(k, lexicon) for k in keywords]


def _words(text: str) -> set[str]:
    return {m.group(0).lower() for m in _WORD.finditer(str(text or "")) if len(m.group(0)) >= 3}


def from_labelled(
    rows: Iterable[tuple[str, int]],
    *,
    min_hate: int = MIN_HATE,
    min_hate_rate: float = MIN_HATE_RATE,
    max_benign_rate: float = MAX_BENIGN_RATE,
) -> list[str]:
    """Words of ``(text, severity)`` rows (Davidson et al.'s tweets) that occur in at least
    ``min_hate`` hateful (severity 2) rows, in hateful rows at least ``min_hate_rate`` of the time
    and in benign (severity 0) rows at most ``max_benign_rate`` of the time."""
    from collections import Counter

    n: Counter[str] = Counter()
    hate: Counter[str] = Counter()
    benign: Counter[str] = Counter()
    for text, sev in rows:
        for w in _words(text):
            n[w] += 1
            hate[w] += int(sev) == 2
            benign[w] += int(sev) == 0
    return sorted(
        w
        for w in n
        if hate[w] >= min_hate and hate[w] / n[w] >= min_hate_rate and benign[w] / n[w] <= max_benign_rate
    )


def derive_lexicon(
    comments: Iterable[tuple[str, str]],
    raters: Iterable[tuple[str, str]],
    spans: Iterable[tuple[str, str, int, int]],
    labelled: Iterable[tuple[str, int]] = (),
    neutral: Iterable[str] = (),
) -> list[str]:
    """The lexicon: :func:`from_toxic_spans` and :func:`from_labelled`, less every word that occurs
    in a ``neutral`` statement about a group (ToxiGen's neutral seeds): those are group names."""
    words = set(from_toxic_spans(comments, raters, spans)) | set(from_labelled(labelled))
    for text in neutral:
        words -= _words(text)
    return sorted(words)


def from_toxic_spans(
    comments: Iterable[tuple[str, str]],
    raters: Iterable[tuple[str, str]],
    spans: Iterable[tuple[str, str, int, int]],
    *,
    min_posts: int = MIN_POSTS,
    min_rate: float = MIN_RATE,
) -> list[str]:
    """Words (lower case, sorted) that ToxicSpans' raters highlight in identity attacks: in at least
    ``min_rate`` of the posts a word occurs in, a rater marked it inside an identity-attack span.

    ``comments``: ``(comment_id, text)``; ``raters``: ``(annotation, comment_id)``;
    ``spans``: ``(annotation, type, start, end)`` with ``end`` inclusive.
    """
    from collections import Counter, defaultdict

    post_of = {str(a): str(c) for a, c in raters}
    marked: dict[str, list[tuple[int, int]]] = defaultdict(list)  # annotation -> identity spans
    for ann, kind, start, end in spans:
        if kind == IDENTITY_SPAN:
            marked[str(ann)].append((int(start), int(end) + 1))
    spans_of_post: dict[str, list[list[tuple[int, int]]]] = defaultdict(list)
    for ann, ranges in marked.items():
        if ann in post_of:
            spans_of_post[post_of[ann]].append(ranges)
    posts: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for cid, text in comments:
        cid, text = str(cid), str(text or "")
        seen: dict[str, bool] = {}
        for m in _WORD.finditer(text):
            w = m.group(0).lower()
            if len(w) < 3:
                continue
            hit = any(any(s <= m.start() and m.end() <= e for s, e in r) for r in spans_of_post.get(cid, []))
            seen[w] = seen.get(w, False) or hit
        for w, hit in seen.items():
            posts[w] += 1
            hits[w] += int(hit)
    return sorted(w for w, n in posts.items() if n >= min_posts and hits[w] / n >= min_rate)


def write_lexicon(words: Iterable[str], path: Path = LEXICON_FILE) -> int:
    """Write the words' hashes (sorted), with a header naming the source. Returns the count."""
    hashes = sorted({_digest(w) for w in words})
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# SHA-256 of lower-cased slurs derived from ToxicSpans (Civil Comments, CC0 1.0) by "
        "trendml.lexicon.derive_lexicon\n"
    )
    path.write_text(header + "\n".join(hashes) + "\n", encoding="ascii")
    load_lexicon.cache_clear()
    return len(hashes)


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - a maintenance command
    import sys

    import pandas as pd

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m trendml.lexicon /path/to/shared/data", file=sys.stderr)
        return 2
    data = Path(args[0])
    root = data / "toxic_spans_civil_comments"
    dav = pd.read_csv(data / "davidson_hsol" / "davidson_tidy.csv")
    tox = pd.read_csv(data / "toxigen_seeds" / "toxigen_seeds_tidy.csv")
    c = pd.read_csv(root / "comments.csv", dtype={"comment_id": str})
    a = pd.read_csv(root / "annotations.csv", dtype={"comment_id": str})
    s = pd.read_csv(root / "spans.csv")
    words = derive_lexicon(
        zip(c["comment_id"], c["comment_text"], strict=True),
        zip(a["annotation"], a["comment_id"], strict=True),
        zip(s["annotation"], s["type"].fillna(""), s["start"], s["end"], strict=True),
        zip(dav["text"], dav["severity"], strict=True),
        tox.loc[tox["label"] == "neutral", "text"],
    )
    n = write_lexicon(words)
    print(f"wrote {n} hashed words to {LEXICON_FILE}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
