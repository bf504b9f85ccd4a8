"""One small exception hierarchy: bad input vs missing model vs internal.

Every message follows one rule: what was received, what was expected, and the remedy,
in one sentence. The CLI turns :class:`TrendmlError` into exit code 2 and that sentence;
the service turns :class:`InputError` into an HTTP 4xx with ``{"error", "field", "detail"}``.
"""

from __future__ import annotations


class TrendmlError(Exception):
    """Base class of every error trendml raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class InputError(TrendmlError, ValueError):
    """The caller's data is malformed (bad item, bad file, bad option)."""


class ModelNotFoundError(TrendmlError, LookupError):
    """A model, registry entry or alias the caller asked for does not exist."""


class ModelMismatchError(TrendmlError):
    """A model was built for another embedder (or schema) than the one in use."""


class StateError(TrendmlError):
    """Stored state (database, cache, model file) is missing or corrupt."""


class InternalError(TrendmlError):
    """A bug in trendml: the caller did nothing wrong."""

    exit_code = 1


class ConflictError(TrendmlError):
    """The request contradicts what is stored (a taken name, content that differs from the
    stored item with the same id). HTTP 409."""
