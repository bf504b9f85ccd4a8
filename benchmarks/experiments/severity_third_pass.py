"""Scratch A/B driver behind docs/severity.md, "Third pass (2026-12-01)".

Mirrors ``training.train.train_severity``'s data preparation (shipped Davidson + ToxiGen seeds +
ToxicSpans, the default split, augmentation, soft threat labels) and fits the real
``SeverityModel`` once per variant (config overrides merged over ``models/severity.yaml``) on the same
rows and cached embeddings, then scores what the issue-11 floors read: Davidson / ToxiGen / ToxicSpans
test metrics, ``threat.*`` (training rows out of fold, test rows by the model, bootstrap intervals), the
threat rule on the ToxicSpans *test* rows alone, ToxiGen neutral statements scored >= 2 and the
behavioural suite. No MLflow run, no registration, no TF-IDF baseline (the default is the baseline).

    python -m benchmarks.experiments.severity_third_pass OUT_DIR VARIANT [VARIANT ...]

writes ``OUT_DIR/<variant>.json`` (metrics, CPU seconds of the fit); ``--table OUT_DIR`` prints the
markdown table of every JSON there. Texts are never printed.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: variant -> config overrides (merged over models/severity.yaml)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # threat: the head fitted without Davidson rows, the threshold on ToxicSpans rows only
    "head_nodav": {"model": {"threat_head": True}, "threat_head_weights": {"davidson": 0.0}},
    "head_nodav_tsthr": {
        "model": {"threat_head": True},
        # measured at e4823ae, where the threshold rows were the source's, soft twins weighted by share
        "threat_threshold_on": "toxic_spans",
        "threat_head_weights": {"davidson": 0.0},
    },
    "head_nodav_tsthr_p40": {
        "model": {"threat_head": True, "threat_min_precision": 0.4},
        "threat_threshold_on": "toxic_spans",
        "threat_head_weights": {"davidson": 0.0},
    },
    "tsthr": {"threat_threshold_on": "toxic_spans"},
    "tsthr_p40": {"threat_threshold_on": "toxic_spans", "model": {"threat_min_precision": 0.4}},
    # identity mentions: ToxiGen's neutral statements up-weighted for the bases; a non-linear head
    "tgneutral3": {"base_weights": {"toxigen_seeds.0": 3.0}},
    # measured at e4823ae (a one-hidden-layer MLP base on the embedding, 64 units, 30 epochs); not
    # adopted, so its code was removed afterwards: this variant no longer runs
    "mlp": {"model": {"mlp_head": True}},
    "more_templates": {"augment": {"more_templates": True}},
}


def _cfg(name: str) -> dict[str, Any]:
    from training.config import load_config, validate_config

    over = VARIANTS[name]
    cfg = load_config(None)
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return validate_config(cfg)


def _data(cfg: dict[str, Any]):  # noqa: ANN202
    from training.data import load_training_data, with_augmentation, with_soft_threat_labels
    from trendml.config import Settings

    settings = Settings.from_env()
    data = load_training_data(
        settings,
        cfg["datasets"],
        explicit=False,
        seed=int(cfg["split"]["seed"]),
        test_fraction=dict(cfg["split"]["test_fraction"]),
    )
    aug = cfg.get("augment") or {}
    data = with_augmentation(
        data,
        templates=bool(aug.get("templates")),
        swaps=bool(aug.get("swaps")),
        more_templates=bool(aug.get("more_templates")),
    )
    if cfg.get("threat_soft_labels") and "toxic_spans" in data.datasets:
        data = with_soft_threat_labels(data)
    return settings, data


def _test_rule(model, data, embed, t=None, prefix="threat_test") -> dict[str, float]:  # noqa: ANN001
    """The threat rule on the ToxicSpans test rows only (never seen by the threshold choice)."""
    test = data.frame[(data.frame["dataset"] == "toxic_spans") & (data.frame["split"] == "test")]
    t = model.fitted_.threat_threshold if t is None else t
    if t is None or test.empty:
        return {}
    p3 = model.predict_proba(test["text"].tolist(), embed(test["text"].tolist()))[:, 3]
    y3 = (test["severity"] == 3).to_numpy()
    flagged = p3 >= t
    return {
        f"{prefix}.rule_recall": float(flagged[y3].mean()),
        f"{prefix}.rule_precision": float(y3[flagged].mean()) if flagged.any() else float("nan"),
        f"{prefix}.n_pos": float(y3.sum()),
    }


def run(out_dir: Path, name: str) -> dict[str, float]:
    from training.data import fit_weights, threat_head_weights, threat_threshold_rows, training_sources
    from training.evaluate import evaluate_model
    from training.train import _behaviour_eval, _threat_eval
    from trendml.embed import embedder_from_settings
    from trendml.embed.base import embedder_id
    from trendml.severity.estimator import SeverityModel, threat_threshold_for

    cfg = _cfg(name)
    settings, data = _data(cfg)
    emb_model = embedder_from_settings(settings)
    frame = data.frame
    vectors = emb_model.encode(frame["text"].tolist())
    lookup = dict(zip(frame["text"].tolist(), vectors, strict=True))

    def embed(texts):  # noqa: ANN001, ANN202
        return (
            np.stack([lookup[t] for t in texts])
            if len(texts)
            else np.zeros((0, vectors.shape[1]), np.float32)
        )

    train = data.train
    weights, base_w = fit_weights(train, cfg)
    model = SeverityModel(embedder_id=embedder_id(emb_model), **cfg["model"])
    c0 = time.process_time()
    model.fit(
        train["text"].tolist(),
        embed(train["text"].tolist()),
        train["severity"].to_numpy(),
        sample_weight=weights,
        groups=pd.factorize(train["text"])[0],
        sources=training_sources(train),
        base_weight=base_w,
        threat_weight=threat_head_weights(train, cfg, weights, base_w),
        threat_rows=threat_threshold_rows(train, cfg),
    )
    fit_cpu = time.process_time() - c0
    metrics, _ = evaluate_model(model, data.test_sets(), embed)
    metrics.update(_threat_eval(model, data, embed))
    metrics["threat.threshold"] = float(model.fitted_.threat_threshold or float("nan"))
    metrics.update(_test_rule(model, data, embed))
    # post hoc, same fit: the threshold the ToxicSpans training rows alone would choose (precision 0.5)
    ts = (train["dataset"] == "toxic_spans").to_numpy()
    oof = model.oof_proba_
    t_ts = threat_threshold_for(train["severity"].to_numpy()[ts] == 3, oof[ts, 3], 0.5)
    metrics["posthoc.ts_threshold"] = float(t_ts) if t_ts is not None else float("nan")
    if t_ts is not None:
        metrics.update(_test_rule(model, data, embed, t_ts, "posthoc_test"))
    te = data.frame[(data.frame["dataset"] == "toxic_spans") & (data.frame["split"] == "test")]
    np.savez(  # P(3) of the ToxicSpans rows (training rows out of fold), for thresholds chosen after the fact
        out_dir / f"{name}.npz",
        oof_p3=oof[ts, 3],
        oof_y=train["severity"].to_numpy()[ts],
        test_p3=model.predict_proba(te["text"].tolist(), embed(te["text"].tolist()))[:, 3],
        test_y=te["severity"].to_numpy(),
    )
    c1 = time.process_time()
    metrics.update(_behaviour_eval(model, emb_model, lookup, embed))
    metrics["time.fit_cpu_s"] = fit_cpu
    metrics["time.behaviour_cpu_s"] = time.process_time() - c1
    metrics["n_train"] = float(len(train))
    metrics["load_avg_1m"] = float(__import__("os").getloadavg()[0])
    metrics["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (out_dir / f"{name}.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    return metrics


ROWS = [
    ("Davidson macro-F1 / hate-F1", ["test.davidson.macro_f1", "test.davidson.hate_f1"]),
    (
        "ECE Davidson / ToxiGen / ToxicSpans",
        ["test.davidson.ece", "test.toxigen_seeds.ece", "test.toxic_spans.ece"],
    ),
    ("ToxiGen neutral scored >= 2", ["test.toxigen_seeds.neutral_scored_hateful"]),
    ("threat AUC (95 %)", ["threat.auc", "threat.auc_lo", "threat.auc_hi"]),
    (
        "threat recall at p >= 0.4 (95 %)",
        ["threat.recall_at_p40", "threat.recall_at_p40_lo", "threat.recall_at_p40_hi"],
    ),
    ("threat threshold", ["threat.threshold"]),
    ("rule recall / precision, all ToxicSpans rows", ["threat.rule_recall", "threat.rule_precision"]),
    (
        "rule recall / precision, ToxicSpans test rows",
        ["threat_test.rule_recall", "threat_test.rule_precision"],
    ),
    (
        "post hoc: ToxicSpans-only threshold; its test recall / precision",
        ["posthoc.ts_threshold", "posthoc_test.rule_recall", "posthoc_test.rule_precision"],
    ),
    ("suite overall / lowest", ["behaviour.overall_acc", "behaviour.min_functionality_acc"]),
    (
        "suite: negated / positive / neutral / counter / reported / reclaimed",
        [
            "behaviour.negated_hate.acc",
            "behaviour.positive.acc",
            "behaviour.neutral.acc",
            "behaviour.counter_speech.acc",
            "behaviour.reported_speech.acc",
            "behaviour.reclaimed_slur.acc",
        ],
    ),
    (
        "suite: threat explicit / implied / person; derogation / dehum. / slurs / obfuscated",
        [
            "behaviour.threat_explicit.acc",
            "behaviour.threat_implied.acc",
            "behaviour.threat_individual.acc",
            "behaviour.derogation.acc",
            "behaviour.dehumanisation.acc",
            "behaviour.slur.acc",
            "behaviour.obfuscated.acc",
        ],
    ),
    ("fit CPU s", ["time.fit_cpu_s"]),
]


def table(out_dir: Path) -> str:
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))}
    order = [v for v in VARIANTS if v in runs]
    lines = ["| | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
    for label, keys in ROWS:
        cells = []
        for v in order:
            vals = [runs[v].get(k) for k in keys]
            if "(95 %)" in label and None not in vals:
                cells.append(f"{vals[0]:.3f} ({vals[1]:.3f}-{vals[2]:.3f})")
            else:
                cells.append(" / ".join("-" if x is None else f"{x:.3f}" for x in vals))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[0] == "--table":
        print(table(Path(argv[1])))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        m = run(out, name)
        logging.info("%s done: fit %.0f s CPU", name, m["time.fit_cpu_s"])


if __name__ == "__main__":
    main(sys.argv[1:])
