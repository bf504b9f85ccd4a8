"""``train_severity``: one MLflow run that loads and splits the data, embeds it (cached), fits the
severity model and the TF-IDF baseline, evaluates both on every test set, logs params, data hashes,
metrics, the confusion-matrix figure and the model card, logs the model (pyfunc, signature, input
example, explicit pip requirements) and registers it. The first registered version becomes the
champion; later versions become champion only through ``promote``."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.config import flatten, load_config, validate_config
from training.data import (
    TrainingData,
    fit_weights,
    load_training_data,
    threat_head_weights,
    threat_threshold_rows,
    training_sources,
    with_augmentation,
    with_soft_threat_labels,
)
from training.evaluate import (
    THREAT_DATASET,
    confusion_figure,
    evaluate_baseline,
    evaluate_model,
    fit_baseline,
    threat_metrics,
)
from training.feedback import FeedbackSnapshot, feedback_metrics, read_feedback
from training.runs import end_status, register_last, training_run
from training.tracking import connect, ensure_experiment, mlflow_store
from trendml.config import Settings
from trendml.embed.base import Embedder, embedder_id
from trendml.policy import load_policy
from trendml.severity.estimator import SeverityModel

logger = logging.getLogger(__name__)

CARD_TEMPLATE = Path(__file__).resolve().parents[1] / "models" / "severity_card.md"
#: A subgroup AUC over fewer rows than this is marked "not reliable" on the model card.
MIN_RELIABLE_N = 30


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    model_name: str
    version: str | None
    champion: bool
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def default_embedder(settings: Settings) -> Embedder:
    """The configured embedder (the packaged MiniLM by default) behind the content-hash cache under
    ``TRENDML_HOME`` — the same one the CLI and the service build, so models match what serves them."""
    from trendml.embed import embedder_from_settings

    return embedder_from_settings(settings)


def render_card(
    cfg: dict[str, Any], data: TrainingData, metrics: dict[str, float], extra: dict[str, Any]
) -> str:
    import jinja2

    template = (
        jinja2.Template(CARD_TEMPLATE.read_text())
        if CARD_TEMPLATE.is_file()
        else jinja2.Template(
            "# {{ name }}\n\n{% for k, v in metrics.items() %}- {{ k }}: {{ '%.4f' % v }}\n{% endfor %}"
        )
    )
    test_sets = {name: len(df) for name, df in data.test_sets().items()}
    subgroups = [
        {
            "group": k.removeprefix("subgroup_auc."),
            "auc": v,
            "n": int(metrics.get("subgroup_n." + k.removeprefix("subgroup_auc."), 0)),
        }
        for k, v in sorted(metrics.items())
        if k.startswith("subgroup_auc.")
    ]
    cross = sorted({k.split(".")[1] for k in metrics if k.startswith("crossdataset.")})
    return template.render(
        name=cfg["name"],
        subgroups=subgroups,
        min_reliable_n=MIN_RELIABLE_N,
        cross_sets=cross,
        cfg=cfg,
        datasets=data.datasets,
        skipped=data.skipped,
        test_sets=test_sets,
        n_train=len(data.train),
        metrics=dict(sorted(metrics.items())),
        hashes=data.file_hashes,
        **{"date": None, "code_version": "unknown", **extra},
    )


def train_severity(
    settings: Settings,
    *,
    datasets: Sequence[str] | None = None,
    experiment: str | None = None,
    config: str | Path | dict[str, Any] | None = None,
    embedder: Embedder | None = None,
    register: bool = True,
    max_rows_per_dataset: int | None = None,
    run_name: str | None = None,
    by: str | None = None,
    with_feedback: bool = False,
) -> TrainResult:
    """Train, evaluate, log and register one severity model; see the module docstring.

    ``datasets`` restricts the data (an absent shared dataset named here is an error); by default the
    config's datasets are used and absent shared ones are skipped. ``max_rows_per_dataset`` subsamples
    (stratified, deterministic) for quick runs and tests. ``by`` names who registers it in the alias
    history (default ``user@host``, as CLI promotions record it). ``with_feedback`` adds QA second
    reviews and analyst decisions from the item store as training rows (:mod:`training.feedback`).
    """
    t_start = time.perf_counter()
    cfg = validate_config(load_config(config))  # before any run exists
    load_policy(settings.policy_file)  # the model card reads it at the end: a bad file fails before any work
    experiment = experiment or cfg["experiment"]
    with mlflow_store(settings):
        return _train(
            settings,
            cfg,
            datasets,
            experiment,
            embedder,
            register,
            max_rows_per_dataset,
            run_name,
            t_start,
            by,
            with_feedback,
        )


def _with_feedback(
    settings: Settings, data: TrainingData, cfg: dict[str, Any], max_rows: int | None, snap: FeedbackSnapshot
):
    """``data`` plus the snapshot's feedback rows (none of them in any test split), and the snapshot
    without the test rows."""
    from training.feedback import as_training_rows, drop_test_rows

    cross = _cross_dataset_sets(settings, data, cfg, max_rows)
    test_texts = [t for sets in (data.test_sets(), cross) for df in sets.values() for t in df["text"]]
    snap = drop_test_rows(snap, test_texts)
    frame = pd.concat([data.frame, as_training_rows(snap)], ignore_index=True)
    return TrainingData(
        frame=frame, datasets=data.datasets, skipped=data.skipped, file_hashes=data.file_hashes
    ), snap


def _train(
    settings,
    cfg,
    datasets,
    experiment,
    embedder,
    register,
    max_rows_per_dataset,
    run_name,
    t_start,
    by=None,
    with_feedback=False,
):  # noqa: ANN001
    import mlflow

    name = cfg["name"]
    # read (and check) the feedback first: no labelled feedback is an error before any data loads
    snap = read_feedback(settings) if with_feedback else None
    client = connect(settings)
    exp_id = ensure_experiment(client, settings, experiment)
    data = load_training_data(
        settings,
        list(datasets) if datasets else cfg["datasets"],
        explicit=bool(datasets),
        seed=int(cfg["split"]["seed"]),
        test_fraction=dict(cfg["split"]["test_fraction"]),
        max_rows_per_dataset=max_rows_per_dataset,
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
    if snap is not None:
        data, snap = _with_feedback(settings, data, cfg, max_rows_per_dataset, snap)
    emb_model = embedder or default_embedder(settings)

    with training_run(client, exp_id, run_name, cfg) as run:
        counts = {f"feedback.{k}": float(v) for k, v in sorted(snap.counts.items())} if snap else {}
        if snap is not None:  # the feedback snapshot: its hash and counts (training/feedback.py)
            mlflow.log_params(
                {"feedback.snapshot_sha256": snap.read_sha256, "feedback.rows_sha256": snap.sha256}
            )
            mlflow.log_metrics(counts)
        try:
            result = _run(
                run, client, cfg, name, data, emb_model, register, max_rows_per_dataset, t_start, settings, by
            )
            result.metrics.update(counts)
            return result
        except BaseException as exc:
            logger.error("severity training run %s failed: %s: %s", run.info.run_id, type(exc).__name__, exc)
            mlflow.end_run(status=end_status(exc))
            raise


def _cross_dataset_sets(
    settings: Settings, data: TrainingData, cfg: dict[str, Any], max_rows: int | None
) -> dict:
    """Test splits of the shared datasets the model was *not* trained on (when present): the
    cross-dataset check (e.g. HatEval test when trained without HatEval)."""
    from trendml.datasets.loaders import SHARED

    missing = [d for d in SHARED if d not in data.datasets and d not in data.skipped]
    other = _load_others(settings, cfg, missing, max_rows, "no cross-dataset test sets")
    return other.test_sets() if other is not None else {}


def _load_others(
    settings: Settings, cfg: dict[str, Any], names: list[str], max_rows: int | None, why_none: str
) -> TrainingData | None:
    """The datasets ``names`` with the run's split settings, or None (logged) when none is present."""
    if not names:
        return None
    try:
        return load_training_data(
            settings,
            names,
            explicit=False,
            seed=int(cfg["split"]["seed"]),
            test_fraction=dict(cfg["split"]["test_fraction"]),
            max_rows_per_dataset=max_rows,
        )
    except Exception as exc:  # noqa: BLE001 - none present
        logger.info("%s: %s", why_none, exc)
        return None


