from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import shared_data_or_skip
from trendml.datasets import (
    DatasetUnavailable,
    build_demo_stream,
    load_davidson,
    load_hateval,
    load_olid,
    load_toxic_spans,
    load_toxigen_seeds,
)
from trendml.datasets.loaders import shipped_data_dir


def test_shipped_datasets_carry_their_licences():
    root = shipped_data_dir()
    assert "MIT License" in (root / "davidson" / "LICENSE").read_text()
    lic = (root / "toxigen_seeds" / "LICENSE.txt").read_text()
    assert "MIT License" in lic and "Community Data License Agreement" in lic


def test_shipped_toxic_spans_subsample_carries_licence_and_notice():
    root = shipped_data_dir() / "toxic_spans"
    assert "CC0 1.0 Universal" in (root / "LICENSE").read_text()
    notice = (root / "NOTICE.md").read_text()
    assert "ipavlopoulos/toxic_spans" in notice and "CC0" in notice
    assert (root / "toxic_spans_tidy.csv").stat().st_size < 2_000_000  # a few MB at most


def test_toxic_spans_loader_matches_the_notice():
    df = load_toxic_spans()
    # every threat and identity-attack row of the tidy file, 3,000 of its 15,606 toxic rows
    assert Counter(df["severity"]) == {3: 121, 2: 373, 1: 3_000}
    assert Counter(zip(df["split"], df["severity"], strict=True))[("test", 3)] == 30
    assert df["id"].is_unique and df["id"].str.startswith("toxic_spans:").all()
    # the severity follows the documented rater-share rule
    threat = df["n_threat"] / df["n_annotators"] >= 0.5
    assert ((df["severity"] == 3) == threat).all()
    ia = ~threat & (df["n_identity_attack"] / df["n_annotators"] >= 0.5)
    assert ((df["severity"] == 2) == ia).all()


def test_toxic_spans_keeps_its_official_test_split():
    from trendml.severity.splits import assign_splits

    df = load_toxic_spans()
    assert (assign_splits(df).to_numpy() == df["split"].to_numpy()).all()


def test_davidson_loader_matches_documented_counts():
    df = load_davidson()
    assert len(df) == 24_783
    assert Counter(df["severity"]) == {1: 19_190, 0: 4_163, 2: 1_430}
    assert {"n_hate", "n_offensive", "n_neither", "n_annotators"} <= set(df.columns)
    assert df["id"].is_unique and df["id"].str.startswith("davidson:").all()


def test_toxigen_loader():
    df = load_toxigen_seeds()
    assert len(df) == 722
    assert set(df["severity"]) == {0, 2}
    assert df["target_group"].nunique() == 16


def test_shared_loaders_read_when_present():
    shared = shared_data_or_skip()
    olid, hateval = load_olid(shared), load_hateval(shared)
    assert len(olid) == 14_100 and set(olid["severity"]) == {0, 1, 2}
    assert len(hateval) == 12_960 and set(hateval["severity"]) == {0, 2, 3}
    assert set(hateval["split"]) == {"train", "dev", "test"}


def test_shared_loaders_say_how_to_fix_a_missing_folder(tmp_path: Path):
    with pytest.raises(DatasetUnavailable, match="TRENDML_SHARED_DATA"):
        load_olid(tmp_path)


def test_demo_stream_plants_a_growing_us_campaign_at_a_known_window():
    s = build_demo_stream(n_windows=8, per_window=100, start_window=5, seed=3)
    per_window = Counter(s.window_of(it) for it in s.items if it.id in s.campaign_ids)
    assert set(per_window) == {5, 6, 7}
    assert per_window[5] < per_window[6] < per_window[7]
    assert all(s.severity[i] == 2 for i in s.campaign_ids)
    camp_us = sum(it.region == "US" for it in s.items if it.id in s.campaign_ids) / len(s.campaign_ids)
    bg = [it for it in s.items if it.id not in s.campaign_ids]
    bg_us = sum(it.region == "US" for it in bg) / len(bg)
    assert camp_us > bg_us + 0.2
    # the campaign's statements never appear in the background
    camp_texts = {it.content for it in s.items if it.id in s.campaign_ids}
    assert not camp_texts & {it.content for it in bg}
    times = [it.created_at for it in s.items]
    assert times == sorted(times) and len({it.id for it in s.items}) == len(s.items)


def test_demo_stream_is_deterministic():
    a = build_demo_stream(n_windows=3, per_window=20, start_window=1, seed=5)
    b = build_demo_stream(n_windows=3, per_window=20, start_window=1, seed=5)
    assert a.items == b.items


def test_recent_start_ends_the_demo_at_the_last_midnight():
    from datetime import UTC, datetime, timedelta

    from trendml.datasets import recent_start

    now = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    start = recent_start(10, now=now)
    assert start == datetime(2026, 11, 15, tzinfo=UTC)
    assert start + 10 * timedelta(days=1) <= now
    assert recent_start(4, timedelta(hours=6), now=now) == datetime(2026, 11, 24, 12, tzinfo=UTC)
