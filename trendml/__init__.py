"""trendml: severity pre-scores and emerging abuse-trend detection for Trust & Safety teams.

Data flows one way: ingest -> embed -> trend -> score -> serve. This package is the pure
library; ``training/`` and ``service/`` are thin shells over it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
