"""Severity benchmark: the issue's floors and scoring throughput.

1. Trains the default model twice through the real MLflow pipeline (``training.train_severity``) in a
   temporary TRENDML_HOME, with the shared embedding cache: on the shipped data (Davidson + ToxiGen
   seeds; HatEval/OLID then serve as cross-dataset tests) and on every dataset present; plus the
   ``VARIANTS`` (the two-base ``stack`` and the previous default) on the shipped data, as evidence.
2. Floors table: Davidson macro-F1 / hate-F1 vs the TF-IDF + LR baseline of the same run, ECE per test
   set, HatEval AUC when trained without HatEval, subgroup AUCs, training time.
3. Throughput: scores items with an uncached MiniLM, timing the embedder and the classifier
   separately (the classifier's share must be <= 10 % of embedding time).

Run: ``python -m benchmarks severity`` (about 10-15 minutes on 2 cores with a warm embedding cache).
"""

from __future__ import annotations

import math
import os
import resource
import tempfile
import time
from pathlib import Path

FLOOR_MACRO_F1 = 0.77
FLOOR_HATE_F1 = 0.47
FLOOR_ECE = 0.05
N_THROUGHPUT = 1000
#: trained on the shipped data beside the default, as evidence (docs/severity.md)
VARIANTS = [
    ("alternative `stack` (no NB base)", {"features": "stack"}),
    (
        "previous default (`stack`, one split, no source input)",
        {"features": "stack", "source_aware": False, "n_repeats": 1},
    ),
]


