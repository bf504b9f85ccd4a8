"""Loaders: each returns a DataFrame with at least ``id, text, severity, dataset``.

Extra columns kept where a dataset has them: ``split`` (OLID, HatEval), ``target_group``
(ToxiGen), annotator vote counts ``n_annotators, n_hate, n_offensive, n_neither``
(Davidson, usable as soft labels), ``HS, TR, AG`` (HatEval), rater counts per toxicity type
``n_annotators, n_threat, n_identity_attack, ...`` (ToxicSpans).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import pandas as pd

from trendml.errors import TrendmlError

logger = logging.getLogger(__name__)

SHIPPED = ("davidson", "toxigen_seeds", "toxic_spans")
SHARED = ("olid", "hateval")
ALL_DATASETS = SHIPPED + SHARED


class DatasetUnavailable(TrendmlError, FileNotFoundError):
    """A dataset that is not shipped with trendml is not present in the shared data directory."""


def shipped_data_dir() -> Path:
    """Directory of the datasets shipped inside the package (with their LICENSE files)."""
    return Path(str(resources.files("trendml.datasets") / "data"))


def _finish(df: pd.DataFrame, dataset: str) -> pd.DataFrame:
    df = df.copy()
    df["id"] = df["id"].astype(str).map(lambda i: f"{dataset}:{i}")
    df["text"] = df["text"].fillna("").astype(str)
    df = df[df["text"].str.strip() != ""]
    df["severity"] = df["severity"].astype(int)
    df["dataset"] = dataset
    return df.reset_index(drop=True)


def load_davidson() -> pd.DataFrame:
    """Davidson et al. 2017, 24,783 tweets: neither->0, offensive->1, hate->2 (MIT)."""
    path = shipped_data_dir() / "davidson" / "davidson_tidy.csv"
    df = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    return _finish(df, "davidson")


def load_toxigen_seeds() -> pd.DataFrame:
    """ToxiGen human-curated seed statements, 722 rows: neutral->0, hate->2 (MIT / CDLA-P-2.0)."""
    path = shipped_data_dir() / "toxigen_seeds" / "toxigen_seeds_tidy.csv"
    df = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    return _finish(df, "toxigen_seeds")


def load_toxic_spans() -> pd.DataFrame:
    """ToxicSpans (Civil Comments news comments, CC0), the shipped subsample of 3,494 rows: majority-
    ``Threat`` posts -> 3 (all 121), majority ``Identity based Attack`` -> 2 (all 373), other toxic
    posts -> 1 (3,000 of 15,606). Keeps the official ``split`` (SemEval-2021 test = ``test``)."""
    path = shipped_data_dir() / "toxic_spans" / "toxic_spans_tidy.csv"
    df = pd.read_csv(path, dtype={"id": str}, keep_default_na=False)
    return _finish(df, "toxic_spans")


def _shared_csv(shared_dir: Path, rel: str, name: str) -> pd.DataFrame:
    path = Path(shared_dir) / rel
    if not path.exists():
        raise DatasetUnavailable(
            f"{name} is not at {path}; expected the shared data directory beside the checkout; "
            "set TRENDML_SHARED_DATA to the folder that holds it, or train on the shipped data only"
        )
    return pd.read_csv(path, dtype={"id": str}, keep_default_na=False)


def load_olid(shared_dir: Path) -> pd.DataFrame:
    """OLID v1.0 (train + test), NOT->0, OFF->1, OFF/TIN/GRP->2. Research use; not shipped."""
    return _finish(_shared_csv(shared_dir, "olid/olid_tidy.csv", "OLID"), "olid")


def load_hateval(shared_dir: Path) -> pd.DataFrame:
    """HatEval 2019 English: HS=0->0, HS=1->2, HS=1&AG=1->3. Research use; not shipped."""
    return _finish(_shared_csv(shared_dir, "hateval2019_en/hateval_tidy.csv", "HatEval"), "hateval")


def load_dataset(name: str, shared_dir: Path | None = None) -> pd.DataFrame:
    """Load a dataset by name (``davidson``, ``toxigen_seeds``, ``toxic_spans``, ``olid``, ``hateval``)."""
    if name == "davidson":
        return load_davidson()
    if name == "toxigen_seeds":
        return load_toxigen_seeds()
    if name == "toxic_spans":
        return load_toxic_spans()
    if name in SHARED:
        if shared_dir is None:
            raise DatasetUnavailable(
                f"{name} needs the shared data directory; expected a path; set TRENDML_SHARED_DATA"
            )
        return load_olid(shared_dir) if name == "olid" else load_hateval(shared_dir)
    raise TrendmlError(f'dataset "{name}" is unknown; expected one of {", ".join(ALL_DATASETS)}')
