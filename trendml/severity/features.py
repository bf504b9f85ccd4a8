"""Features for the severity classifier: frozen sentence embeddings, optionally stacked with
word and character n-gram TF-IDF (the evidence for each choice is in docs/severity.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from trendml.severity.linear import tfidf_transform

logger = logging.getLogger(__name__)

#: embedding | tfidf | both (concatenated, one LR) | stack (embedding LR + TF-IDF LR + stacker) |
#: stack_nb (stack plus an NB-weighted TF-IDF LR as a third base, trendml/severity/nb.py)
FEATURE_SETS = ("embedding", "tfidf", "both", "stack", "stack_nb")


def make_vectorizers(
    *,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 5),
    char_analyzer: str = "char_wb",
    max_word_features: int = 50_000,
    max_char_features: int = 100_000,
) -> list[TfidfVectorizer]:
    """Word (default 1-2) and character (default 2-5, inside word boundaries) n-gram TF-IDF, sublinear
    term frequency."""
    return [
        TfidfVectorizer(
            ngram_range=tuple(word_ngrams), min_df=2, sublinear_tf=True, max_features=max_word_features
        ),
        TfidfVectorizer(
            analyzer=char_analyzer,
            ngram_range=tuple(char_ngrams),
            min_df=3,
            sublinear_tf=True,
            max_features=max_char_features,
        ),
    ]


def stack_features(
    texts: Sequence[str],
    embeddings: np.ndarray | None,
    vectorizers: Sequence[TfidfVectorizer],
    *,
    embedding_weight: float = 1.0,
    fit: bool = False,
) -> sp.csr_matrix:
    """Concatenate ``embedding_weight * embeddings`` with each vectorizer's TF-IDF block.

    ``embeddings`` may be ``None`` (TF-IDF only) and ``vectorizers`` empty (embeddings only).
    With ``fit=True`` the vectorizers are fitted on ``texts`` first.
    """
    blocks: list[sp.spmatrix] = []
    if embeddings is not None:
        blocks.append(sp.csr_matrix(np.asarray(embeddings, dtype=np.float64) * embedding_weight))
    for vec in vectorizers:
        blocks.append(vec.fit_transform(texts) if fit else tfidf_transform(vec, texts))
    if not blocks:
        raise ValueError("no features: expected embeddings, vectorizers or both")
    return sp.hstack(blocks, format="csr")
