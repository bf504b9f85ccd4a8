"""The triage priority rule: severity, raised one level when the item belongs to an emerging trend.

Priority 1 is most urgent, 4 least:

=================  ==========  ===============================
severity           no trend /  member of an *emerging* trend
                   known trend
=================  ==========  ===============================
3 threat/violent   1           1
2 hateful          2           1
1 offensive        3           2
0 none             4           3
=================  ==========  ===============================

Why: severity orders single items; a coordinated wave is worth seeing sooner than the same
content posted once, so membership in an emerging trend moves an item up exactly one level
(never past 1). Membership in a known, non-emerging trend changes nothing: that wave is
already on an analyst's desk.
"""

from __future__ import annotations

from trendml.errors import InputError

PRIORITY_LABELS = {1: "urgent", 2: "high", 3: "normal", 4: "low"}


def priority(severity: int, *, emerging: bool = False) -> int:
    """Priority (1 most urgent .. 4) of an item of ``severity`` (0..3)."""
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 3:
        raise InputError(f"severity is {severity!r}; expected an integer 0..3")
    level = 4 - severity
    if emerging:
        level -= 1
    return max(1, level)
