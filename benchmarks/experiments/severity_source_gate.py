"""Offline harness behind the 2026-11-26 severity default (docs/severity.md, "Source-aware calibration").

Computes each base learner's out-of-fold (OOF) probabilities on the default training rows once per fold
seed (0, 1, 2), plus full-fit test probabilities, then compares stackers on them:

- *nested OOF macro-F1*: stacker and decision weights fitted on two folds' OOF rows, scored on the third
  (the selection criterion), and the nested ECE on the ToxiGen training rows (must be <= 0.05);
- Davidson test macro-F1 / hate-F1 and ToxiGen test ECE, reported, not used to choose.

Bases: ``emb`` (embedding LR), ``tfidf`` (word+char TF-IDF LR), ``nb`` (NB-weighted TF-IDF LR) and
``gate`` (class-balanced LR on the embedding predicting the training dataset). Run from the repo root::

    python -m benchmarks.experiments.severity_source_gate     # about 5 minutes on 2 cores, warm cache

Texts are never printed.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

SEEDS = (0, 1, 2)
VARIANTS = {
    "stack (previous default)": ["emb", "tfidf"],
    "stack + gate": ["emb", "tfidf", "gate"],
    "stack_nb": ["emb", "tfidf", "nb"],
    "stack_nb + gate (default)": ["emb", "tfidf", "nb", "gate"],
}


def _data():
    from training.config import load_config
    from training.data import annotator_weights, load_training_data
    from trendml.config import Settings
    from trendml.embed import embedder_from_settings

    settings = Settings.from_env()
    cfg = load_config(None)
    data = load_training_data(
        settings,
        cfg["datasets"],
        explicit=False,
        seed=cfg["split"]["seed"],
        test_fraction=cfg["split"]["test_fraction"],
    )
    train = data.train.reset_index(drop=True)
    test = data.frame[data.frame["split"] == "test"].reset_index(drop=True)
    weights = annotator_weights(train)
    embedder = embedder_from_settings(settings)
    return (
        train,
        test,
        weights,
        embedder.encode(train["text"].tolist()),
        embedder.encode(test["text"].tolist()),
    )


def _fit_predict(kind, tr, train, weights, emb_tr, texts_out, emb_out):  # noqa: ANN001
    from trendml.severity.features import make_vectorizers, stack_features
    from trendml.severity.nb import NBLogisticRegression

    y = train["severity"].to_numpy()
    if kind == "gate":
        src = train["dataset"].to_numpy()
        clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0)
        return clf.fit(emb_tr[tr], src[tr]).predict_proba(emb_out)
    if kind == "emb":
        clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0)
        return clf.fit(emb_tr[tr], y[tr], sample_weight=weights[tr]).predict_proba(emb_out)
    vecs = make_vectorizers()
    X = stack_features(train["text"].iloc[tr].tolist(), None, vecs, fit=True)
    model = (
        LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0)
        if kind == "tfidf"
        else NBLogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0)
    )
    model.fit(X, y[tr], sample_weight=weights[tr])
    return model.predict_proba(stack_features(texts_out, None, vecs))


def _bases(train, test, weights, emb_tr, emb_te):  # noqa: ANN001
    """{kind: (oof per seed, folds per seed, test probabilities)}"""
    y = train["severity"].to_numpy()
    groups = pd.factorize(train["text"])[0]
    n = len(y)
    out = {}
    for kind in ("emb", "tfidf", "nb", "gate"):
        oofs, folds = [], []
        for seed in SEEDS:
            width = 2 if kind == "gate" else 3
            oof, fold = np.zeros((n, width)), np.zeros(n, int)
            split = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
            for k, (tr, va) in enumerate(split.split(np.zeros(n), y, groups)):
                oof[va] = _fit_predict(
                    kind, tr, train, weights, emb_tr, train["text"].iloc[va].tolist(), emb_tr[va]
                )
                fold[va] = k
            oofs.append(oof)
            folds.append(fold)
        te = _fit_predict(kind, np.arange(n), train, weights, emb_tr, test["text"].tolist(), emb_te)
        out[kind] = (oofs, folds, te)
    return out


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from trendml.severity import metrics as M
    from trendml.severity.estimator import _log, tune_decision_weights

    train, test, w, emb_tr, emb_te = _data()
    y, yt = train["severity"].to_numpy(), test["severity"].to_numpy()
    tox = (train["dataset"] == "toxigen_seeds").to_numpy()
    bases = _bases(train, test, w, emb_tr, emb_te)

    def stacker(X, yy, ww):  # noqa: ANN001, ANN202
        return LogisticRegression(C=100.0, max_iter=2000).fit(X, yy, sample_weight=ww)

    def ece(yy, p):  # noqa: ANN001, ANN202
        return M.expected_calibration_error(yy, np.pad(p, ((0, 0), (0, 1))))

    print(
        "| variant | seed | nested OOF macro-F1 | nested ToxiGen ECE | Davidson test F1 / hate-F1 | ToxiGen test ECE |"
    )
    print("|---|---|---|---|---|---|")
    for name, kinds in VARIANTS.items():
        for s, seed in enumerate(SEEDS):
            X = np.hstack([_log(bases[k][0][s]) for k in kinds])
            Xt = np.hstack([_log(bases[k][2]) for k in kinds])
            fold = bases["emb"][1][s]
            nested_p, nested_pred = np.zeros((len(y), 3)), np.zeros(len(y), int)
            for k in range(3):
                tr, va = fold != k, fold == k
                m = stacker(X[tr], y[tr], w[tr])
                dw = tune_decision_weights(y[tr], m.predict_proba(X[tr]))
                nested_p[va] = m.predict_proba(X[va])
                nested_pred[va] = np.argmax(nested_p[va] * dw, axis=1)
            m = stacker(X, y, w)
            dw = tune_decision_weights(y, m.predict_proba(X))
            pt = m.predict_proba(Xt)
            dav = (test["dataset"] == "davidson").to_numpy()
            tt = (test["dataset"] == "toxigen_seeds").to_numpy()
            pred = np.argmax(pt * dw, axis=1)
            print(
                f"| {name} | {seed} | {M.macro_f1(y, nested_pred):.3f} | {ece(y[tox], nested_p[tox]):.3f} "
                f"| {M.macro_f1(yt[dav], pred[dav]):.3f} / {M.hate_f1(yt[dav], pred[dav]):.3f} "
                f"| {ece(yt[tt], pt[tt]):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