def _threat_eval(model: SeverityModel, data: TrainingData, embed) -> dict[str, float]:  # noqa: ANN001
    """``threat.*`` over every ToxicSpans row: training rows scored out of fold (the stacker's
    out-of-fold probabilities from ``fit``), test rows by the final model; empty without ToxicSpans."""
    frame = data.frame
    rows = frame[frame["dataset"] == THREAT_DATASET]
    oof = getattr(model, "oof_proba_", None)
    if rows.empty or oof is None or not (rows["severity"] == 3).any():
        return {}
    proba = np.zeros((len(rows), 4))
    is_train = (rows["split"] == "train").to_numpy()
    train_pos = {i: k for k, i in enumerate(data.train.index)}
    proba[is_train] = oof[[train_pos[i] for i in rows.index[is_train]]]
    test_texts = rows.loc[~is_train, "text"].tolist()
    proba[~is_train] = model.predict_proba(test_texts, embed(test_texts))
    return threat_metrics(rows, proba, getattr(model.fitted_, "threat_threshold", None))


def _behaviour_eval(model: SeverityModel, emb_model: Embedder, lookup: dict, embed) -> dict[str, float]:  # noqa: ANN001
    """``behaviour.*``: the behavioural suite (training/behaviour.py) scored by the fitted model."""
    from training.behaviour import build_suite, run_suite
    from trendml.text import normalise_text

    cases = build_suite()
    texts = list(dict.fromkeys(normalise_text(c.text) for c in cases))
    new = [t for t in texts if t not in lookup]
    if new:
        lookup.update(zip(new, emb_model.encode(new), strict=True))
    return run_suite(model, embed, cases)


