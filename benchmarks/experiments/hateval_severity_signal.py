"""Experiment record (docs/trends.md, "Tried next"): can a severity model that knows the aggressive
class make the HatEval scenario detectable? Not part of ``make bench``; about 40 minutes on 2 cores.

    python -m benchmarks.experiments.hateval_severity_signal --mode optimistic --lam 1
    python -m benchmarks.experiments.hateval_severity_signal --mode strict --lam 1

1. Cross-fits class-balanced multinomial LR severity probabilities (word 1-2 + char 2-5 TF-IDF + MiniLM
   embedding; severity 3 = HatEval AG=1) for every text of the four datasets, 5 folds by row;
   ``strict`` leaves every HS=1, TR=1, AG=1 text out of training.
2. Prints the AUC of P(sev 3) (campaign vs background) and the campaign share of the top-k.
3. Runs the detector on the HatEval scenario with ``lam * probs`` appended to each vector.
Prints ids and numbers only, never texts.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import scipy.sparse as sp


def cross_fitted_probs(strict: bool, folds: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    from benchmarks.bench_trends import make_cached_embedder
    from trendml.config import Settings
    from trendml.datasets import load_davidson, load_hateval, load_olid, load_toxigen_seeds
    from trendml.severity.features import make_vectorizers
    from trendml.text import normalise_text

    shared = Settings.from_env().shared_data
    hat = load_hateval(shared)
    camp = (hat["HS"] == 1) & (hat["TR"] == 1) & (hat["AG"] == 1)
    frames = [load_davidson(), load_olid(shared), hat.assign(camp=camp.to_numpy()), load_toxigen_seeds()]
    meta = pd.concat([f.assign(camp=f.get("camp", False)) for f in frames], ignore_index=True)
    texts = np.array([normalise_text(t) for t in meta["text"]], dtype=object)
    x = make_cached_embedder().encode(list(texts))
    y = meta["severity"].to_numpy()
    is_camp = meta["camp"].to_numpy(dtype=bool)
    fold = np.random.default_rng(0).integers(0, folds, len(y))
    probs = np.zeros((len(y), 4))
    for f in range(folds):
        train = (fold != f) & ~(is_camp if strict else False)
        test = fold == f
        vecs = make_vectorizers()
        a = sp.hstack([v.fit_transform(texts[train]) for v in vecs] + [sp.csr_matrix(x[train])]).tocsr()
        b = sp.hstack([v.transform(texts[test]) for v in vecs] + [sp.csr_matrix(x[test])]).tocsr()
        lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=300).fit(a, y[train])
        probs[test] = lr.predict_proba(b)
        print(f"fold {f} done", flush=True)
    return meta, probs


def separation(meta: pd.DataFrame, probs: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score

    camp = meta["camp"].to_numpy(dtype=bool)
    print(f"AUC P(sev 3), campaign vs background: {roc_auc_score(camp, probs[:, 3]):.3f}")
    bg, ca = np.where(~camp)[0], np.where(camp)[0]
    for k in (20, 40, 80):
        shares = []
        for s in range(20):
            rng = np.random.default_rng(s)
            idx = np.r_[rng.choice(bg, 500, replace=False), rng.choice(ca, k, replace=False)]
            top = np.argsort(-probs[idx, 3])[:k]
            shares.append(float(np.isin(idx[top], ca).mean()))
        print(f"campaign share of the top-{k} in 500 + {k}: {np.mean(shares):.3f}")


def detect_augmented(meta: pd.DataFrame, probs: np.ndarray, lam: float) -> None:
    from benchmarks.bench_trends import build_stream, load_scenarios, make_cached_embedder, run_detector
    from trendml.embed.base import embed_items

    pos = {i: k for k, i in enumerate(meta["id"])}
    emb = make_cached_embedder()
    sc = next(s for s in load_scenarios(("retired",)) if s.name == "hateval:aggressive-individual")
    for seed in range(5):
        stream = build_stream(sc, seed)
        x = embed_items(stream.items, emb)
        p = probs[[pos[stream.source_ids[it.id]] for it in stream.items]]
        s, _ = run_detector(stream, np.hstack([x, lam * p]).astype(np.float32))
        print(f"seed {seed}: detected={s.detected} delay={s.delay} purity={s.purity} coverage={s.coverage}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("strict", "optimistic"), default="strict")
    ap.add_argument("--lam", type=float, default=1.0)
    args = ap.parse_args()
    meta, probs = cross_fitted_probs(strict=args.mode == "strict")
    separation(meta, probs)
    detect_augmented(meta, probs, args.lam)


if __name__ == "__main__":
    main()
