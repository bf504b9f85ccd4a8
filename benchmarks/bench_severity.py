"""Severity benchmark: the issue's floors and scoring throughput.

1. Trains the default model through the real MLflow pipeline (``training.train_severity``) in a
   temporary TRENDML_HOME, with the shared embedding cache, on the shipped data (Davidson + ToxiGen
   seeds + ToxicSpans), with the leave-one-dataset-out table (``lodo: true``) when OLID and HatEval
   are present; beside it the ``VARIANTS`` (the previous default; the default without augmentation and
   soft threat labels) and, unless ``TRENDML_BENCH_DATA_ALL=0``, a run on every dataset (``--data all``).
2. Floors table: Davidson macro-F1 / hate-F1 vs the TF-IDF + LR baseline of the same run, ECE on the
   Davidson / ToxiGen / ToxicSpans test sets, threat AUC and recall at precision >= 0.4 with bootstrap
   intervals, ToxiGen neutral statements scored >= 2, LODO AUCs, the behavioural suite, training time.
3. Throughput: scores items with an uncached MiniLM, timing the embedder and the classifier
   separately (the classifier's share must be <= 10 % of embedding time).

Run: ``python -m benchmarks severity`` (about 20-30 minutes on a quiet 2-core machine with a warm
embedding cache; set ``TRENDML_BENCH_DATA_ALL=0`` to skip the slowest run and
``TRENDML_BENCH_VARIANTS=0`` to train the default alone).
"""

from __future__ import annotations

import math
import os
import resource
import tempfile
import time
from pathlib import Path

FLOOR_MACRO_F1 = 0.75
FLOOR_HATE_F1 = 0.47
FLOOR_ECE = 0.05
ECE_FLOOR_SETS = ("davidson", "toxigen_seeds", "toxic_spans")
FLOOR_THREAT_AUC = 0.85
FLOOR_THREAT_RECALL = 0.6
FLOOR_NEUTRAL_HATEFUL = 0.08
FLOOR_LODO = {"lodo.olid.auc_ge1": 0.80, "lodo.hateval.auc_ge2": 0.65}
FLOOR_BEHAVIOUR = 0.85
FLOOR_BEHAVIOUR_MIN = 0.60
N_THROUGHPUT = 1000
SHIPPED = ["davidson", "toxigen_seeds", "toxic_spans"]
#: the identity-mention candidate of docs/severity.md ("Second pass"; not adopted without Davidson)
CANDIDATE_ROBUST = {
    "augment": {"more_templates": True},
    "base_weights": {"augment": 3.0, "toxigen_seeds.0": 3.0},
    "threat_soft_labels": "base",
}
#: trained beside the default in the same run, as evidence (docs/severity.md): (label, datasets, overrides)
VARIANTS = [
    (
        "previous default (Davidson + ToxiGen seeds, 3 repeats, no ToxicSpans / augmentation)",
        ["davidson", "toxigen_seeds"],
        {"augment": {"templates": False, "swaps": False}, "model": {"n_repeats": 3}},
    ),
    (
        "default without augmentation and soft threat labels",
        SHIPPED,
        {"augment": {"templates": False, "swaps": False}, "threat_soft_labels": False},
    ),
    (  # docs/severity.md, "Third pass": the rule's precision holds on ToxicSpans, the suite pays
        "candidate: threat threshold chosen on ToxicSpans rows only",
        SHIPPED,
        {"threat_threshold_on": "toxic_spans"},
    ),
    (
        "candidate: + more templates, base-learner weights, soft labels for the bases only",
        SHIPPED,
        CANDIDATE_ROBUST,
    ),
]
#: set TRENDML_BENCH_DATA_ALL=0 to skip the `--data all` run (the slowest part)
DATA_ALL_ENV = "TRENDML_BENCH_DATA_ALL"
#: set TRENDML_BENCH_VARIANTS=0 to train the default only (a reduced run; the report says so)
VARIANTS_ENV = "TRENDML_BENCH_VARIANTS"


