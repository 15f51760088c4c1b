"""NaN-aware metrics: drop and count non-finite pairs; undefined -> NaN with a warning, never a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from mrframe import metrics as M


def test_regression_metrics_drop_and_count_non_finite_pairs():
    y = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    p = np.array([1.5, np.inf, 3.0, 3.0, 5.0])
    mae = M.mae(y, p)
    assert (mae.n, mae.dropped) == (3, 2)
    assert mae.value == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert M.rmse(y, p).value == pytest.approx(math.sqrt((0.25 + 1.0) / 3))


def test_binary_metrics_match_sklearn_on_clean_pairs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    p = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    p_nan = p.copy()
    p_nan[:10] = np.nan
    assert M.roc_auc(y, p_nan).value == pytest.approx(skm.roc_auc_score(y[10:], p[10:]))
    assert M.roc_auc(y, p_nan).dropped == 10
    assert M.average_precision(y, p_nan).value == pytest.approx(skm.average_precision_score(y[10:], p[10:]))
    assert M.brier(y, p).value == pytest.approx(np.mean((p - y) ** 2))
    labels = (p >= 0.5).astype(float)
    assert M.accuracy(y, labels).value == pytest.approx(skm.accuracy_score(y, labels))
    assert M.macro_f1(y, labels).value == pytest.approx(skm.f1_score(y, labels, average="macro"))


def test_single_class_gives_nan_with_a_warning():
    y = np.zeros(5)
    with pytest.warns(M.MetricWarning, match="only class 0"):
        result = M.roc_auc(y, np.linspace(0, 1, 5))
    assert math.isnan(result.value) and result.n == 5
    with pytest.warns(M.MetricWarning):
        assert math.isnan(M.average_precision(y, np.linspace(0, 1, 5)).value)
    assert M.accuracy(y, np.zeros(5)).value == 1.0  # defined with one class
    with pytest.warns(M.MetricWarning, match="no finite pair"):
        empty = M.mae(np.array([np.nan]), np.array([1.0]))
    assert math.isnan(empty.value) and empty.dropped == 1


def test_multiclass_metrics():
    y = np.array([0, 1, 2, 2, 1, 0], dtype=float)
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1],
                  [np.nan, 0.5, 0.5]])
    auc = M.roc_auc(y, p)
    assert auc.dropped == 1 and 0.5 < auc.value <= 1.0
    assert M.brier(y[:5], p[:5]).value == pytest.approx(np.mean(np.sum((p[:5] - np.eye(3)[y[:5].astype(int)]) ** 2, 1)))
    with pytest.warns(M.MetricWarning, match="fewer than two classes"):
        assert math.isnan(M.roc_auc(np.zeros(3), np.full((3, 3), 1 / 3)).value)
