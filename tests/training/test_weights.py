"""Base-learner row weights (config ``base_weights``, ``threat_soft_labels: base``) by hand, and the
config refusing malformed values before any run. Pure: no model, no store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import load_config, validate_config
from training.data import dataset_weights, fit_weights, threat_head_weights, threat_threshold_rows
from trendml.errors import InputError


def _train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": [
                "davidson",
                "augment",
                "toxigen_seeds",
                "toxigen_seeds",
                "toxic_spans",
                "toxic_spans_soft",
            ],
            "severity": [1, 0, 0, 2, 3, 1],
            "row_weight": [1.0, 1.0, 1.0, 1.0, 0.6, 0.4],
        }
    )


def test_dataset_weights_specific_key_wins():
    w = dataset_weights(_train(), {"augment": 3.0, "toxigen_seeds": 2.0, "toxigen_seeds.0": 5.0})
    np.testing.assert_array_equal(w, [1.0, 3.0, 5.0, 2.0, 1.0, 1.0])


def test_fit_weights_default_is_the_row_weights_for_both():
    sw, bw = fit_weights(_train(), {"annotator_weights": False, "threat_soft_labels": True})
    np.testing.assert_array_equal(sw, [1.0, 1.0, 1.0, 1.0, 0.6, 0.4])
    assert bw is None


def test_soft_labels_for_the_bases_only_and_multipliers():
    cfg = {"annotator_weights": False, "threat_soft_labels": "base", "base_weights": {"augment": 3.0}}
    sw, bw = fit_weights(_train(), cfg)
    # the stacker: each ToxicSpans post once, majority label, full weight; the soft twin not at all
    np.testing.assert_array_equal(sw, [1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    # the bases: the rater shares, and augment rows x3
    np.testing.assert_array_equal(bw, [1.0, 3.0, 1.0, 1.0, 0.6, 0.4])


def test_threat_head_weights_multiply_the_base_weights():
    train = _train()
    assert threat_head_weights(train, {}, None, None) is None  # none set: the head uses the bases' weights
    cfg = {"threat_head_weights": {"davidson": 0.0, "augment": 2.0}}
    np.testing.assert_array_equal(threat_head_weights(train, cfg, None, None), [0, 2, 1, 1, 1, 1])
    sw, bw = np.full(6, 0.5), np.full(6, 3.0)
    np.testing.assert_array_equal(threat_head_weights(train, cfg, sw, None), [0, 1, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(threat_head_weights(train, cfg, sw, bw), [0, 6, 3, 3, 3, 3])


def test_threat_threshold_rows_are_one_datasets_posts():
    train = _train()
    assert threat_threshold_rows(train, {}) is None  # unset: all rows
    rows = threat_threshold_rows(train, {"threat_threshold_on": "toxic_spans"})
    np.testing.assert_array_equal(rows, [False, False, False, False, True, False])  # not the soft twin
    # a dataset without threat rows in this run's data (e.g. --data davidson,...): all rows
    assert threat_threshold_rows(train, {"threat_threshold_on": "davidson"}) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"threat_soft_labels": "soft"},
        {"base_weights": {"augment": "x"}},
        {"base_weights": {"augment": -1}},
        {"threat_head_weights": {"davidson": -1}},
        {"threat_threshold_on": 3},
    ],
)
def test_config_refuses_malformed_weights(bad):
    with pytest.raises(InputError, match="expected"):
        validate_config(load_config(None, **bad))