def _f(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _ok(cond: bool) -> str:
    return "yes" if cond else "**no**"


def _train(settings, datasets, embedder, run_name, config=None):  # noqa: ANN001
    from training.train import train_severity

    t0 = time.perf_counter()
    res = train_severity(settings, datasets=datasets, embedder=embedder, run_name=run_name, config=config)
    return res, time.perf_counter() - t0 - res.metrics.get("time.lodo_s", 0.0)


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


def _floor_rows(m: dict, t_default: float) -> list[str]:
    """The issue's floors for the default model (``m``: its run's metrics)."""

    def row(name: str, value: float | None, base: str, target: str, met: bool | None) -> str:
        return f"| {name} | {_f(value)} | {base} | {target} | {'-' if met is None else _ok(met)} |"

    def ci(key: str) -> str:
        lo, hi = m.get(key + "_lo"), m.get(key + "_hi")
        return "" if lo is None else f" ({_f(lo)}-{_f(hi)})"

    dav, hate = m["test.davidson.macro_f1"], m["test.davidson.hate_f1"]
    bdav, bhate = m.get("baseline.davidson.macro_f1", 0.0), m.get("baseline.davidson.hate_f1", 0.0)
    rows = [
        row("Davidson test macro-F1", dav, _f(bdav), f">= {FLOOR_MACRO_F1} and >= baseline",
            dav >= FLOOR_MACRO_F1 and dav >= bdav),
        row("Davidson test hate-class F1", hate, _f(bhate), f">= {FLOOR_HATE_F1} and >= baseline",
            hate >= FLOOR_HATE_F1 and hate >= bhate),
    ]  # fmt: skip
    for ds in ECE_FLOOR_SETS:
        v = m.get(f"test.{ds}.ece")
        rows.append(row(f"ECE, {ds} test", v, "", f"<= {FLOOR_ECE}", None if v is None else v <= FLOOR_ECE))
    if "threat.auc" in m:
        rows.append(
            f"| threat AUC of P(3), {int(m['threat.n_pos'])} ToxicSpans threat rows out of fold "
            f"(95 % bootstrap) | {_f(m['threat.auc'])}{ci('threat.auc')} | | >= {FLOOR_THREAT_AUC} "
            f"| {_ok(m['threat.auc'] >= FLOOR_THREAT_AUC)} |"
        )
        rows.append(
            f"| threat recall at precision >= 0.4 (95 % bootstrap) | {_f(m['threat.recall_at_p40'])}"
            f"{ci('threat.recall_at_p40')} | | >= {FLOOR_THREAT_RECALL} "
            f"| {_ok(m['threat.recall_at_p40'] >= FLOOR_THREAT_RECALL)} |"
        )
        if "threat.rule_recall" in m:
            rows.append(
                f"| threat rule (P(3) >= {m.get('threat.threshold', float('nan')):.3f}): recall / precision "
                f"| {_f(m['threat.rule_recall'])} / {_f(m['threat.rule_precision'])} | | report | - |"
            )
    nh = m.get("test.toxigen_seeds.neutral_scored_hateful")
    rows.append(row("ToxiGen neutral test statements scored >= 2", nh, "", f"<= {FLOOR_NEUTRAL_HATEFUL}",
                    None if nh is None else nh <= FLOOR_NEUTRAL_HATEFUL))  # fmt: skip
    for key, floor in FLOOR_LODO.items():
        v = m.get(key)
        base = m.get(key.replace("lodo.", "lodo_base.", 1))
        rows.append(row(f"leave-one-dataset-out `{key}`", v, _f(base), f">= {floor}",
                        None if v is None else v >= floor))  # fmt: skip
    if "behaviour.overall_acc" in m:
        rows.append(row("behavioural suite, overall accuracy", m["behaviour.overall_acc"], "",
                        f">= {FLOOR_BEHAVIOUR}", m["behaviour.overall_acc"] >= FLOOR_BEHAVIOUR))  # fmt: skip
        rows.append(row("behavioural suite, lowest functionality", m["behaviour.min_functionality_acc"], "",
                        f">= {FLOOR_BEHAVIOUR_MIN}", m["behaviour.min_functionality_acc"] >= FLOOR_BEHAVIOUR_MIN))  # fmt: skip
    rows.append(row("training time, shipped data, 2 cores (warm embedding cache; LODO not counted)",
                    None, "", "<= 600 s", t_default <= 600).replace("| - |", f"| {t_default:.0f} s |", 1))  # fmt: skip
    return rows


def run() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.behaviour import FUNCTIONALITIES
    from training.config import load_config
    from trendml.config import Settings
    from trendml.datasets import load_davidson
    from trendml.datasets.loaders import ALL_DATASETS
    from trendml.embed import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
    from trendml.registry import load_severity_model
    from trendml.severity.splits import assign_splits
    from trendml.text import normalise_text

    base = Settings.from_env()
    cached = CachedEmbedder(SentenceTransformerEmbedder(), EmbeddingCache(base.embedding_cache_path))
    shared_present = all((base.shared_data / d).exists() for d in ("olid", "hateval2019_en"))
    lines = ["## Severity model (`python -m benchmarks severity`)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.with_(home=Path(tmp) / "home", tracking_uri=None, registry_uri=None)
        default, t_default = _train(
            settings, SHIPPED, cached, "bench-shipped", load_config(None, lodo=shared_present)
        )
        runs = [("default (shipped: Davidson + ToxiGen seeds + ToxicSpans)", default, t_default)]
        for label, datasets, over in VARIANTS if os.environ.get(VARIANTS_ENV, "1") != "0" else []:
            res, t = _train(settings, datasets, cached, "bench-" + label[:40], load_config(None, **over))
            runs.append((label, res, t))
        if shared_present and os.environ.get(DATA_ALL_ENV, "1") != "0":
            full, t_full = _train(settings, list(ALL_DATASETS), cached, "bench-all")
            runs.append(("`--data all` (+ OLID, HatEval)", full, t_full))
        model, _, _ = load_severity_model(f"models:/trendml-severity/{default.version}", settings)

    m = default.metrics
    lines += [
        "Splits: fixed, hashed, stratified (Davidson 20 %, ToxiGen seeds 30 %), official test splits for",
        "OLID, HatEval and ToxicSpans (SemEval-2021 test); see docs/severity.md. Model (models/severity.yaml):",
        "MiniLM-embedding LR + word/char TF-IDF LR + NB-weighted TF-IDF LR, stacked and calibrated on",
        "out-of-fold log-probabilities (one 3-fold split, `model.n_repeats: 1`) with P(training dataset | embedding); threat rule",
        "P(3) >= a threshold chosen on training folds; macro-F1-tuned decision weights for levels 0-2.",
        "Baseline: word 1-2-gram TF-IDF + LR (class-weighted), trained on the same rows in the same run.",
        "",
        "### Floors (the default model: what `make run` trains on a fresh clone)",
        "",
        "| floor | measured | baseline (same run) | target | met |",
        "|---|---|---|---|---|",
        *_floor_rows(m, t_default),
        "",
        "### Runs side by side (same split, same run)",
        "",
        "| run | Davidson macro-F1 / hate-F1 | ECE Davidson / ToxiGen / ToxicSpans | threat AUC / recall@p0.4 "
        "| ToxiGen neutral >= 2 | suite overall / min | HatEval AUC (cross) | training |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, res, t in runs:
        mm = res.metrics
        lines.append(
            f"| {label} | {_f(mm.get('test.davidson.macro_f1'))} / {_f(mm.get('test.davidson.hate_f1'))} "
            f"| {_f(mm.get('test.davidson.ece'))} / {_f(mm.get('test.toxigen_seeds.ece'))} / "
            f"{_f(mm.get('test.toxic_spans.ece'))} "
            f"| {_f(mm.get('threat.auc'))} / {_f(mm.get('threat.recall_at_p40'))} "
            f"| {_f(mm.get('test.toxigen_seeds.neutral_scored_hateful'))} "
            f"| {_f(mm.get('behaviour.overall_acc'))} / {_f(mm.get('behaviour.min_functionality_acc'))} "
            f"| {_f(mm.get('crossdataset.hateval.hate_auc'))} | {t:.0f} s |"
        )
    lines += [
        "",
        "### Behavioural suite (training/behaviour.py): accuracy per functionality",
        "",
        "Harmful functionalities expect severity >= 2, the others <= 1; `level3` = share of threat cases",
        "scored exactly 3.",
        "",
        "| functionality | " + " | ".join(label for label, _, _ in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for f in FUNCTIONALITIES:
        lines.append(
            f"| {f} | " + " | ".join(_f(r.metrics.get(f"behaviour.{f}.acc")) for _, r, _ in runs) + " |"
        )
        if f.startswith("threat_"):
            lines.append(
                f"| {f} (level3) | "
                + " | ".join(_f(r.metrics.get(f"behaviour.{f}.level3")) for _, r, _ in runs)
                + " |"
            )
    if any(k.startswith("lodo.") for k in m):
        lines += [
            "",
            "### Leave one dataset out (training/lodo.py)",
            "",
            "Train on every other dataset's training split, test on X's test split. Recipe for these folds",
            "(much cheaper than the default, frozen cached embeddings): the class-weighted embedding LR alone,",
            "fitted once (no out-of-fold calibration, decision weights or source gate). In-domain = the same",
            "recipe trained on every dataset, X included. Baseline = word TF-IDF + LR on the LODO rows.",
            "",
            "| held out X | rows | AUC sev>=1 | AUC sev>=2 | AUC sev=3 | macro-F1 | in-domain AUC>=1 / >=2 "
            "| baseline AUC>=1 / >=2 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for x in ("olid", "hateval", "toxic_spans", "toxigen_seeds"):
            if f"lodo.{x}.n" not in m:
                continue
            lines.append(
                f"| {x} | {int(m[f'lodo.{x}.n'])} | {_f(m.get(f'lodo.{x}.auc_ge1'))} "
                f"| {_f(m.get(f'lodo.{x}.auc_ge2'))} | {_f(m.get(f'lodo.{x}.auc_3'))} "
                f"| {_f(m.get(f'lodo.{x}.macro_f1'))} "
                f"| {_f(m.get(f'lodo_in.{x}.auc_ge1'))} / {_f(m.get(f'lodo_in.{x}.auc_ge2'))} "
                f"| {_f(m.get(f'lodo_base.{x}.auc_ge1'))} / {_f(m.get(f'lodo_base.{x}.auc_ge2'))} |"
            )
        lines.append(f"\nLODO took {m.get('time.lodo_s', 0):.0f} s (5 fits on cached embeddings).")
    lines += [
        "",
        "### Per test set (ECE floor <= 0.05 on Davidson, ToxiGen, ToxicSpans)",
        "",
        "| run | test set | rows | macro-F1 | hate-F1 | macro AUC | ECE | baseline macro-F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, res, _ in runs:
        mm = res.metrics
        for key in sorted(k for k in mm if k.endswith(".ece") and k.startswith(("test.", "crossdataset."))):
            prefix = key.removesuffix(".ece")
            kind, ds = prefix.split(".", 1)
            base_key = ("baseline." if kind == "test" else "baseline_crossdataset.") + ds + ".macro_f1"
            lines.append(
                f"| {label} | {ds}{' (cross-dataset)' if kind == 'crossdataset' else ''} "
                f"| {int(mm[prefix + '.n'])} "
                f"| {_f(mm[prefix + '.macro_f1'])} | {_f(mm[prefix + '.hate_f1'])} "
                f"| {_f(mm.get(prefix + '.macro_auc'))} | {_f(mm[key])} | {_f(mm.get(base_key))} |"
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

    # -- throughput -------------------------------------------------------------------------------
    dav = load_davidson()
    dav["text"] = dav["text"].map(normalise_text)
    test = dav[assign_splits(dav).values == "test"]
    texts = test["text"].tolist()[:N_THROUGHPUT]
    t_embed, t_clf, _ = _throughput(model, texts)
    n = len(texts)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += [
        "",
        f"### Scoring throughput ({n} Davidson test tweets, uncached MiniLM, {os.cpu_count()} cores)",
        "",
        "| stage | seconds | items/s | share of embedding time |",
        "|---|---|---|---|",
        f"| MiniLM embedding | {t_embed:.2f} | {n / t_embed:.0f} | 100 % |",
        f"| severity classifier, default (TF-IDF once, 3 bases, source gate, stacker, threat rule) "
        f"| {t_clf:.3f} | {n / t_clf:.0f} | "
        f"{100 * t_clf / t_embed:.1f} % (floor <= 10 %: {_ok(t_clf <= 0.1 * t_embed)}) |",
        f"| end to end | {t_embed + t_clf:.2f} | {n / (t_embed + t_clf):.0f} | |",
        "",
        f"Peak RSS of the benchmark process: {rss_mb:.0f} MiB.",
    ]
    return "\n".join(lines) + "\n"
