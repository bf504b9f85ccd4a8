"""Timestamped item streams with a planted campaign at a known window.

A *stream* is a stationary background (items sampled i.i.d. per window) plus a *campaign*
that starts at ``start_window`` and grows. Used by ``make run`` (the demo), the tests and
the trend benchmark, which knows exactly which items are the campaign and when it began.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from trendml.datasets.loaders import load_davidson, load_toxigen_seeds
from trendml.errors import InputError
from trendml.items import Item

logger = logging.getLogger(__name__)

DEFAULT_START = datetime(2026, 3, 1, tzinfo=UTC)
OTHER_REGIONS = ("GB", "CA", "AU", "IN", "IE", "NG", "PH", "NZ", "ZA", "DE")
SOURCES = ("video_comment", "video_caption", "live_chat", "profile_bio")
REASONS = ("harassment", "hateful_conduct", "violent_speech", "spam", "other")


@dataclass
class DemoStream:
    """A stream and its ground truth."""

    items: list[Item]
    severity: dict[str, int]
    campaign_ids: set[str]
    campaign_start: int
    window_starts: list[datetime]
    window: timedelta
    description: str = ""
    source_ids: dict[str, str] = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return len(self.window_starts)

    def window_of(self, item: Item) -> int:
        assert item.created_at is not None
        return int((item.created_at - self.window_starts[0]) // self.window)


def default_campaign_sizes(n_windows: int, start_window: int, per_window: int) -> list[int]:
    """0 before the start, then a linear ramp: 4%, 8%, 12%, ... of the background per window."""
    base = max(8, round(0.04 * per_window))
    return [0 if w < start_window else base * (w - start_window + 1) for w in range(n_windows)]


def plant_campaign(
    background: pd.DataFrame,
    campaign: pd.DataFrame,
    *,
    n_windows: int = 10,
    per_window: int = 300,
    start_window: int = 6,
    campaign_sizes: Sequence[int] | None = None,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    window: timedelta = timedelta(days=1),
    us_share_background: float = 0.6,
    us_share_campaign: float = 0.95,
    caption_share: float = 0.2,
    prefix: str = "s",
    description: str = "",
) -> DemoStream:
    """Build a stream from a background and a campaign table (columns ``id, text, severity``).

    Background rows are drawn without replacement while they last; campaign rows likewise,
    then repeated (abuse waves repeat content). Item ids do not reveal campaign membership.
    """
    if not 0 <= start_window < n_windows:
        raise InputError(
            f"start_window is {start_window}; expected 0 <= start_window < n_windows={n_windows}"
        )
    if background.empty or campaign.empty:
        raise InputError("background and campaign must both hold rows; expected non-empty tables")
    rng = np.random.default_rng(seed)
    sizes = list(campaign_sizes or default_campaign_sizes(n_windows, start_window, per_window))
    bg_order = rng.permutation(len(background))
    camp_order = rng.permutation(len(campaign))
    bg_pos = camp_pos = 0
    items: list[Item] = []
    severity: dict[str, int] = {}
    campaign_ids: set[str] = set()
    source_ids: dict[str, str] = {}
    window_starts = [start + w * window for w in range(n_windows)]

    for w in range(n_windows):
        rows: list[tuple[pd.Series, bool]] = []
        for _ in range(per_window):
            rows.append((background.iloc[bg_order[bg_pos % len(bg_order)]], False))
            bg_pos += 1
        for _ in range(sizes[w] if w < len(sizes) else 0):
            rows.append((campaign.iloc[camp_order[camp_pos % len(camp_order)]], True))
            camp_pos += 1
        order = rng.permutation(len(rows))
        offsets = np.sort(rng.uniform(0, window.total_seconds(), size=len(rows)))
        for k, (idx, off) in enumerate(zip(order, offsets, strict=True)):
            row, planted = rows[idx]
            item_id = f"{prefix}-{w:03d}-{k:05d}"
            us = rng.random() < (us_share_campaign if planted else us_share_background)
            region = "US" if us else str(rng.choice(OTHER_REGIONS))
            as_caption = rng.random() < caption_share
            text = str(row["text"])
            items.append(
                Item(
                    id=item_id,
                    text=None if as_caption else text,
                    caption=text if as_caption else None,
                    created_at=window_starts[w] + timedelta(seconds=float(off)),
                    region=region,
                    source=str(rng.choice(SOURCES)),
                    report_reason=str(rng.choice(REASONS)),
                )
            )
            severity[item_id] = int(row["severity"])
            source_ids[item_id] = str(row["id"])
            if planted:
                campaign_ids.add(item_id)
    logger.info("built stream: %d items, %d planted, %d windows", len(items), len(campaign_ids), n_windows)
    return DemoStream(
        items=items,
        severity=severity,
        campaign_ids=campaign_ids,
        campaign_start=start_window,
        window_starts=window_starts,
        window=window,
        description=description,
        source_ids=source_ids,
    )


DEMO_CAMPAIGN_GROUP = "lgbtq"


def recent_start(
    n_windows: int, window: timedelta = timedelta(days=1), *, now: datetime | None = None
) -> datetime:
    """Start time that makes ``n_windows`` whole windows end at the last window boundary before
    ``now`` (UTC midnight for daily windows): the demo then reads as "the last N days", so the
    daily and weekly reports and the dashboard's time filters have something to show."""
    now = now or datetime.now(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    boundary = epoch + ((now - epoch) // window) * window
    return boundary - n_windows * window


def build_demo_stream(
    *,
    n_windows: int = 10,
    per_window: int = 300,
    start_window: int = 6,
    campaign_group: str = DEMO_CAMPAIGN_GROUP,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    window: timedelta = timedelta(days=1),
) -> DemoStream:
    """The demo stream, from shipped data only (Davidson + ToxiGen seeds).

    Background: Davidson tweets plus ToxiGen statements about every other group. Campaign:
    ToxiGen hateful statements about ``campaign_group`` (held out of the background, also
    where the same statement is filed under another group), mostly posted from the US.
    """
    davidson = load_davidson()
    toxigen = load_toxigen_seeds()
    groups = sorted(toxigen["target_group"].unique())
    if campaign_group not in groups:
        raise InputError(f'campaign_group is "{campaign_group}"; expected one of {", ".join(groups)}')
    camp = toxigen[(toxigen["target_group"] == campaign_group) & (toxigen["severity"] >= 2)]
    camp = camp.drop_duplicates("text")
    held_out = set(toxigen.loc[toxigen["target_group"] == campaign_group, "text"])
    bg_toxigen = toxigen[~toxigen["text"].isin(held_out)].drop_duplicates("text")
    background = pd.concat([davidson[["id", "text", "severity"]], bg_toxigen[["id", "text", "severity"]]])
    return plant_campaign(
        background.reset_index(drop=True),
        camp.reset_index(drop=True),
        n_windows=n_windows,
        per_window=per_window,
        start_window=start_window,
        seed=seed,
        start=start,
        window=window,
        prefix="demo",
        description=f"Davidson + ToxiGen background; planted ToxiGen '{campaign_group}' hate campaign "
        f"from window {start_window}",
    )
