"""notebooks/severity_runs.ipynb runs top to bottom on the session's tiny MLflow store."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "severity_runs.ipynb"


def test_notebook_executes(first_run, registry_home, monkeypatch, tmp_path):
    monkeypatch.setenv("TRENDML_HOME", str(registry_home))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parents[1])}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "finished" in text and "runs" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the comparison and calibration/bias figures
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert first_run.run_id in html
