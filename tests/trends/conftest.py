"""Synthetic blob streams for exact properties of the trend engine (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from trendml.items import Item

DIM = 16
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class BlobStream:
    items: list[Item]
    x: np.ndarray
    blob_of: dict[str, str] = field(default_factory=dict)  # item id -> blob name

    def window(self, w: int) -> tuple[list[Item], np.ndarray]:
        pos = [
            i
            for i, it in enumerate(self.items)
            if it.created_at is not None and (it.created_at - T0) // DAY == w
        ]
        return [self.items[i] for i in pos], self.x[pos]

    def ids_of(self, blob: str, w: int | None = None) -> set[str]:
        return {
            it.id
            for it in self.items
            if self.blob_of.get(it.id) == blob and (w is None or (it.created_at - T0) // DAY == w)
        }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def make_blob_stream(
    sizes: dict[str, list[int]],
    *,
    centers: dict[str, np.ndarray | list[np.ndarray]] | None = None,
    n_noise: int = 15,
    spread: float = 0.03,
    seed: int = 0,
    us_share: dict[str, float] | None = None,
) -> BlobStream:
    """``sizes[blob][w]`` items of each blob per daily window, plus ``n_noise`` scattered items.

    ``centers[blob]`` is one centre, or one per window (to move, split or merge blobs).
    Each blob has its own words, so c-TF-IDF keywords can be checked.
    """
    rng = np.random.default_rng(seed)
    n_windows = max(len(v) for v in sizes.values())
    base = {b: _unit(rng.normal(size=DIM)) for b in sizes}
    centers = centers or {}
    us_share = us_share or {}
    items: list[Item] = []
    vecs: list[np.ndarray] = []
    blob_of: dict[str, str] = {}
    for w in range(n_windows):
        rows: list[tuple[str, np.ndarray]] = []
        for b, per_w in sizes.items():
            k = per_w[w] if w < len(per_w) else 0
            c = centers.get(b, base[b])
            if isinstance(c, list):
                c = c[min(w, len(c) - 1)]
            for _ in range(k):
                rows.append((b, _unit(np.asarray(c) + rng.normal(scale=spread, size=DIM))))
        for _ in range(n_noise):
            rows.append(("noise", _unit(rng.normal(size=DIM))))
        order = rng.permutation(len(rows))
        for j, r in enumerate(order):
            b, v = rows[r]
            iid = f"w{w}-{j:04d}"
            words = " ".join(f"{b}word{rng.integers(3)}" for _ in range(4)) if b != "noise" else f"misc{j}"
            region = "US" if rng.random() < us_share.get(b, 0.5) else "GB"
            items.append(
                Item(
                    id=iid,
                    text=f"{words} common text",
                    created_at=T0 + w * DAY + timedelta(minutes=j),
                    region=region,
                )
            )
            vecs.append(v)
            blob_of[iid] = b
    return BlobStream(items=items, x=np.asarray(vecs, dtype=np.float32), blob_of=blob_of)


def trend_of(result, ids: set[str]) -> dict[str, int]:
    """Trend id -> number of ``ids`` it holds, over all windows of a result."""
    out: dict[str, int] = {}
    for w in result.windows:
        for t in w.trends:
            k = len(ids & set(t["member_ids"]))
            if k:
                out[t["trend_id"]] = out.get(t["trend_id"], 0) + k
    return out


def main_trend(result, w: int, ids: set[str]) -> dict:
    """The trend of window ``w`` holding most of ``ids``."""
    best = max(result.windows[w].trends, key=lambda t: len(ids & set(t["member_ids"])))
    assert len(ids & set(best["member_ids"])) >= 0.8 * len(ids), "blob not recovered as one trend"
    return best


@pytest.fixture(scope="module")
def basic_stream() -> BlobStream:
    """Three stationary blobs for 6 windows, a new blob from window 3, one blob growing from window 4."""
    return make_blob_stream(
        {
            "a": [40] * 6,
            "b": [40] * 6,
            "g": [30, 30, 30, 30, 90, 180],
            "n": [0, 0, 0, 40, 60, 80],
        },
        us_share={"n": 0.97},
        seed=3,
    )