def _f(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _ok(cond: bool) -> str:
    return "yes" if cond else "**no**"


def _train(settings, datasets, embedder, run_name, config=None):  # noqa: ANN001
    from training.train import train_severity

    t0 = time.perf_counter()
    res = train_severity(settings, datasets=datasets, embedder=embedder, run_name=run_name, config=config)
    return res, time.perf_counter() - t0


def _classifier_time(model, texts, vectors):  # noqa: ANN001
    model.predict_proba(texts[:16], vectors[:16])
    t0 = time.perf_counter()
    proba = model.predict_proba(texts, vectors)
    model.decide(proba)
    return time.perf_counter() - t0


def _throughput(model, texts):  # noqa: ANN001
    from trendml.embed import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.encode(texts[:16])  # load + warm up
    t0 = time.perf_counter()
    vectors = emb.encode(texts)
    t_embed = time.perf_counter() - t0
    return t_embed, _classifier_time(model, texts, vectors), vectors


def run() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.config import load_config
    from training.registry import load_severity_model
    from trendml.config import Settings
    from trendml.datasets import load_davidson
    from trendml.datasets.loaders import SHARED
    from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
    from trendml.severity.splits import assign_splits
    from trendml.text import normalise_text

    base = Settings.from_env()
    cached = CachedEmbedder(SentenceTransformerEmbedder(), EmbeddingCache(base.embedding_cache_path))
    shared_present = all((base.shared_data / d).exists() for d in ("olid", "hateval2019_en"))
    lines = ["## Severity model (`python -m benchmarks severity`)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.with_(home=Path(tmp) / "home", tracking_uri=None, registry_uri=None)
        shipped, t_shipped = _train(settings, ["davidson", "toxigen_seeds"], cached, "bench-shipped")
        runs = [("shipped (Davidson + ToxiGen seeds)", shipped, t_shipped)]
        if shared_present:
            full, t_full = _train(settings, ["davidson", "toxigen_seeds", *SHARED], cached, "bench-all")
            runs.append(("all datasets (+ OLID, HatEval)", full, t_full))
        variants = []
        for label, over in VARIANTS:
            cfg = load_config(None, model=over)
            run_name = "bench-" + "-".join(f"{k}={v}" for k, v in over.items())
            res, t = _train(settings, ["davidson", "toxigen_seeds"], cached, run_name, cfg)
            runs.append((label, res, t))
            variant_model, _, _ = load_severity_model(f"models:/trendml-severity/{res.version}", settings)
            variants.append((label, res, t, variant_model))
        model, _, _ = load_severity_model(f"models:/trendml-severity/{shipped.version}", settings)

    m = shipped.metrics
    lines += [
        "Splits: fixed, hashed, stratified (Davidson 20 %, ToxiGen seeds 30 %), official test splits for",
        "OLID and HatEval; see docs/severity.md. Model (models/severity.yaml): MiniLM-embedding LR + word/char",
        "TF-IDF LR + NB-weighted TF-IDF LR, stacked and calibrated on out-of-fold log-probabilities from 3",
        "fold splits together with P(training dataset | embedding), macro-F1-tuned decision weights.",
        "Baseline: word 1-2-gram TF-IDF + LR",
        "(class-weighted), trained on the same rows in the same run.",
        "",
        "### Floors (model trained on the shipped data)",
        "",
        "| floor | measured | baseline (same run) | target | met |",
        "|---|---|---|---|---|",
        f"| Davidson test macro-F1 | {_f(m['test.davidson.macro_f1'])} "
        f"| {_f(m.get('baseline.davidson.macro_f1'))} "
        f"| >= {FLOOR_MACRO_F1} | {_ok(m['test.davidson.macro_f1'] >= FLOOR_MACRO_F1)} |",
        f"| Davidson test hate-class F1 | {_f(m['test.davidson.hate_f1'])} "
        f"| {_f(m.get('baseline.davidson.hate_f1'))} "
        f"| >= {FLOOR_HATE_F1} | {_ok(m['test.davidson.hate_f1'] >= FLOOR_HATE_F1)} |",
    ]
    if "crossdataset.hateval.hate_auc" in m:
        lines.append(
            f"| HatEval test AUC (hateful = sev >= 2), trained without HatEval | "
            f"{_f(m['crossdataset.hateval.hate_auc'])} "
            f"| {_f(m.get('baseline_crossdataset.hateval.hate_auc'))} "
            "| report | - |"
        )
    lines.append(
        f"| training time, shipped data, 2 cores (warm embedding cache) | {t_shipped:.0f} s | | <= 600 s "
        f"| {_ok(t_shipped <= 600)} |"
    )
    lines += ["", "Variants on the same data and split (config overrides of models/severity.yaml):", ""]
    for label, res, t, _ in variants:
        mv = res.metrics
        ece_ok = all(v <= FLOOR_ECE for k, v in mv.items() if k.startswith("test.") and k.endswith(".ece"))
        lines.append(
            f"- {label}: Davidson macro-F1 {_f(mv['test.davidson.macro_f1'])}, hate-F1 "
            f"{_f(mv['test.davidson.hate_f1'])}, ECE Davidson {_f(mv['test.davidson.ece'])} / ToxiGen "
            f"{_f(mv.get('test.toxigen_seeds.ece'))} (ECE floor met on every test set: {_ok(ece_ok)}), "
            f"training {t:.0f} s ({t / t_shipped:.2f}x the default)."
        )
    lines += [
        "",
        "### Per test set (ECE floor <= 0.05)",
        "",
        "| run | test set | rows | macro-F1 | hate-F1 | macro AUC | ECE | ECE met | baseline macro-F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, res, _ in runs:
        mm = res.metrics
        for key in sorted(k for k in mm if k.endswith(".ece") and k.startswith(("test.", "crossdataset."))):
            prefix = key.removesuffix(".ece")
            kind, ds = prefix.split(".", 1)
            base_key = ("baseline." if kind == "test" else "baseline_crossdataset.") + ds + ".macro_f1"
            met = _ok(mm[key] <= FLOOR_ECE) if kind == "test" else "(cross)"
            lines.append(
                f"| {label} | {ds}{' (cross-dataset)' if kind == 'crossdataset' else ''} "
                f"| {int(mm[prefix + '.n'])} "
                f"| {_f(mm[prefix + '.macro_f1'])} | {_f(mm[prefix + '.hate_f1'])} "
                f"| {_f(mm.get(prefix + '.macro_auc'))} "
                f"| {_f(mm[key])} | {met} | {_f(mm.get(base_key))} |"
            )
    lines += [
        "",
        "### Subgroup AUC over ToxiGen target groups (bias check)",
        "",
        "| group | " + " | ".join(label for label, _, _ in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    groups = sorted({k for _, r, _ in runs for k in r.metrics if k.startswith("subgroup_auc.")})
    for g in groups:
        lines.append(
            f"| {g.removeprefix('subgroup_auc.')} | "
            + " | ".join(_f(r.metrics.get(g)) for _, r, _ in runs)
            + " |"
        )
    nh = [r.metrics.get("test.toxigen_seeds.neutral_scored_hateful") for _, r, _ in runs]
    lines.append("| *neutral ToxiGen statements scored >= 2* | " + " | ".join(_f(v) for v in nh) + " |")

    # -- throughput -------------------------------------------------------------------------------
    dav = load_davidson()
    dav["text"] = dav["text"].map(normalise_text)
    test = dav[assign_splits(dav).values == "test"]
    texts = test["text"].tolist()[:N_THROUGHPUT]
    t_embed, t_clf, vectors = _throughput(model, texts)
    t_variants = [(label, _classifier_time(vm, texts, vectors)) for label, _, _, vm in variants]
    n = len(texts)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += [
        "",
        f"### Scoring throughput ({n} Davidson test tweets, uncached MiniLM, {os.cpu_count()} cores)",
        "",
        "| stage | seconds | items/s | share of embedding time |",
        "|---|---|---|---|",
        f"| MiniLM embedding | {t_embed:.2f} | {n / t_embed:.0f} | 100 % |",
        f"| severity classifier, default (TF-IDF once, 3 bases, source gate, stacker) | {t_clf:.3f} "
        f"| {n / t_clf:.0f} | "
        f"{100 * t_clf / t_embed:.1f} % (floor <= 10 %: {_ok(t_clf <= 0.1 * t_embed)}) |",
        f"| end to end | {t_embed + t_clf:.2f} | {n / (t_embed + t_clf):.0f} | |",
        *(
            f"| classifier, {label} | {tv:.3f} | {n / tv:.0f} | {100 * tv / t_embed:.1f} % |"
            for label, tv in t_variants
        ),
        "",
        f"Peak RSS of the benchmark process: {rss_mb:.0f} MiB. Cross-dataset AUC of the all-datasets run",
        "is not",
        "reported because HatEval is in its training data.",
    ]
    return "\n".join(lines) + "\n"