def _lodo_eval(
    settings: Settings, cfg: dict, data: TrainingData, emb_model: Embedder, lookup: dict, embed, max_rows
):  # noqa: ANN001, E501
    """``lodo.*`` (training/lodo.py) over every dataset present, when ``lodo: true`` in the config;
    empty when the shared datasets are absent."""
    from training.lodo import leave_one_dataset_out
    from trendml.datasets.loaders import ALL_DATASETS

    frame = data.frame[~data.frame["dataset"].isin(["augment", "toxic_spans_soft"])]
    missing = [d for d in ALL_DATASETS if d not in data.datasets]
    if missing:
        other = _load_others(settings, cfg, missing, max_rows, "no leave-one-dataset-out evaluation")
        if other is None:
            return {}
        frame = pd.concat([frame, other.frame], ignore_index=True)
    if not {"olid", "hateval"} <= set(frame["dataset"]):
        logger.info("no leave-one-dataset-out evaluation: OLID and HatEval are not present")
        return {}
    from training.lodo import lodo_rows

    frame = lodo_rows(frame)
    new = [t for t in dict.fromkeys(frame["text"].tolist()) if t not in lookup]
    if new:
        lookup.update(zip(new, emb_model.encode(new), strict=True))
    params = {k: v for k, v in (cfg.get("lodo_model") or {}).items()}
    return leave_one_dataset_out(frame, embed, model_params=params, embedder_id=embedder_id(emb_model))


