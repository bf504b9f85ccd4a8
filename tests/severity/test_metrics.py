"""Metric functions on inputs small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trendml.severity import metrics as M


def test_f1s_by_hand():
    y = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 2, 0]
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fp0 fn1 -> 2/3
    assert M.per_class_f1(y, p) == pytest.approx({0: 0.5, 1: 0.8, 2: 2 / 3})
    assert M.macro_f1(y, p) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_macro_f1_ignores_classes_absent_from_truth():
    # predicting class 3 (absent from truth) costs recall of the true class, but 3 is not averaged in
    assert M.macro_f1([0, 1], [0, 3]) == pytest.approx((1.0 + 0.0) / 2)


def test_hate_f1_counts_threat_as_hate():
    y = [2, 2, 0, 1]
    p = [3, 2, 0, 2]  # 3 for a hateful row is a hit; 2 for an offensive row is a false positive
    # tp=2 fp=1 fn=0 -> 2*2/(2*2+1) = 0.8
    assert M.hate_f1(y, p) == pytest.approx(0.8)


def test_ovr_auc_and_hate_auc():
    y = np.array([0, 0, 2, 2])
    proba = np.array([[0.9, 0, 0.1, 0], [0.6, 0, 0.4, 0], [0.3, 0, 0.7, 0], [0.5, 0, 0.2, 0.3]])
    aucs = M.ovr_auc(y, proba)
    assert set(aucs) == {0, 2}
    # class 2 score: 0.1 0.4 | 0.7 0.2 -> pairs (0.7>0.1, 0.7>0.4, 0.2>0.1, 0.2<0.4) = 3/4
    assert aucs[2] == pytest.approx(0.75)
    # hate score sums 2 and 3: 0.1 0.4 | 0.7 0.5 -> 4/4
    assert M.hate_auc(y, proba) == pytest.approx(1.0)
    assert math.isnan(M.hate_auc([0, 0], proba[:2]))


def test_ece_by_hand():
    # two bins used: conf 0.9 (correct, correct) and conf 0.6 (wrong, correct)
    proba = np.array([[0.9, 0.1, 0, 0], [0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0], [0.4, 0.6, 0, 0]])
    y = np.array([0, 0, 1, 1])
    # bin 0.9: acc 1 conf .9 -> .1 * 2/4 ; bin 0.6: acc .5 conf .6 -> .1 * 2/4 ; total .1
    assert M.expected_calibration_error(y, proba, n_bins=10) == pytest.approx(0.1)
    perfect = np.eye(4)[[0, 1, 2, 3]]
    assert M.expected_calibration_error([0, 1, 2, 3], perfect) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        M.expected_calibration_error([], np.zeros((0, 4)))


def test_subgroup_auc_per_group():
    y = [2, 2, 0, 0, 2, 2, 0, 0, 2, 0]
    hate = [0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9, 0.1]
    proba = np.column_stack([1 - np.array(hate), np.zeros(10), hate, np.zeros(10)])
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    out = M.subgroup_auc(y, proba, groups)
    assert out == pytest.approx({"a": 1.0, "b": 0.0})  # "c" has one row per side: left out


def test_classification_report_keys():
    y = [0, 1, 2, 1]
    proba = np.eye(4)[[0, 1, 2, 0]] * 0.7 + 0.075
    rep = M.classification_report(y, proba)
    assert rep["macro_f1"] == pytest.approx(M.macro_f1(y, proba.argmax(1)))
    assert {"hate_f1", "ece", "macro_auc", "f1_0", "f1_2", "auc_1"} <= set(rep)
    assert M.confusion(y, proba.argmax(1)).sum() == 4


def test_recall_at_precision_by_hand():
    y = [1, 0, 1, 0, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]
    # cut after 0.9: P 1, R 1/3; after 0.7: P 2/3, R 2/3; after 0.1 (all): P 1/2, R 1
    assert M.recall_at_precision(y, s, 0.6) == pytest.approx(2 / 3)
    assert M.recall_at_precision(y, s, 0.5) == pytest.approx(1.0)
    assert M.recall_at_precision(y, s, 1.01) == 0.0
    # tied scores are cut together: {0.9, 0.9} has precision 1/2, all three 2/3
    assert M.recall_at_precision([1, 0, 1], [0.9, 0.9, 0.1], 0.7) == 0.0


def test_auc_at_least_and_threat_report():
    y = np.array([0, 1, 2, 3, 0, 3])
    proba = np.eye(4)[[0, 1, 2, 3, 1, 2]] * 0.7 + 0.075
    assert M.auc_at_least(y, proba, 1) == pytest.approx(
        __import__("sklearn.metrics").metrics.roc_auc_score(y >= 1, proba[:, 1:].sum(axis=1))
    )
    rep = M.threat_report(y == 3, proba[:, 3], threshold=0.5, n_boot=50)
    assert rep["n_pos"] == 2 and rep["rule_recall"] == 0.5 and rep["rule_precision"] == 1.0
    assert rep["auc_lo"] <= rep["auc"] <= rep["auc_hi"]
    assert math.isnan(M.auc_at_least([1, 1], proba[:2], 1))
