"""The severity model the service answers with, and its hot swap when ``champion`` moves.

:class:`ModelManager` holds one immutable :class:`ActiveModel` reference. A background thread
asks the registry every ``interval_s`` which version the ``champion`` alias points to; when it
changed, it loads the new version *beside* the old one, checks it against the embedder, and
then replaces the reference in one assignment. A request reads the reference once per batch,
so in-flight batches finish on the model they started with and no request fails during the
switch; every answer carries the version that produced it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trendml.config import Settings

logger = logging.getLogger(__name__)


_LOCATION = re.compile(
    r"\b(?:file|sqlite|mysql|postgresql)[+\w]*://\S*|(?<![\w:/.])/(?:[^\s/'\",;()]+/)+[^\s/'\",;()]*"
)


def client_safe(message: str, settings: Settings) -> str:
    """``message`` without server paths or store URIs (it is shown to API clients in 503 bodies and
    ``GET /v1/model``); the full message is logged."""
    home = str(settings.home)
    out = message.replace(home, "$TRENDML_HOME") if home not in ("", "/") else message
    return _LOCATION.sub("<server path>", out)


@dataclass(frozen=True)
class ActiveModel:
    model: Any
    name: str
    version: str
    loaded_at: datetime


class ModelManager:
    """Loads the severity model from the MLflow registry and keeps it current.

    Parameters
    ----------
    settings : where the registry is.
    embedder : the service's embedder; a model built for another embedder is refused.
    uri : pin one model URI (``models:/name/3``); default: follow the ``champion`` alias.
    interval_s : seconds between registry checks (0 disables the watcher).
    on_watch_swap : called as ``on_watch_swap(old, new)`` (two :class:`ActiveModel`, ``old`` may be
        None) after the watcher itself switched models, so the service can audit it as "watcher".
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Any,
        *,
        uri: str | None = None,
        interval_s: float = 30.0,
        on_watch_swap: Callable[[ActiveModel | None, ActiveModel], None] | None = None,
    ):
        self.settings = settings
        self.on_watch_swap = on_watch_swap
        self.embedder = embedder
        self.uri = uri
        self.interval_s = interval_s
        self.active: ActiveModel | None = None
        self.last_error: str | None = None
        self.swaps = 0
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ loading
    def refresh(self) -> bool:
        """Load the champion if it is not the active version; True when the model changed."""
        with self._reload_lock:
            try:
                return self._refresh()
            except Exception as exc:  # noqa: BLE001 - any registry/load failure keeps the old model
                logger.warning("model refresh failed: %s: %s", type(exc).__name__, exc)
                self.last_error = client_safe(f"{type(exc).__name__}: {exc}", self.settings)
                return False

    def _refresh(self) -> bool:
        from trendml.registry import champion_version, load_severity_model

        if self.uri is None:
            target = champion_version(self.settings)
            if target is None:
                self.last_error = (
                    "no model has the 'champion' alias in the registry; "
                    "expected a registered severity model; "
                    "run `trendml up` (or train and register one) first"
                )
                return False
            if self.active is not None and self.active.version == str(target):
                self.last_error = None
                return False
        elif self.active is not None:
            return False
        t0 = time.perf_counter()
        model, name, version = load_severity_model(self.uri, self.settings)
        model.check_embedder(self.embedder)
        old = self.active
        self.active = ActiveModel(
            model=model, name=str(name), version=str(version), loaded_at=datetime.now(UTC)
        )
        self.last_error = None
        if old is not None:
            self.swaps += 1
        logger.info(
            "severity model %s version %s loaded in %.1fs (was %s)",
            name,
            version,
            time.perf_counter() - t0,
            old.version if old else "none",
        )
        return True

    # ------------------------------------------------------------------ watcher
    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="trendml-model-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            before = self.active
            if self.refresh() and self.on_watch_swap is not None and self.active is not None:
                try:
                    self.on_watch_swap(before, self.active)
                except Exception:  # noqa: BLE001 - the swap happened; keep watching
                    logger.exception("recording the watcher's model swap failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
