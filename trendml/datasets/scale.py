"""The common severity scale (see ``docs/data.md`` and ``../shared/data/DATA.md``)."""

from __future__ import annotations

SEVERITY_LEVELS = (0, 1, 2, 3)
SEVERITY_LABELS = {
    0: "none",
    1: "offensive",
    2: "hateful",
    3: "threat/violent",
}
