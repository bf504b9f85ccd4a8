"""Backtest and shadow mode (issue 16): a window-by-window replay through the real detector and the
alert rules, scored against a truth file; the CLI on the small demo stream (cached embeddings)."""

from __future__ import annotations

import json

import pytest
from conftest import DAY, T0, make_blob_stream

from tests.conftest import call
from trendml.backtest import TruthScenario, compare, load_truth, onsets_from_items, replay, score
from trendml.errors import InputError
from trendml.policy import AlertRule

RULES = [
    AlertRule(name="emerging", when="trend_emerging", min_size=10),
    AlertRule(name="new", when="trend_new", min_size=20),
]


@pytest.fixture(scope="module")
def wave():
    """Two stationary blobs; blob ``n`` starts in window 3 and grows (the scenario)."""
    return make_blob_stream({"a": [30] * 5, "b": [30] * 5, "n": [0, 0, 0, 20, 60]}, seed=11)


def test_replay_scores_time_to_first_alert_and_precision(wave):
    truth = onsets_from_items(wave.items, [TruthScenario("wave", frozenset(wave.ids_of("n")))])
    assert truth[0].start is not None and truth[0].start >= T0 + 3 * DAY
    alerts, starts, length = replay(wave.items, wave.x, RULES, detector={"window": "1d"})
    assert len(starts) == 5 and length == DAY
    assert len({(a.rule, a.trend_id) for a in alerts}) == len(alerts)  # one alert per rule and trend
    rep = score(alerts, starts, length, truth, k=3)
    row = rep["scenarios"][0]
    assert row["onset_window"] == 3
    assert row["time_to_first_alert_windows"] is not None and 0 <= row["time_to_first_alert_windows"] <= 2
    assert row["time_to_first_alert_hours"] == 24 * row["time_to_first_alert_windows"]
    # from the onset on, the stationary blobs raise nothing new: every alert there is the wave's
    assert row["precision_at_3"] == 1.0
    # over the whole run the window-0 "new" alerts of the stationary blobs are false positives
    assert rep["precision_all"] < 1.0 and rep["n_alerts"] == len(alerts)
    # shadow pairing (the CLI test runs a real shadow config): same rule and mostly the same members
    from dataclasses import replace

    wave_alert = next(a for a in alerts if a.purity(truth[0].item_ids) >= 0.5)
    later = replace(
        wave_alert,
        window=wave_alert.window + 1,
        trend_id="other-id",
        members=frozenset(sorted(wave_alert.members)[1:]),
    )
    other_rule = replace(wave_alert, rule="new")
    diff = compare([wave_alert], [later, other_rule])
    assert diff["both"] == 1 and diff["later_in_shadow"] == 1 and diff["only_live"] == []
    assert [d["rule"] for d in diff["only_shadow"]] == ["new"]
    diff = compare([wave_alert], [])
    assert diff["both"] == 0 and len(diff["only_live"]) == 1


def test_truth_file_errors_name_the_key(tmp_path):
    p = tmp_path / "t.json"
    for obj, key in (
        ({}, "scenarios"),
        ({"scenarios": [{"name": "x", "item_ids": []}]}, "scenarios[0].item_ids"),
        ({"scenarios": [{"name": "x", "item_ids": ["a"], "start": "soon"}]}, "scenarios[0].start"),
        ({"scenarios": [{"name": "x", "item_ids": ["a"], "onset": 1}]}, "scenarios[0]"),
    ):
        p.write_text(json.dumps(obj))
        with pytest.raises(InputError) as err:
            load_truth(p)
        assert err.value.field == key


def test_backtest_cli_with_shadow_on_the_small_stream(
    home, small_stream, small_stream_vectors, tmp_path, capsys
):
    from trendml.config import Settings
    from trendml.embed import EmbeddingCache
    from trendml.embed.base import embedder_id
    from trendml.embed.sentence import SentenceTransformerEmbedder
    from trendml.text import content_hash

    cache = EmbeddingCache(Settings(home=home).embedding_cache_path)  # no text is embedded again
    cache.put_many(
        embedder_id(SentenceTransformerEmbedder()),
        [content_hash(it.content) for it in small_stream.items],
        small_stream_vectors,
    )
    cache.close()
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(it.model_dump_json(exclude_none=True) + "\n" for it in small_stream.items))
    truth = tmp_path / "truth.json"
    truth.write_text(
        json.dumps({"scenarios": [{"name": "planted", "item_ids": sorted(small_stream.campaign_ids)}]})
    )
    import yaml

    from trendml.policy import DEFAULT_POLICY_PATH

    pol = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    pol["alerts"] = [
        {"name": "emerging", "when": "trend_emerging", "min_size": 5, "notify": ["analysts"]},
        {"name": "new", "when": "trend_new", "min_size": 10, "notify": ["analysts"]},
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(pol))
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text("window: 1d\nmin_cluster_size: 40\n")
    out = tmp_path / "report.json"
    code, stdout, err = call(
        capsys,
        "backtest",
        str(stream),
        "--truth",
        str(truth),
        "--shadow",
        str(shadow),
        "--policy",
        str(policy),
        "--k",
        "3",
        "-o",
        str(out),
    )
    assert code == 0, err[-500:]
    rep = json.loads(out.read_text())
    row = rep["live"]["scenarios"][0]
    assert row["scenario"] == "planted" and row["onset_window"] == 3
    # the campaign (onset 3) is alerted on (emerging or new) within two windows of its onset
    assert row["time_to_first_alert_windows"] is not None and row["time_to_first_alert_windows"] <= 2, rep[
        "live"
    ]
    assert {"only_live", "only_shadow", "both"} <= set(rep["diff"]) and "shadow" in rep
    assert "planted: first alert" in stdout + err
    truth.write_text(json.dumps({"scenarios": [{"name": "planted", "item_ids": ["not-in-stream"]}]}))
    code, _, err = call(capsys, "backtest", str(stream), "--truth", str(truth), "--policy", str(policy))
    assert code == 2 and "none of its item_ids" in err
