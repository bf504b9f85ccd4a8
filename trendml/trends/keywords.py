"""c-TF-IDF keywords (as in BERTopic): one document per cluster, terms weighted by
``tf(t, c) * log(1 + A / f(t))`` with ``A`` the mean number of words per cluster and ``f(t)``
the term's frequency over all clusters. The window's noise points form one more class, so words
common everywhere in the window are down-weighted.

A term that only one member uses (one long or repetitive text) ranks after every term that at
least two members share, so the first keywords describe the group, not one item. A trend's
*title* (:func:`trend_title`) is its first 3 keywords: the most distinctive words its members share.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

# Platform tokens that carry no topic (mentions, links, retweets, HTML entities).
EXTRA_STOP_WORDS = frozenset(
    {"rt", "user", "url", "amp", "http", "https", "co", "www", "com", "lt", "gt", "im"}
)


def ctfidf_keywords(
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    top_n: int = 8,
    ngram_range: tuple[int, int] = (1, 1),
    weights: np.ndarray | None = None,
) -> dict[int, list[str]]:
    """Top ``top_n`` c-TF-IDF terms for every label ``>= 0`` (ties broken alphabetically).

    ``weights`` (one per text, default 1) scale each text's counts: a sample of the noise texts
    weighted by the inverse of its sampling rate stands for all of them (big windows)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    classes = sorted(int(c) for c in np.unique(labels) if c >= 0)
    if not classes:
        return {}
    row_of = {c: k for k, c in enumerate(classes)}
    noise = bool((labels < 0).any())
    n_rows = len(classes) + int(noise)
    rows = np.array([row_of[int(v)] if v >= 0 else len(classes) for v in labels], dtype=np.int64)
    vec = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS),
        ngram_range=ngram_range,
        token_pattern=r"(?u)\b[^\W\d_][\w']+\b",
        lowercase=True,
    )
    try:
        per_doc = vec.fit_transform(list(texts))
    except ValueError:  # empty vocabulary (only stop words, numbers or emoji)
        return {c: [] for c in classes}
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    onehot = sp.csr_matrix((w, (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))
    counts = (onehot @ per_doc).toarray().astype(np.float64)
    shared = (onehot @ (per_doc > 0).astype(np.float64)).toarray()  # members using each term
    terms = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    avg_words = counts.sum() / n_rows
    freq = counts.sum(axis=0)
    idf = np.log1p(avg_words / np.maximum(freq, 1.0))
    scores = tf * idf
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        s = scores[row]
        need = min(2, int((labels == c).sum()))
        nz = np.flatnonzero(counts[row] > 0)
        order = sorted(nz, key=lambda j: (shared[row, j] < need, -s[j], terms[j]))[:top_n]
        out[c] = [str(terms[j]) for j in order]
    return out


def trend_title(keywords: Sequence[str], n: int = 3) -> str | None:
    """A readable label for a trend: its ``n`` most distinctive keywords, or ``None`` if it has none."""
    words = [str(k) for k in keywords[:n] if str(k).strip()]
    return " · ".join(words) if words else None
