"""One realistic stream of ``bench_trends`` as arrays, for the issue-#12 signal experiments
(``trends_density_diag``, ``trends_density_members``, ``trends_signal_table``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import bench_trends as bt
from trendml.embed.base import embed_items


@dataclass
class StreamArrays:
    grid: Any  # the grid point (window size and length, onset, ramp)
    stream: Any  # bench_trends' stream (items, campaign ids, windows)
    vectors: np.ndarray  # (n, dim) unit-length embeddings, stream order
    window: np.ndarray  # (n,) window index of each item
    campaign: np.ndarray  # (n,) True for campaign items


def realistic_stream(scenario: Any, seed: int, names: list[str], embedder: Any) -> StreamArrays:
    """Seed ``seed`` of a realistic ``scenario`` (``names``: the realistic scenarios' names, in the
    order ``bench_trends.load_scenarios`` gives them, which fixes the grid point)."""
    grid = bt.grid_point(names.index(scenario.name), seed)
    st = bt.build_stream(scenario, seed, grid)
    x = embed_items(st.items, embedder)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    win = np.array([st.window_of(it) for it in st.items])
    camp = np.array([it.id in st.campaign_ids for it in st.items])
    return StreamArrays(grid=grid, stream=st, vectors=x, window=win, campaign=camp)
