"""Labelled datasets, the common severity scale and the demo / planted-campaign stream builder.

Davidson (MIT), the ToxiGen seed statements (MIT / CDLA-Permissive-2.0) and a ToxicSpans subsample
(CC0, the threat level) ship inside this package (``data/``, with their licences). OLID and HatEval
are read from the shared data directory when present; their loaders raise
:class:`DatasetUnavailable` otherwise.
"""

from __future__ import annotations

from trendml.datasets.loaders import (
    DatasetUnavailable,
    load_dataset,
    load_davidson,
    load_hateval,
    load_olid,
    load_toxic_spans,
    load_toxigen_seeds,
)
from trendml.datasets.scale import SEVERITY_LABELS, SEVERITY_LEVELS
from trendml.datasets.stream import DemoStream, build_demo_stream, plant_campaign, recent_start

__all__ = [
    "SEVERITY_LABELS",
    "SEVERITY_LEVELS",
    "DatasetUnavailable",
    "DemoStream",
    "build_demo_stream",
    "load_dataset",
    "load_davidson",
    "load_hateval",
    "load_olid",
    "load_toxic_spans",
    "load_toxigen_seeds",
    "plant_campaign",
    "recent_start",
]
