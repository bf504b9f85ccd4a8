"""Settings: the only module in the library that reads the environment.

Everything trendml stores lives under one data directory, ``TRENDML_HOME`` (default ``./var``):

- ``trendml.db``        SQLite database (items, scores, trends, feedback, keys)
- ``mlflow.db``          MLflow tracking + registry store (SQLite)
- ``mlartifacts/``       MLflow artifacts
- ``cache/embeddings.db`` content-hash embedding cache
- ``models/``            built weights that are not in the registry
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Oldest ``created_at`` accepted (``TRENDML_MIN_CREATED_AT``).
DEFAULT_MIN_CREATED_AT = datetime(2000, 1, 1, tzinfo=UTC)
#: How far past the server's clock a ``created_at`` may lie (``TRENDML_MAX_CREATED_AHEAD_S``).
DEFAULT_MAX_CREATED_AHEAD_S = 86_400.0


def _env_datetime(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    dt = datetime.fromisoformat(value.strip())
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


def _env_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`; override with :meth:`with_`."""

    home: Path = field(default_factory=lambda: Path("var").resolve())
    database_url: str | None = None
    tracking_uri: str | None = None
    registry_uri: str | None = None
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_batch_size: int = 64
    embedding_cache: bool = True
    max_text_chars: int = 10_000
    max_items_per_request: int = 256
    min_created_at: datetime = DEFAULT_MIN_CREATED_AT
    max_created_ahead_s: float = DEFAULT_MAX_CREATED_AHEAD_S
    shared_data_dir: Path | None = None
    policy_path: Path | None = None
    #: erase stored items received more than this many days ago (0: keep; trendml/erasure.py)
    retention_days: int = 0
    #: bounds of live monitoring (trendml/monitoring.py): above either, /readyz says "degraded"
    drift_psi_bound: float = 0.25
    ece_bound: float = 0.15

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("TRENDML_HOME") or "var").expanduser().resolve()
        return cls(
            home=home,
            database_url=env.get("TRENDML_DATABASE_URL") or None,
            tracking_uri=env.get("MLFLOW_TRACKING_URI") or env.get("TRENDML_TRACKING_URI") or None,
            registry_uri=env.get("MLFLOW_REGISTRY_URI") or None,
            embedding_model=env.get("TRENDML_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL,
            embedding_batch_size=int(env.get("TRENDML_EMBEDDING_BATCH_SIZE") or 64),
            embedding_cache=_env_bool(env.get("TRENDML_EMBEDDING_CACHE"), True),
            max_text_chars=int(env.get("TRENDML_MAX_TEXT_CHARS") or 10_000),
            max_items_per_request=int(env.get("TRENDML_MAX_ITEMS_PER_REQUEST") or 256),
            min_created_at=_env_datetime(env.get("TRENDML_MIN_CREATED_AT"), DEFAULT_MIN_CREATED_AT),
            max_created_ahead_s=float(env.get("TRENDML_MAX_CREATED_AHEAD_S") or DEFAULT_MAX_CREATED_AHEAD_S),
            shared_data_dir=Path(env["TRENDML_SHARED_DATA"]) if env.get("TRENDML_SHARED_DATA") else None,
            policy_path=Path(env["TRENDML_POLICY"]).expanduser() if env.get("TRENDML_POLICY") else None,
            retention_days=int(env.get("TRENDML_RETENTION_DAYS") or 0),
            drift_psi_bound=float(env.get("TRENDML_DRIFT_PSI_BOUND") or 0.25),
            ece_bound=float(env.get("TRENDML_ECE_BOUND") or 0.15),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)

    # Derived paths -----------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'trendml.db'}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def embedding_cache_path(self) -> Path:
        return self.home / "cache" / "embeddings.db"

    @property
    def shared_data(self) -> Path:
        """Where the non-redistributable datasets (OLID, HatEval) are read from, when present:
        ``TRENDML_SHARED_DATA``, else ``../shared/data`` beside the checkout."""
        if self.shared_data_dir is not None:
            return self.shared_data_dir
        return Path(__file__).resolve().parents[2] / "shared" / "data"

    @property
    def policy_file(self) -> Path:
        """The policy taxonomy (``trendml.policy``): ``TRENDML_POLICY``, else ``models/policy.yaml``."""
        return self.policy_path or Path(__file__).resolve().parents[1] / "models" / "policy.yaml"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def ensure_home(self) -> Path:
        for path in (self.home, self.home / "cache", self.models_dir, self.mlflow_artifact_root):
            path.mkdir(parents=True, exist_ok=True)
        return self.home


def offline_environment() -> dict[str, str]:
    """Environment variables that keep every run offline and telemetry-free.

    Set by the CLI entry point and the service before heavy imports; the library itself
    never mutates ``os.environ``.
    """
    return {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }


def apply_offline_environment() -> None:
    """Apply :func:`offline_environment` (used by entry points, not by library code)."""
    for key, value in offline_environment().items():
        os.environ.setdefault(key, value)


def env_secret(name: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The value of the environment variable ``name`` (a webhook's ``secret_env``), or ``None``.
    Secrets stay out of config files; this is where the library reads them (callers pass the name)."""
    if not name:
        return None
    env = os.environ if environ is None else environ
    return env.get(name) or None
