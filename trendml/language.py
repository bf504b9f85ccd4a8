"""Language of an item's text, and whether the models support it.

The embedder (all-MiniLM-L6-v2) and the severity classifier were trained on English only, so
:data:`SUPPORTED_LANGUAGES` is ``("en",)``. Detection uses ``py3langid`` (a maintained fork of
langid.py: a naive-Bayes model over byte n-grams, shipped inside the package, 97 languages, no
network), normalised to probabilities.

Short or ambiguous texts are easy to misread (a two-word English insult can look like Dutch), and
calling English text "unsupported" would take it out of trend detection. So a language other than
English is reported only when the detector is confident (probability >= :data:`MIN_CONFIDENCE`)
and the text has at least :data:`MIN_LETTERS` letters; otherwise the item is ``und``
(undetermined), which counts as supported. docs/items.md gives the measured accuracy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en",)
UNDETERMINED = "und"
MIN_CONFIDENCE = 0.999
MIN_LETTERS = 12

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    return ident


def _detect(text: str | None) -> tuple[str, float]:
    if not text or sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return UNDETERMINED, 0.0
    with _lock:  # the identifier keeps scratch state between calls
        lang, prob = _identifier().classify(text)
    prob = float(prob)
    if lang not in SUPPORTED_LANGUAGES and prob < MIN_CONFIDENCE:
        return UNDETERMINED, round(prob, 4)
    return str(lang), round(prob, 4)


def _one_blas_thread(controller: Any = None) -> Any:
    """The detector is one small matrix-vector product per text: with BLAS's thread pool on a busy
    machine it ran 30x slower (20 ms vs 0.6 ms per text on the shared 2 cores), so detection runs
    with one BLAS thread (restored afterwards). Finding the BLAS libraries costs more than detecting
    a few texts, so a caller that detects often (the service, per batch) passes its own
    ``threadpoolctl.ThreadpoolController``, made once."""
    if controller is None:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
    return controller.limit(limits=1, user_api="blas")


def detect_language(text: str | None) -> tuple[str, float]:
    """``(ISO 639-1 code, probability)`` of ``text``; ``("und", 0.0)`` when it has too few letters,
    ``("und", p)`` when the best non-English guess is below :data:`MIN_CONFIDENCE`. For many
    texts use :func:`detect_languages` (one thread-pool switch for all)."""
    with _one_blas_thread():
        return _detect(text)


def detect_languages(texts: Iterable[str | None], *, blas: Any = None) -> list[str]:
    """The language code of each text (:func:`detect_language`); ``blas``: an optional
    ``threadpoolctl.ThreadpoolController`` to reuse (see :func:`_one_blas_thread`)."""
    texts = list(texts)
    if not texts:
        return []
    with _one_blas_thread(blas):
        return [_detect(t)[0] for t in texts]


def language_supported(language: str | None) -> bool:
    """True for a supported language, an undetermined one and items stored before detection
    (``None``): only a confident detection of another language is unsupported."""
    return language is None or language == UNDETERMINED or language in SUPPORTED_LANGUAGES


def load_sample() -> list[tuple[str, str]]:
    """The shipped CC0 language-ID sample: ``(language, text)`` rows
    (``trendml/datasets/data/langid_sample``)."""
    from pathlib import Path

    path = Path(__file__).parent / "datasets" / "data" / "langid_sample" / "sample.tsv"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            lang, text = line.split("\t", 1)
            rows.append((lang, text))
    return rows


def evaluate(rows: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Detection on ``(language, text)`` rows: ``accuracy`` (the exact language, ``und`` counts
    wrong), ``support_accuracy`` (the supported / unsupported decision right), per language."""
    per: dict[str, dict[str, int]] = {}
    n = exact = support = 0
    rows = list(rows)
    with _one_blas_thread():
        got_all = [_detect(text)[0] for _, text in rows]
    for (lang, _), got in zip(rows, got_all, strict=True):
        d = per.setdefault(lang, {"n": 0, "exact": 0, "support_right": 0})
        d["n"] += 1
        n += 1
        if got == lang:
            d["exact"] += 1
            exact += 1
        if language_supported(got) == (lang in SUPPORTED_LANGUAGES):
            d["support_right"] += 1
            support += 1
    return {
        "n": n,
        "accuracy": round(exact / n, 4) if n else None,
        "support_accuracy": round(support / n, 4) if n else None,
        "per_language": per,
    }