def _run(
    run, client, cfg, name, data, emb_model, register, max_rows, t_start, settings, by=None
) -> TrainResult:  # noqa: ANN001, E501
    import mlflow

    run_id = run.info.run_id
    params = flatten({k: v for k, v in cfg.items() if k not in ("name", "experiment")})
    params.update(
        {
            "datasets": ",".join(data.datasets),
            "datasets_skipped": ",".join(data.skipped) or "-",
            "embedder": embedder_id(emb_model),
            "n_train": str(len(data.train)),
            "max_rows_per_dataset": str(max_rows),
        }
    )
    params.update({f"data.{k}.sha256": v for k, v in data.file_hashes.items()})
    params.update(data.split_digests())
    params.update({f"n_test.{k}": str(len(v)) for k, v in data.test_sets().items()})
    mlflow.log_params(params)
    mlflow.set_tags({"trendml.model": name, "trendml.embedder": embedder_id(emb_model)})

    # -- embed every text once (the cache makes reruns cheap) ------------------------------
    t0 = time.perf_counter()
    frame = data.frame
    logger.info("run %s: embedding %d texts (cached ones are read back)", run_id, len(frame))
    vectors = emb_model.encode(frame["text"].tolist())
    lookup = dict(zip(frame["text"].tolist(), vectors, strict=True))
    embed_s = time.perf_counter() - t0

    def embed(texts: Sequence[str]) -> np.ndarray:
        return (
            np.stack([lookup[t] for t in texts])
            if len(texts)
            else np.zeros((0, vectors.shape[1]), np.float32)
        )

    # -- fit ---------------------------------------------------------------------------------
    train = data.train
    weights, base_w = fit_weights(train, cfg)
    model = SeverityModel(embedder_id=embedder_id(emb_model), **cfg["model"])
    t0 = time.perf_counter()
    logger.info("fitting %s on %d rows", cfg["model"].get("features"), len(train))
    model.fit(
        train["text"].tolist(),
        embed(train["text"].tolist()),
        train["severity"].to_numpy(),
        sample_weight=weights,
        groups=pd.factorize(train["text"])[0],  # duplicate texts stay in one out-of-fold fold
        sources=training_sources(train),  # for source_aware calibration
        base_weight=base_w,  # config base_weights / threat_soft_labels: base (training/data.py)
        threat_weight=threat_head_weights(train, cfg, weights, base_w),  # config threat_head_weights
        threat_rows=threat_threshold_rows(train, cfg),  # config threat_threshold_on
    )
    fit_s = time.perf_counter() - t0

    # -- evaluate ----------------------------------------------------------------------------
    test_sets = data.test_sets()
    logger.info("evaluating on %s (fit took %.0fs)", ", ".join(test_sets), fit_s)
    metrics, preds = evaluate_model(model, test_sets, embed)
    t0 = time.perf_counter()
    all_test = [t for df in test_sets.values() for t in df["text"].tolist()]
    model.predict_proba(all_test, embed(all_test))
    score_s = time.perf_counter() - t0
    metrics.update(_threat_eval(model, data, embed))
    threat_t = getattr(model.fitted_, "threat_threshold", None)
    if threat_t is not None:
        metrics["threat.threshold"] = float(threat_t)
    mlflow.set_tag("trendml.label_set", ",".join(str(int(c)) for c in model.fitted_.classes))
    if cfg.get("behaviour", True):
        metrics.update(_behaviour_eval(model, emb_model, lookup, embed))
    if cfg.get("lodo", False):
        t0 = time.perf_counter()
        metrics.update(_lodo_eval(settings, cfg, data, emb_model, lookup, embed, max_rows))
        metrics["time.lodo_s"] = time.perf_counter() - t0
    cross = _cross_dataset_sets(settings, data, cfg, max_rows)
    if cross:
        cross_texts = [t for df in cross.values() for t in df["text"].tolist()]
        cross_vecs = emb_model.encode(cross_texts)
        lookup.update(zip(cross_texts, cross_vecs, strict=True))
        cross_metrics, _ = evaluate_model(model, cross, embed, prefix="crossdataset")
        metrics.update(cross_metrics)
    if cfg.get("baseline", True):
        baseline = fit_baseline(train)
        metrics.update(evaluate_baseline(baseline, test_sets))
        if cross:
            metrics.update(
                {
                    k.replace("baseline.", "baseline_crossdataset.", 1): v
                    for k, v in evaluate_baseline(baseline, cross).items()
                }
            )
    metrics.update(
        {
            "time.embed_s": embed_s,
            "time.fit_s": fit_s,
            "time.classifier_ms_per_item": 1000 * score_s / max(1, len(all_test)),
        }
    )
    metrics.update(feedback_metrics(model, data.frame, embed, settings))  # {} without feedback rows
    mlflow.log_metrics(metrics)
    mlflow.log_figure(confusion_figure(preds), "confusion_matrix.png")

    # -- log the model; register it last, once everything of the run is logged ---------------
    logger.info("logging the model (and checking the pyfunc predicts its input example)")
    version: str | None = None
    champion = False
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / "severity_model")
        from training import pyfunc
        from training.registry import artifact_sha256

        model_sha = artifact_sha256(model_dir)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc.SeverityPyfunc(),
            artifacts={pyfunc.ARTIFACT_KEY: str(model_dir)},
            signature=pyfunc.signature(),
            input_example=pyfunc.INPUT_EXAMPLE,
            pip_requirements=pyfunc.pip_requirements(),
            model_config=pyfunc.model_config(settings),
        )
    pyfunc.validate_logged(info.model_uri)
    mlflow.set_tag("trendml.artifact_sha256", model_sha)
    metrics["time.total_s"] = time.perf_counter() - t_start
    mlflow.log_metric("time.total_s", metrics["time.total_s"])
    from training.runs import GIT_TAG, git_commit

    card = render_card(
        cfg,
        data,
        metrics,
        {
            "version": None,
            "run_id": run_id,
            # the date and the code version as the run records them (its git-commit tag)
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "code_version": client.get_run(run_id).data.tags.get(GIT_TAG) or git_commit(),
            "embedder": model.embedder_id,
            "champion": False,
            "threat_threshold": getattr(model.fitted_, "threat_threshold", None),
            "label_set": [int(c) for c in model.fitted_.classes],
            "augment": int((data.frame["dataset"] == "augment").sum()),
            "levels": load_policy(settings.policy_file).levels,
        },
    )
    mlflow.log_text(card, "model_card.md")
    if register:
        version, champion = register_last(client, name, info.model_uri, artifact_sha256=model_sha, by=by)
        mlflow.set_tag("trendml.registered_version", version)
    logger.info("severity run %s: version %s%s", run_id, version, " (champion)" if champion else "")
    return TrainResult(
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        model_name=name,
        version=version,
        champion=champion,
        metrics=metrics,
        datasets=data.datasets,
        skipped=data.skipped,
        duration_s=metrics["time.total_s"],
    )
