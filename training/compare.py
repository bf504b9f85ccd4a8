"""Runs side by side: one row per run of an experiment with its headline metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd

from training.tracking import MODEL_NAME, connect
from trendml.config import Settings

logger = logging.getLogger(__name__)

HEADLINE = [
    "test.davidson.macro_f1",
    "baseline.davidson.macro_f1",
    "test.davidson.hate_f1",
    "baseline.davidson.hate_f1",
    "test.davidson.ece",
    "test.toxigen_seeds.macro_f1",
    "test.olid.macro_f1",
    "test.hateval.macro_f1",
    "crossdataset.hateval.hate_auc",
    "time.total_s",
]


def _status(run) -> str:  # noqa: ANN001
    """The run's status; a RUNNING run of this host whose process is gone says so (the next training
    start marks it FAILED, see training/runs.py)."""
    import socket

    from training.runs import HOST_TAG, PID_TAG, PROC_START_TAG, process_alive

    tags = run.data.tags
    if (
        run.info.status == "RUNNING"
        and tags.get(HOST_TAG) == socket.gethostname()
        and tags.get(PID_TAG, "").isdigit()
        and not process_alive(int(tags[PID_TAG]), tags.get(PROC_START_TAG))
    ):
        return "RUNNING (process gone)"
    return run.info.status


def compare_runs(
    settings: Settings, experiment: str = "trendml-severity", *, max_runs: int = 20, name: str = MODEL_NAME
) -> pd.DataFrame:
    """A DataFrame (newest first): run id, name, status, start, datasets, registered version,
    champion flag, every metric as a column (``metric`` columns keep MLflow's names)."""
    from mlflow.exceptions import MlflowException

    client = connect(settings, create=False)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return pd.DataFrame()
    runs = client.search_runs(
        [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=max_runs
    )
    versions: dict[str, str] = {}
    champion = None
    try:
        for mv in client.search_model_versions(f"name='{name}'"):
            versions[mv.run_id] = str(mv.version)
        champion = str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        pass
    rows = []
    for r in runs:
        version = versions.get(r.info.run_id)
        row = {
            "run_id": r.info.run_id,
            "run_name": r.info.run_name,
            "status": _status(r),
            "start": datetime.fromtimestamp(r.info.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "datasets": r.data.params.get("datasets", ""),
            "features": r.data.params.get("model.features", ""),
            "version": version,
            "champion": version is not None and version == champion,
        }
        row.update(r.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
