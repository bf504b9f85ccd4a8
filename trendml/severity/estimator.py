"""The severity estimator: stacked features -> class-weighted logistic regression -> calibrated
probabilities, plus a macro-F1-tuned decision rule.

The algorithm is :func:`fit_severity` / :func:`severity_proba`; :class:`SeverityModel` wraps them
with scikit-learn conventions, the embedder check and save/load.

Why two outputs: ``severity_probs`` are calibrated (a 0.3 means about 30 % of such items are of that
class), which is what a queue sorted by risk needs; ``severity`` is the argmax of the probabilities
times per-class weights tuned on out-of-fold predictions for macro-F1, so rare classes (hateful) are
not drowned by the frequent one (offensive). Both are learned on training folds only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from trendml.errors import InputError, ModelMismatchError, StateError
from trendml.severity.features import FEATURE_SETS, make_vectorizers, stack_features
from trendml.severity.linear import linear_proba
from trendml.severity.metrics import N_CLASSES, macro_f1
from trendml.severity.nb import NBLogisticRegression

logger = logging.getLogger(__name__)

# 2: source gate, n_repeats, shared TF-IDF; 3: threat threshold rule; 4: the fitted parts in skops'
# safe format instead of a pickle; 5: TF-IDF vocabularies stored as one array of terms each (format 4
# stored one node per term: minutes to save a full model). Formats 1-3 (joblib pickles: loading one
# runs code from the file) are refused with the retrain command.
FORMAT_VERSION = 5
_READABLE_FORMATS = (4, 5)
_PICKLE_FORMATS = (1, 2, 3)
THREAT = 3
_EPS = 1e-7
_META = "severity_model.json"
_WEIGHTS = "severity_model.skops"
_PICKLE_WEIGHTS = "severity_model.joblib"
#: the only types beyond skops' own trusted set (numpy, scipy, scikit-learn) a weights file may hold
_TRUSTED_TYPES = (
    "trendml.severity.estimator.BaseLearner",
    "trendml.severity.estimator.FittedSeverity",
    "trendml.severity.nb.NBLogisticRegression",
)


@dataclass
class BaseLearner:
    """One fitted base classifier: its feature block(s) and logistic regression."""

    uses_embeddings: bool
    vectorizers: list[Any]
    classifier: LogisticRegression | NBLogisticRegression
    embedding_weight: float = 1.0


@dataclass
class FittedSeverity:
    """Everything :func:`severity_proba` needs."""

    classes: np.ndarray
    bases: list[BaseLearner]
    calibrator: LogisticRegression | None
    decision_weights: np.ndarray
    embedding_dim: int | None
    info: dict[str, Any] = field(default_factory=dict)
    #: P(training source | embedding), an input of the stacker (``source_aware``); None otherwise
    source_gate: LogisticRegression | None = None
    #: level 3 when P(3) >= this (chosen on out-of-fold predictions); None: plain weighted argmax
    threat_threshold: float | None = None


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, _EPS, 1.0))


def _base_proba(
    base: BaseLearner,
    classes: np.ndarray,
    texts: Sequence[str],
    emb: np.ndarray | None,
    memo: dict[int, Any] | None = None,
) -> np.ndarray:
    """One base's probabilities over ``classes``. ``memo`` shares the TF-IDF matrix between bases
    that hold the same fitted vectorizers (``stack_nb``'s two TF-IDF bases)."""
    shareable = memo is not None and not base.uses_embeddings
    if shareable and id(base.vectorizers) in memo:  # type: ignore[operator]
        X = memo[id(base.vectorizers)]  # type: ignore[index]
    elif memo is not None and base.vectorizers and id(base.vectorizers) in memo and emb is not None:
        # the threat head: the embedding beside the TF-IDF block another base already computed
        block = sp.csr_matrix(np.asarray(emb, dtype=np.float64) * base.embedding_weight)
        X = sp.hstack([block, memo[id(base.vectorizers)]], format="csr")
    else:
        X = stack_features(
            texts,
            emb if base.uses_embeddings else None,
            base.vectorizers,
            embedding_weight=base.embedding_weight,
        )
        if shareable:
            memo[id(base.vectorizers)] = X  # type: ignore[index]
    return _aligned_proba(base.classifier, classes, X)


def _aligned_proba(clf: Any, classes: np.ndarray, X: Any) -> np.ndarray:
    """``clf.predict_proba(X)`` with one column per entry of ``classes`` (0 for a class ``clf`` never
    saw, e.g. one missing from a training fold)."""
    out = np.zeros((X.shape[0], len(classes)))
    out[:, np.searchsorted(classes, clf.classes_)] = linear_proba(clf, X)
    return out


def tune_decision_weights(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    grid: Sequence[float] = tuple(np.linspace(-1.5, 1.5, 31)),
    passes: int = 2,
    forced: np.ndarray | None = None,
    frozen: Sequence[int] = (),
) -> np.ndarray:
    """Per-class multiplicative weights ``w`` (first class fixed at 1) maximising the macro-F1 of
    ``argmax(proba * w)`` on ``y``, by coordinate search over ``log w``. ``forced`` (column index per
    row, -1 = not forced) overrides the argmax on some rows (the threat rule); columns in ``frozen``
    get weight 0 (never chosen by the argmax)."""
    k = proba.shape[1]
    logw = np.zeros(k)
    keep = np.ones(k)
    keep[list(frozen)] = 0.0

    def predict(lw: np.ndarray) -> np.ndarray:
        pred = np.argmax(proba * np.exp(lw) * keep, axis=1)
        return pred if forced is None else np.where(forced >= 0, forced, pred)

    best = macro_f1(y, predict(logw))
    for _ in range(passes):
        for c in range(1, k):
            if c in frozen:
                continue
            for g in grid:
                trial = logw.copy()
                trial[c] = g
                score = macro_f1(y, predict(trial))
                if score > best + 1e-9:
                    best, logw = score, trial
    return np.exp(logw) * keep


def threat_threshold_for(
    y_threat: np.ndarray, p3: np.ndarray, min_precision: float, weight: np.ndarray | None = None
) -> float | None:
    """The lowest threshold ``t`` such that the rows with ``p3 >= t`` have (``weight``-weighted)
    precision >= ``min_precision`` for ``y_threat`` (the most recall at that precision); None when no
    threshold reaches it. Thresholds above the 25 highest scores are not considered (too few rows).

    None, too, when the (weighted) threat share of all rows already reaches ``min_precision``:
    flagging every row would meet the precision, so the lowest such threshold is the lowest score
    and the rule calls everything a threat (seen on a small training set whose few classes got
    balanced weights: threshold 2.7e-7, every text severity 3)."""
    order = np.argsort(-p3, kind="stable")
    w = np.ones(len(p3)) if weight is None else np.asarray(weight, dtype=np.float64)[order]
    hits = np.cumsum(y_threat[order] * w)
    precision = hits / np.cumsum(w)
    ok = np.flatnonzero(precision[24:] >= min_precision) + 24 if len(order) > 24 else np.array([], int)
    if len(ok) == 0 or hits[-1] == 0 or precision[-1] >= min_precision:
        return None
    return float(p3[order[ok.max()]])


def _base_specs(features: str, embedding_weight: float) -> list[tuple[bool, bool, float, str]]:
    """(uses embeddings, uses TF-IDF, embedding weight, classifier: "lr" or "nb") per base learner."""
    if features == "embedding":
        return [(True, False, 1.0, "lr")]
    if features == "tfidf":
        return [(False, True, 1.0, "lr")]
    if features == "both":  # one classifier on the concatenated features
        return [(True, True, embedding_weight, "lr")]
    stack = [(True, False, 1.0, "lr"), (False, True, 1.0, "lr")]  # one classifier per block, stacked
    if features == "stack_nb":  # + NB-weighted one-vs-rest LR on the TF-IDF block
        return [*stack, (False, True, 1.0, "nb")]
    return stack


@dataclass(frozen=True, eq=False)
class _FitInputs:
    """What every fitting step of :func:`fit_severity` reads: the rows and the settings."""

    texts: list[str]
    emb: np.ndarray | None
    y: np.ndarray
    sw: np.ndarray
    bsw: np.ndarray  # the base learners' own row weights (``base_weight``, default ``sw``)
    tsw: np.ndarray  # the threat head's row weights (``threat_weight``, default ``bsw``); 0 = left out
    groups: np.ndarray
    classes: np.ndarray
    specs: list[tuple[bool, bool, float, str]]
    src: np.ndarray | None
    source_names: np.ndarray
    tfidf: dict[str, Any] | None
    C: float
    C_embedding: float
    C_nb: float
    C_source: float
    C_threat: float
    class_weight: str | None
    n_folds: int
    max_iter: int
    random_state: int


def _fit_gate(fit: _FitInputs, idx: np.ndarray) -> LogisticRegression:
    assert fit.src is not None and fit.emb is not None
    # balanced: the gate is then a resemblance score, not the training mix (97 % Davidson),
    # whose saturated log-probabilities gave the stacker nothing to use (docs/severity.md)
    gate = LogisticRegression(
        C=fit.C_source, class_weight="balanced", max_iter=fit.max_iter, random_state=fit.random_state
    )
    return gate.fit(fit.emb[idx], fit.src[idx])


def _fit_base(
    fit: _FitInputs, spec: tuple[bool, bool, float, str], idx: np.ndarray, shared: dict[str, Any]
) -> BaseLearner:
    """Fit one base on rows ``idx``; TF-IDF-only bases fitted with the same ``shared`` dict use
    one set of fitted vectorizers (same settings, same rows: fitting it twice only cost time)."""
    with_emb, with_tfidf, weight, kind = spec
    if with_tfidf and not with_emb and "tfidf" in shared:
        vecs, X = shared["tfidf"]
    elif kind == "threat" and "tfidf" in shared and fit.emb is not None:
        vecs, X_tfidf = shared["tfidf"]
        block = sp.csr_matrix(np.asarray(fit.emb[idx], dtype=np.float64) * weight)
        X = sp.hstack([block, X_tfidf], format="csr")
        keep = fit.tsw[idx] > 0  # rows weighted 0 for the head (e.g. one dataset's) are left out
        if not keep.all():
            idx, X = idx[keep], X[np.flatnonzero(keep)]
    else:
        vecs = make_vectorizers(**(fit.tfidf or {})) if with_tfidf else []
        X = stack_features(
            [fit.texts[i] for i in idx],
            fit.emb[idx] if with_emb and fit.emb is not None else None,
            vecs,
            embedding_weight=weight,
            fit=True,
        )
        if with_tfidf and not with_emb:
            shared["tfidf"] = (vecs, X)
    clf: LogisticRegression | NBLogisticRegression
    target = fit.y[idx]
    if kind == "threat":  # threat vs rest (0 stands for "not a threat")
        target = np.where(target == THREAT, THREAT, 0)
        clf = LogisticRegression(
            C=fit.C_threat,
            class_weight=fit.class_weight,
            max_iter=fit.max_iter,
            random_state=fit.random_state,
        )
    elif kind == "nb":
        clf = NBLogisticRegression(
            C=fit.C_nb, class_weight=fit.class_weight, max_iter=fit.max_iter, random_state=fit.random_state
        )
    else:
        c = fit.C_embedding if (with_emb and not with_tfidf) else fit.C
        clf = LogisticRegression(
            C=c, class_weight=fit.class_weight, max_iter=fit.max_iter, random_state=fit.random_state
        )
    clf.fit(X, target, sample_weight=(fit.tsw if kind == "threat" else fit.bsw)[idx])
    return BaseLearner(uses_embeddings=with_emb, vectorizers=vecs, classifier=clf, embedding_weight=weight)


def _out_of_fold(fit: _FitInputs, seed: int) -> list[np.ndarray]:
    """Each base's (then the gate's) out-of-fold probabilities for one fold split."""
    n, n_folds, emb, texts = len(fit.y), fit.n_folds, fit.emb, fit.texts
    blocks = [np.zeros((n, len(fit.classes))) for _ in fit.specs]
    if fit.src is not None:
        blocks.append(np.zeros((n, len(fit.source_names))))
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (tr, va) in enumerate(folds.split(np.zeros(n), fit.y, fit.groups)):
        shared: dict[str, Any] = {}
        memo: dict[int, Any] = {}
        va_texts, va_emb = [texts[i] for i in va], emb[va] if emb is not None else None
        for j, spec in enumerate(fit.specs):
            base = _fit_base(fit, spec, tr, shared)
            blocks[j][va] = _base_proba(base, fit.classes, va_texts, va_emb, memo)
        if fit.src is not None:
            blocks[-1][va] = _aligned_proba(_fit_gate(fit, tr), fit.source_names, emb[va])  # type: ignore[index]
        logger.info("severity fold %d/%d (split seed %d) fitted on %d rows", k + 1, n_folds, seed, len(tr))
    return blocks


def fit_severity(
    texts: Sequence[str],
    embeddings: np.ndarray | None,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    base_weight: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    features: str = "stack",
    embedding_weight: float = 1.0,
    C: float = 1.0,
    C_embedding: float = 1.0,
    C_nb: float = 1.0,
    class_weight: str | None = "balanced",
    calibration: str = "vector",
    tune_decision: bool = True,
    n_folds: int = 3,
    n_repeats: int = 1,
    max_iter: int = 2000,
    random_state: int = 0,
    tfidf: dict[str, Any] | None = None,
    sources: Sequence[str] | None = None,
    source_aware: bool = False,
    C_source: float = 1.0,
    threat_min_precision: float | None = 0.5,
    threat_head: bool = False,
    C_threat: float = 1.0,
    threat_weight: np.ndarray | None = None,
    threat_rows: np.ndarray | None = None,
) -> FittedSeverity:
    """Fit base classifiers, calibrator (the stacker) and decision weights.

    Each base learner is a class-weighted logistic regression on one feature block (``stack``), or on
    the concatenation (``both``), or on a single block; ``stack_nb`` adds an NB-weighted one-vs-rest
    logistic regression (:class:`~trendml.severity.nb.NBLogisticRegression`, ``C_nb``) on the TF-IDF
    block as a third base. A multinomial logistic regression on the
    bases' out-of-fold log-probabilities (``n_folds`` stratified, group-aware folds) combines and
    calibrates them (for a single base it is vector scaling); decision weights are tuned on the same
    out-of-fold predictions. With ``n_repeats`` > 1 the out-of-fold predictions are made for that
    many fold splits (seeds ``random_state``, ``random_state + 1``, ...) and the stacker and decision
    weights are fitted on all of them, so they depend less on one arbitrary split. Base learners are
    then refitted on all rows.

    ``source_aware`` (needs ``sources``, the training dataset of each row, and embeddings): a
    logistic regression on the embedding predicts which training source a text resembles, and its
    out-of-fold log-probabilities are stacker inputs too. The stacker can then shift each class's
    prior by source: the sources label differently (Davidson is 77 % "offensive"; ToxiGen statements
    are never labelled offensive), and one shared calibrator otherwise leaves "offensive" mass on
    ToxiGen-style statements (evidence in docs/severity.md).

    Threat rule (``threat_min_precision``, when class 3 is in ``y``): level 3 is not an argmax but a
    threshold on the calibrated ``P(3)``, the lowest one at which the out-of-fold predictions reach
    that precision for level 3 (so the most threat recall at that precision); the decision weights of
    the other classes are then tuned with the rule applied. The out-of-fold probabilities (mean over
    repeats) are kept in ``info["oof_proba"]`` until the caller pops them (not saved).

    ``threat_head`` (when class 3 is in ``y``): one more base, a class-weighted threat-vs-rest logistic
    regression (``C_threat``) on the embedding beside the TF-IDF block (shared with the TF-IDF bases),
    whose out-of-fold P(threat) is a stacker input like the others' log-probabilities.

    ``base_weight``: the base learners' own row weights (default ``sample_weight``), e.g. more weight
    on counterfactual rows or soft labels; the stacker, the decision weights and the threat threshold
    keep ``sample_weight``, so the calibration is fitted on the rows' real mix and hard labels.

    ``threat_weight``: the threat head's own row weights (default the base learners'); rows weighted 0
    are left out of the head's fits (e.g. a dataset without threat labels whose violent-sounding
    posts are labelled offensive). ``threat_rows`` (boolean mask): the threat threshold is chosen on
    the out-of-fold predictions of these rows only, each weighted 1, instead of all training rows
    (weighted), e.g. the posts of the dataset the threat labels come from, each once with its
    majority label.
    """
    if features not in FEATURE_SETS:
        raise InputError(f'features is "{features}"; expected one of {", ".join(FEATURE_SETS)}')
    if isinstance(n_repeats, bool) or not (isinstance(n_repeats, int | np.integer) and n_repeats >= 1):
        raise InputError(
            f"n_repeats is {n_repeats!r}; expected an integer >= 1; set model.n_repeats to 1, 2, 3, ..."
        )
    if calibration not in ("vector", "none"):
        raise InputError(f'calibration is "{calibration}"; expected "vector" or "none"')
    if features.startswith("stack") and calibration == "none":
        raise InputError(
            f'features "{features}" needs calibration "vector" (the stacker); expected calibration="vector"'
        )
    specs = _base_specs(features, embedding_weight)
    y = np.asarray(y, dtype=int)
    n = len(y)
    texts = list(texts)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    bsw = sw if base_weight is None else np.asarray(base_weight, dtype=float)
    tsw = bsw if threat_weight is None else np.asarray(threat_weight, dtype=float)
    threshold_rows = np.ones(n, dtype=bool) if threat_rows is None else np.asarray(threat_rows, bool)
    if threat_rows is not None and (threshold_rows.shape != (n,) or not threshold_rows.any()):
        raise InputError(
            f"threat_rows has shape {threshold_rows.shape} and {int(threshold_rows.sum())} rows set for "
            f"{n} training rows; expected a boolean mask of length {n} with at least one row set"
        )
    groups = np.arange(n) if groups is None else np.asarray(groups)
    uses_emb = any(s[0] for s in specs)
    emb = np.asarray(embeddings, dtype=np.float32) if uses_emb else None
    classes = np.unique(y)
    if threat_head and THREAT in classes and uses_emb:
        specs = [*specs, (True, True, 1.0, "threat")]
    src: np.ndarray | None = None
    source_names = np.zeros(0, dtype=str)
    if source_aware:
        if emb is None:
            raise InputError(
                f'source_aware needs embeddings but features is "{features}"; expected features with '
                'an embedding block ("embedding", "both", "stack", "stack_nb") or source_aware=False'
            )
        if sources is None or len(sources) != n:
            raise InputError(
                f"source_aware got {'no sources' if sources is None else f'{len(sources)} sources'} for "
                f"{n} rows; expected one source (training dataset name) per row; pass sources= to "
                "SeverityModel.fit or set source_aware=False"
            )
        if calibration == "none":
            raise InputError(
                'calibration is "none" but source_aware needs the stacker; expected calibration="vector" '
                "or source_aware=False"
            )
        src = np.asarray(sources).astype(str)
        source_names, counts = np.unique(src, return_counts=True)
        if len(source_names) < 2:
            logger.info("one training source only (%s): no source-aware calibration", src[0] if n else "-")
            src = None
        elif counts.min() < 2 * n_folds:
            # too few rows for every training fold to hold each source: the gate's columns at
            # scoring time would not match the out-of-fold ones
            logger.warning(
                "source %s has %d rows (< %d): no source-aware calibration",
                source_names[counts.argmin()],
                counts.min(),
                2 * n_folds,
            )
            src = None

    fit = _FitInputs(
        texts=texts,
        emb=emb,
        y=y,
        sw=sw,
        bsw=bsw,
        tsw=tsw,
        groups=groups,
        classes=classes,
        specs=specs,
        src=src,
        source_names=source_names,
        tfidf=tfidf,
        C=C,
        C_embedding=C_embedding,
        C_nb=C_nb,
        C_source=C_source,
        C_threat=C_threat,
        class_weight=class_weight,
        n_folds=n_folds,
        max_iter=max_iter,
        random_state=random_state,
    )

    calibrator = None
    weights = np.ones(len(classes))
    threat_t: float | None = None
    oof_mean: np.ndarray | None = None
    if calibration != "none" or tune_decision:
        # repeated cross-fitting: every split seed gives each row one out-of-fold prediction; the
        # stacker and the decision weights are fitted on all of them (rows repeated n_repeats times,
        # which weakens the stacker's C=100 regularisation by that factor)
        repeats = [_out_of_fold(fit, random_state + r) for r in range(n_repeats)]
        y_rep, sw_rep = np.tile(y, n_repeats), np.tile(sw, n_repeats)
        if calibration == "vector":
            # 5,000 iterations: a base that predicts nearly uniform probabilities (a weak challenger)
            # leaves the log-probability inputs nearly collinear, and 1,000 iterations stopped short
            # of convergence depending on the embeddings' last bits (batch composition)
            calibrator = LogisticRegression(C=100.0, max_iter=5000)
            meta = np.vstack([np.hstack([_log(b) for b in blocks]) for blocks in repeats])
            calibrator.fit(meta, y_rep, sample_weight=sw_rep)
            oof = calibrator.predict_proba(meta)
        else:
            oof = np.vstack([blocks[0] for blocks in repeats])
        forced, frozen = None, ()
        if threat_min_precision is not None and THREAT in classes:
            j3 = int(np.searchsorted(classes, THREAT))
            rows = np.tile(threshold_rows, n_repeats)
            row_w = sw_rep[rows] if threat_rows is None else None  # the chosen rows: each weighted 1
            threat_t = threat_threshold_for(y_rep[rows] == THREAT, oof[rows, j3], threat_min_precision, row_w)
            if threat_t is not None:
                forced = np.where(oof[:, j3] >= threat_t, j3, -1)
                frozen = (j3,)
        if tune_decision:
            weights = tune_decision_weights(y_rep, oof, forced=forced, frozen=frozen)
        elif frozen:
            weights[list(frozen)] = 0.0
        oof_mean = oof.reshape(n_repeats, n, len(classes)).mean(axis=0)
    shared_all: dict[str, Any] = {}
    bases = [_fit_base(fit, spec, np.arange(n), shared_all) for spec in specs]
    gate = None if src is None else _fit_gate(fit, np.arange(n))
    info: dict[str, Any] = {
        "n_train": int(n),
        "n_features": [int(b.classifier.n_features_in_) for b in bases],
    }
    if gate is not None:
        info["sources"] = [str(c) for c in gate.classes_]
    if threat_t is not None:
        info["threat_threshold"] = threat_t
        info["threat_min_precision"] = float(threat_min_precision)  # type: ignore[arg-type]
    if oof_mean is not None:
        info["oof_proba"] = oof_mean
    return FittedSeverity(
        classes=classes,
        bases=bases,
        calibrator=calibrator,
        decision_weights=weights,
        embedding_dim=int(emb.shape[1]) if emb is not None else None,
        info=info,
        source_gate=gate,
        threat_threshold=threat_t,
    )


def severity_proba(fitted: FittedSeverity, texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
    """Calibrated probabilities over all four severities, shape ``(n, 4)``, rows sum to 1."""
    n = len(texts)
    out = np.zeros((n, N_CLASSES))
    if n == 0:
        return out
    texts = list(texts)
    emb = None if fitted.embedding_dim is None else np.asarray(embeddings, dtype=np.float32)
    memo: dict[int, Any] = {}
    raws = [_base_proba(b, fitted.classes, texts, emb, memo) for b in fitted.bases]
    gate = getattr(fitted, "source_gate", None)  # absent in models saved before it existed
    if gate is not None and emb is not None:
        raws.append(linear_proba(gate, emb))
    if fitted.calibrator is None:
        probs = raws[0]
    else:
        probs = linear_proba(fitted.calibrator, np.hstack([_log(r) for r in raws]))
    out[:, fitted.classes] = probs
    out /= out.sum(axis=1, keepdims=True)
    return out


def severity_decision(fitted: FittedSeverity, proba: np.ndarray) -> np.ndarray:
    """Severity labels: 3 when ``P(3)`` clears the model's threat threshold (when it has one), else the
    argmax of the probabilities of the trained classes times the decision weights."""
    if len(proba) == 0:
        return np.zeros(0, dtype=int)
    proba = np.asarray(proba)
    scores = proba[:, fitted.classes] * fitted.decision_weights
    labels = fitted.classes[np.argmax(scores, axis=1)].astype(int)
    threat_t = getattr(fitted, "threat_threshold", None)  # absent in models saved before format 3
    if threat_t is not None:
        labels = np.where(proba[:, THREAT] >= threat_t, THREAT, labels)
    return labels


class SeverityModel(ClassifierMixin, BaseEstimator):
    """Severity pre-scorer over (normalised texts, their L2-normalised embeddings).

    Parameters mirror :func:`fit_severity`; ``embedder_id`` (``name@version``) names the vector space
    the model was trained in and is checked before scoring (:meth:`check_embedder`). ``fit`` takes
    ``sources`` (each row's training dataset), used when ``source_aware``.
    """

    def __init__(
        self,
        *,
        embedder_id: str = "all-MiniLM-L6-v2@0.1.0",
        features: str = "stack",
        embedding_weight: float = 1.0,
        C: float = 1.0,
        C_embedding: float = 1.0,
        C_nb: float = 1.0,
        class_weight: str | None = "balanced",
        calibration: str = "vector",
        tune_decision: bool = True,
        n_folds: int = 3,
        n_repeats: int = 1,
        max_iter: int = 2000,
        random_state: int = 0,
        tfidf: dict[str, Any] | None = None,
        source_aware: bool = False,
        C_source: float = 1.0,
        threat_min_precision: float | None = 0.5,
        threat_head: bool = False,
        C_threat: float = 1.0,
    ) -> None:
        self.embedder_id = embedder_id
        self.features = features
        self.embedding_weight = embedding_weight
        self.C = C
        self.C_embedding = C_embedding
        self.C_nb = C_nb
        self.class_weight = class_weight
        self.calibration = calibration
        self.tune_decision = tune_decision
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.max_iter = max_iter
        self.random_state = random_state
        self.tfidf = tfidf
        self.source_aware = source_aware
        self.C_source = C_source
        self.threat_min_precision = threat_min_precision
        self.threat_head = threat_head
        self.C_threat = C_threat

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        embeddings: np.ndarray | None,
        y: Sequence[int],
        *,
        sample_weight: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        sources: Sequence[str] | None = None,
        base_weight: np.ndarray | None = None,
        threat_weight: np.ndarray | None = None,
        threat_rows: np.ndarray | None = None,
    ) -> SeverityModel:
        texts = list(texts)
        y_arr = np.asarray(y)
        self._check_inputs(texts, embeddings, needs_embeddings=self.features != "tfidf")
        if len(y_arr) != len(texts):
            raise InputError(f"got {len(texts)} texts and {len(y_arr)} labels; expected one label per text")
        if len(texts) == 0 or len(np.unique(y_arr)) < 2:
            raise InputError(
                "training data has fewer than 2 severity classes; expected rows of at least 2 classes"
            )
        if not np.isin(y_arr, np.arange(N_CLASSES)).all():
            raise InputError(f"labels outside 0..{N_CLASSES - 1}; expected severities 0, 1, 2 or 3")
        self.fitted_ = fit_severity(
            texts,
            embeddings,
            y_arr,
            sample_weight=sample_weight,
            base_weight=base_weight,
            groups=groups,
            features=self.features,
            embedding_weight=self.embedding_weight,
            C=self.C,
            C_embedding=self.C_embedding,
            C_nb=self.C_nb,
            class_weight=self.class_weight,
            calibration=self.calibration,
            tune_decision=self.tune_decision,
            n_folds=self.n_folds,
            n_repeats=self.n_repeats,
            max_iter=self.max_iter,
            random_state=self.random_state,
            tfidf=self.tfidf,
            sources=sources,
            source_aware=self.source_aware,
            C_source=self.C_source,
            threat_min_precision=self.threat_min_precision,
            threat_head=self.threat_head,
            C_threat=self.C_threat,
            threat_weight=threat_weight,
            threat_rows=threat_rows,
        )
        #: out-of-fold probabilities of the training rows (n, 4), mean over repeats; not saved
        self.oof_proba_ = None
        oof = self.fitted_.info.pop("oof_proba", None)
        if oof is not None:
            self.oof_proba_ = np.zeros((len(texts), N_CLASSES))
            self.oof_proba_[:, self.fitted_.classes] = oof
        self.classes_ = np.arange(N_CLASSES)
        return self

    # -- scoring -----------------------------------------------------------------------
    def _check_fitted(self) -> FittedSeverity:
        fitted = getattr(self, "fitted_", None)
        if fitted is None:
            raise StateError(
                "the severity model is not fitted; expected fit() or load() first; train it first"
            )
        return fitted

    def _check_inputs(
        self, texts: Sequence[str], embeddings: np.ndarray | None, *, needs_embeddings: bool
    ) -> None:
        if not needs_embeddings:
            return
        if embeddings is None:
            raise InputError("embeddings are missing; expected an (n, dim) array of the texts' vectors")
        emb = np.asarray(embeddings)
        if emb.ndim != 2 or emb.shape[0] != len(texts):
            raise InputError(
                f"embeddings have shape {emb.shape} for {len(texts)} texts; expected ({len(texts)}, dim)"
            )
        dim = getattr(getattr(self, "fitted_", None), "embedding_dim", None)
        if dim is not None and emb.shape[1] != dim and len(texts) > 0:
            raise ModelMismatchError(
                f"embeddings are {emb.shape[1]}-d; the model was trained on {dim}-d vectors of "
                f"{self.embedder_id}; "
                "embed with that model"
            )

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
        fitted = self._check_fitted()
        texts = list(texts)
        self._check_inputs(texts, embeddings, needs_embeddings=fitted.embedding_dim is not None)
        return severity_proba(fitted, texts, embeddings)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
        fitted = self._check_fitted()
        return severity_decision(fitted, self.predict_proba(texts, embeddings))

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Severity labels from probabilities already computed by :meth:`predict_proba`."""
        return severity_decision(self._check_fitted(), proba)

    def check_embedder(self, embedder: Any) -> None:
        """Raise :class:`ModelMismatchError` unless ``embedder`` is the one the model was trained with."""
        from trendml.embed.base import embedder_id

        got = embedder_id(embedder)
        if got != self.embedder_id:
            raise ModelMismatchError(
                f"the embedder is {got}; the severity model was trained on {self.embedder_id}; "
                f"score with {self.embedder_id} or retrain with `trendml train severity`"
            )

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``severity_model.json`` (metadata) and ``severity_model.skops`` (the fitted parts, in
        skops' safe format: loading it builds only allow-listed types and runs no code from the file)."""
        import sklearn
        import skops.io as sio

        fitted = self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        vocabularies = _vocabularies_as_arrays(fitted)
        try:
            sio.dump(fitted, d / _WEIGHTS)
        finally:
            for vec, vocabulary in vocabularies:
                vec.vocabulary_ = vocabulary
        meta = {
            "format_version": FORMAT_VERSION,
            "embedder_id": self.embedder_id,
            "params": self.get_params(),
            "classes": [int(c) for c in fitted.classes],
            "decision_weights": [float(w) for w in fitted.decision_weights],
            "embedding_dim": fitted.embedding_dim,
            "sklearn_version": sklearn.__version__,
            "info": fitted.info,
        }
        (d / _META).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> SeverityModel:
        """Load a model written by :meth:`save`; :class:`StateError` if files are missing, corrupt, hold
        a type outside the allow-list, or are an older pickle-based format (retrain those)."""
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        d = Path(directory)
        meta_path, weights_path = d / _META, d / _WEIGHTS
        if meta_path.is_file() and (d / _PICKLE_WEIGHTS).is_file() and not weights_path.is_file():
            raise StateError(
                f"the severity model in {d} is stored as a pickle (format 3 or older), which trendml no "
                f"longer loads because loading a pickle runs code from the file; expected format "
                f"{FORMAT_VERSION} ({_WEIGHTS}); retrain with `trendml train severity`"
            )
        if not meta_path.is_file() or not weights_path.is_file():
            raise StateError(
                f"{d} holds no severity model; expected {_META} and {_WEIGHTS} there; "
                "pass a directory written by SeverityModel.save or a models:/ URI"
            )
        try:
            meta = json.loads(meta_path.read_text())
            version = meta.get("format_version")
        except Exception as exc:  # noqa: BLE001 - any failure here means the file is unusable
            raise StateError(
                f"the severity model in {d} is corrupt ({type(exc).__name__}: {exc}); expected files "
                f"written by SeverityModel.save (format {FORMAT_VERSION}); "
                "retrain with `trendml train severity`"
            ) from None
        if version in _PICKLE_FORMATS:
            raise StateError(
                f"the severity model in {d} is format {version} (a pickle), which trendml no longer loads "
                f"because loading a pickle runs code from the file; expected format {FORMAT_VERSION}; "
                "retrain with `trendml train severity`"
            )
        try:
            if version not in _READABLE_FORMATS:
                raise ValueError(f"format_version {version!r}")
            model = cls(**meta["params"])
            try:  # one read: skops refuses the file before building anything outside the allow-list
                fitted = sio.load(weights_path, trusted=list(_TRUSTED_TYPES))
            except UntrustedTypesFoundException:
                unknown = sorted(set(sio.get_untrusted_types(file=weights_path)) - set(_TRUSTED_TYPES))
                raise ValueError(f"types outside the allow-list: {', '.join(unknown)}") from None
            if not isinstance(fitted, FittedSeverity):
                raise TypeError(type(fitted).__name__)
            _vocabularies_as_dicts(fitted)
        except Exception as exc:  # noqa: BLE001 - any failure here means the files are unusable
            raise StateError(
                f"the severity model in {d} is corrupt ({type(exc).__name__}: {exc}); "
                "expected files written by "
                f"SeverityModel.save (format {FORMAT_VERSION}); retrain with `trendml train severity`"
            ) from None
        model.fitted_ = fitted
        model.classes_ = np.arange(N_CLASSES)
        return model


def _fitted_vectorizers(fitted: FittedSeverity) -> list[Any]:
    """Each fitted TF-IDF vectorizer once (bases may share one)."""
    seen: dict[int, Any] = {}
    for base in fitted.bases:
        for vec in base.vectorizers:
            seen.setdefault(id(vec), vec)
    return list(seen.values())


def _vocabularies_as_arrays(fitted: FittedSeverity) -> list[tuple[Any, dict[str, int]]]:
    """Swap each vectorizer's ``vocabulary_`` dict for an array of its terms in column order (skops
    stores an array as one file; a dict as one node per term); return the dicts to put back."""
    swapped = []
    for vec in _fitted_vectorizers(fitted):
        vocabulary = getattr(vec, "vocabulary_", None)
        if isinstance(vocabulary, dict):
            terms = np.empty(len(vocabulary), dtype=object)
            for term, col in vocabulary.items():
                terms[col] = term
            vec.vocabulary_ = np.asarray(terms.tolist(), dtype=str)
            swapped.append((vec, vocabulary))
    return swapped


def _vocabularies_as_dicts(fitted: FittedSeverity) -> None:
    """Undo :func:`_vocabularies_as_arrays` on a loaded model (format 4 files already hold dicts)."""
    for vec in _fitted_vectorizers(fitted):
        vocabulary = getattr(vec, "vocabulary_", None)
        if isinstance(vocabulary, np.ndarray):
            vec.vocabulary_ = {str(term): col for col, term in enumerate(vocabulary.tolist())}
