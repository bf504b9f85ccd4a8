"""Training data: the datasets asked for (shared ones when present), normalised, split, hashed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trendml.config import Settings
from trendml.datasets.loaders import (
    ALL_DATASETS,
    SHARED,
    DatasetUnavailable,
    load_dataset,
    shipped_data_dir,
)
from trendml.errors import InputError
from trendml.severity.splits import assign_splits, split_digest
from trendml.text import normalise_text

logger = logging.getLogger(__name__)

DATA_FILES = {
    "davidson": ("shipped", "davidson/davidson_tidy.csv"),
    "toxigen_seeds": ("shipped", "toxigen_seeds/toxigen_seeds_tidy.csv"),
    "toxic_spans": ("shipped", "toxic_spans/toxic_spans_tidy.csv"),
    "olid": ("shared", "olid/olid_tidy.csv"),
    "hateval": ("shared", "hateval2019_en/hateval_tidy.csv"),
}


@dataclass
class TrainingData:
    """All rows (column ``split`` is train/test), the datasets used and the ones skipped."""

    frame: pd.DataFrame
    datasets: list[str]
    skipped: list[str]
    file_hashes: dict[str, str]

    @property
    def train(self) -> pd.DataFrame:
        return self.frame[self.frame["split"] == "train"]

    def test_sets(self) -> dict[str, pd.DataFrame]:
        test = self.frame[self.frame["split"] == "test"]
        return {name: part for name, part in test.groupby("dataset", sort=False)}

    def split_digests(self) -> dict[str, str]:
        return {f"split_digest.{name}": split_digest(part["id"]) for name, part in self.test_sets().items()}


def with_augmentation(
    data: TrainingData, *, templates: bool, swaps: bool, more_templates: bool = False
) -> TrainingData:
    """``data`` plus the counterfactual training rows of :mod:`training.augment` (dataset ``augment``,
    split ``train``, column ``source`` = the source the stacker sees); unchanged when both are off."""
    if not (templates or swaps):
        return data
    from training.augment import augment_rows

    extra = augment_rows(data.frame, templates=templates, swaps=swaps, more_templates=more_templates)
    frame = pd.concat([data.frame, extra], ignore_index=True)
    return TrainingData(
        frame=frame, datasets=data.datasets, skipped=data.skipped, file_hashes=data.file_hashes
    )


def with_soft_threat_labels(data: TrainingData) -> TrainingData:
    """ToxicSpans rater shares as soft labels for level 3: each training post also counts as a threat
    with weight ``n_threat / n_annotators`` and as its non-threat level with the rest. The post keeps
    its row (its majority label, weight = that label's share); the other part is an extra row
    (dataset ``toxic_spans_soft``, source ``toxic_spans``, same text, so the same out-of-fold fold).
    Column ``row_weight`` carries the weights (1 for every other row)."""
    frame = data.frame.copy()
    frame["row_weight"] = frame.get("row_weight", pd.Series(1.0, index=frame.index)).fillna(1.0)
    ts = frame[(frame["dataset"] == "toxic_spans") & (frame["split"] == "train")]
    frac = (ts["n_threat"].astype(float) / ts["n_annotators"].astype(float)).clip(0, 1)
    part = ts[(frac > 0) & (frac < 1)].copy()
    if part.empty:
        return data
    fp = frac.loc[part.index]
    is_threat = part["severity"] == 3
    ia = part["n_identity_attack"].astype(float) / part["n_annotators"].astype(float) >= 0.5
    frame.loc[part.index, "row_weight"] = np.where(is_threat, fp, 1 - fp)
    extra = part.copy()
    extra["severity"] = np.where(is_threat, np.where(ia, 2, 1), 3)
    extra["row_weight"] = np.where(is_threat, 1 - fp, fp)
    extra["id"] = extra["id"] + ":soft"
    extra["dataset"] = "toxic_spans_soft"
    extra["source"] = "toxic_spans"
    frame = pd.concat([frame, extra], ignore_index=True)
    return TrainingData(
        frame=frame, datasets=data.datasets, skipped=data.skipped, file_hashes=data.file_hashes
    )


def row_weights(train: pd.DataFrame, annotators: bool) -> np.ndarray | None:
    """The training rows' sample weights: Davidson annotator agreement (when ``annotators``) times
    ``row_weight`` (soft threat labels); None when neither applies."""
    w = annotator_weights(train) if annotators else None
    if "row_weight" in train.columns:
        rw = train["row_weight"].fillna(1.0).to_numpy(dtype=np.float64)
        w = rw if w is None else w * rw
    return w


def dataset_weights(train: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Per-row weight multipliers from ``weights`` (config ``dataset_weights``): a key is a dataset name
    (``augment``, ``toxigen_seeds``, ...) or ``<dataset>.<severity>`` (``toxigen_seeds.0``: ToxiGen's
    neutral statements), the more specific key winning; rows matched by no key keep 1."""
    out = np.ones(len(train))
    ds = train["dataset"].astype(str).to_numpy()
    sev = train["severity"].astype(int).astype(str).to_numpy()
    for key, w in weights.items():
        if "." not in key:
            out[ds == key] = float(w)
    for key, w in weights.items():
        if "." in key:
            name, level = key.rsplit(".", 1)
            out[(ds == name) & (sev == level)] = float(w)
    return out


def fit_weights(train: pd.DataFrame, cfg: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(sample weights, base-learner weights)`` for ``SeverityModel.fit`` from the config: the row
    weights (:func:`row_weights`) for both, unless ``base_weights`` (multipliers per dataset, see
    :func:`dataset_weights`) or ``threat_soft_labels: base`` give the base learners their own. With
    ``base``, ToxicSpans' soft threat labels train the base learners only: the stacker (calibration,
    decision weights, threat threshold) sees each post once, with its majority label."""
    annot = bool(cfg.get("annotator_weights"))
    weights = row_weights(train, annot)
    mult = cfg.get("base_weights") or {}
    soft_base = cfg.get("threat_soft_labels") == "base" and "row_weight" in train.columns
    if not mult and not soft_base:
        return weights, None
    base = np.ones(len(train)) if weights is None else weights
    if mult:
        base = base * dataset_weights(train, mult)
    if soft_base:
        hard = train.copy()
        is_soft = (hard["dataset"] == "toxic_spans_soft").to_numpy()
        hard["row_weight"] = np.where(
            is_soft, 0.0, np.where(hard["dataset"] == "toxic_spans", 1.0, hard["row_weight"])
        )
        weights = row_weights(hard, annot)
    return weights, base


def threat_head_weights(
    train: pd.DataFrame, cfg: dict, weights: np.ndarray | None, base: np.ndarray | None
) -> np.ndarray | None:
    """The threat head's row weights (``SeverityModel.fit(threat_weight=...)``): the base learners'
    weights times the config's ``threat_head_weights`` multipliers (:func:`dataset_weights`; 0 leaves a
    dataset's rows out of the head, e.g. ``{davidson: 0}``); None when the config sets none."""
    mult = cfg.get("threat_head_weights") or {}
    if not mult:
        return None
    start = base if base is not None else weights
    return (np.ones(len(train)) if start is None else start) * dataset_weights(train, mult)


def threat_threshold_rows(train: pd.DataFrame, cfg: dict) -> np.ndarray | None:
    """The rows the threat threshold is chosen on (``SeverityModel.fit(threat_rows=...)``): the
    training rows of the config's ``threat_threshold_on`` dataset (its posts, each once with its
    majority label; soft-label twins are another dataset); None (all rows) when unset or when that
    dataset has no threat row in this run's data (e.g. ``--data davidson,toxigen_seeds``)."""
    name = cfg.get("threat_threshold_on")
    if not name:
        return None
    rows = (train["dataset"] == name).to_numpy()
    if not (train.loc[rows, "severity"] == 3).any():
        logger.info("no threat rows of %s in the training data: threat threshold on all rows", name)
        return None
    return rows


def training_sources(train: pd.DataFrame) -> np.ndarray:
    """Each training row's source for the source gate: column ``source`` where set, else ``dataset``."""
    if "source" not in train.columns:
        return train["dataset"].to_numpy()
    return train["source"].fillna(train["dataset"]).to_numpy()


def annotator_weights(frame: pd.DataFrame) -> np.ndarray | None:
    """Davidson soft labels as row weights: the share of coders who chose the row's majority class
    (floor 0.34); 1 for rows without vote counts. ``None`` when the frame has no vote columns."""
    if not {"n_annotators", "n_hate", "n_offensive", "n_neither"} <= set(frame.columns):
        return None
    agree = frame[["n_hate", "n_offensive", "n_neither"]].max(axis=1) / frame["n_annotators"].replace(
        0, np.nan
    )
    return agree.fillna(1.0).clip(lower=0.34).to_numpy()


def data_file(name: str, settings: Settings) -> Path:
    where, rel = DATA_FILES[name]
    return (shipped_data_dir() if where == "shipped" else settings.shared_data) / rel


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_training_data(
    settings: Settings,
    datasets: Sequence[str],
    *,
    explicit: bool,
    seed: int,
    test_fraction: dict[str, float],
    max_rows_per_dataset: int | None = None,
) -> TrainingData:
    """Load, normalise and split. A shared dataset that is absent is skipped with a log line, unless
    the caller named it explicitly (``--data``), which makes it an error."""
    unknown = [d for d in datasets if d not in ALL_DATASETS]
    if unknown:
        raise InputError(f'dataset "{unknown[0]}" is unknown; expected some of {", ".join(ALL_DATASETS)}')
    frames, used, skipped, hashes = [], [], [], {}
    for name in dict.fromkeys(datasets):
        try:
            df = load_dataset(name, settings.shared_data if name in SHARED else None)
        except DatasetUnavailable:
            if explicit:
                raise
            logger.info("dataset %s is not present; training without it", name)
            skipped.append(name)
            continue
        df = df.copy()
        df["text"] = df["text"].map(normalise_text)
        df = df[df["text"] != ""]
        frac = float(test_fraction.get(name, test_fraction.get("default", 0.2)))
        df["split"] = assign_splits(df, test_fraction=frac, seed=seed).values
        if max_rows_per_dataset is not None and len(df) > max_rows_per_dataset:
            # a stratified, deterministic subsample (tests, quick runs): keep the first rows by split key
            share = max_rows_per_dataset / len(df)
            sizes = df.groupby(["split", "severity"])["text"].transform("size")
            rank = df.groupby(["split", "severity"]).cumcount()
            df = df[rank < np.maximum(2, np.round(sizes * share))].reset_index(drop=True)
        frames.append(df)
        used.append(name)
        hashes[name] = file_sha256(data_file(name, settings))
    if not frames:
        raise InputError(
            f"none of the datasets {', '.join(datasets)} is available; expected at least one; "
            "use --data davidson,toxigen_seeds (shipped)"
        )
    frame = pd.concat(frames, ignore_index=True)
    return TrainingData(frame=frame, datasets=used, skipped=skipped, file_hashes=hashes)
