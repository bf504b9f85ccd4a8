"""c-TF-IDF keywords (as in BERTopic): one document per cluster, terms weighted by
``tf(t, c) * log(1 + A / f(t))`` with ``A`` the mean number of words per cluster and ``f(t)``
the term's frequency over all clusters. The window's noise points form one more class, so words
common everywhere in the window are down-weighted."""

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
    texts: Sequence[str], labels: np.ndarray, *, top_n: int = 8, ngram_range: tuple[int, int] = (1, 1)
) -> dict[int, list[str]]:
    """Top ``top_n`` c-TF-IDF terms for every label ``>= 0`` (ties broken alphabetically)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    classes = sorted(int(c) for c in np.unique(labels) if c >= 0)
    if not classes:
        return {}
    docs = [" ".join(texts[i] for i in np.flatnonzero(labels == c)) for c in classes]
    noise = np.flatnonzero(labels < 0)
    if len(noise):
        docs.append(" ".join(texts[i] for i in noise))
    vec = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS),
        ngram_range=ngram_range,
        token_pattern=r"(?u)\b[^\W\d_][\w']+\b",
        lowercase=True,
    )
    try:
        counts = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary (only stop words, numbers or emoji)
        return {c: [] for c in classes}
    counts = counts.toarray().astype(np.float64)
    terms = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    avg_words = counts.sum() / len(docs)
    freq = counts.sum(axis=0)
    idf = np.log1p(avg_words / np.maximum(freq, 1.0))
    scores = tf * idf
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        s = scores[row]
        nz = np.flatnonzero(counts[row] > 0)
        order = sorted(nz, key=lambda j: (-s[j], terms[j]))[:top_n]
        out[c] = [str(terms[j]) for j in order]
    return out
