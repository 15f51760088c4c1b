"""Trivial baselines read from the sample's own input window."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from mrframe.data.baselines import (
    forecast_baselines,
    last_observed,
    persistence,
    seasonal_naive,
)
from mrframe.engine.baselines import MajorityClass
from mrframe.interfaces import TargetInfo
from mrframe.observed import Observed


def window(values):  # noqa: ANN001, ANN201
    return Observed.build(torch.tensor(values, dtype=torch.float32))


def test_persistence_carries_the_last_observed_value_of_each_feature():
    x = window([[[1.0, 5.0], [2.0, np.nan], [np.nan, np.nan]]])  # [1, T=3, F=2]
    info = TargetInfo("t", "s", "daily", ("a", "b"), horizon=3, span=2)
    out = persistence(x, np.array([0, 1]), info)
    assert out.shape == (1, 2, 2)
    assert out[0].tolist() == [[2.0, 5.0], [2.0, 5.0]]
    empty = persistence(window([[[np.nan]] * 3]), np.array([0]), TargetInfo("t", "s", "daily", ("a",), 1))
    assert empty.isnan().all()


def test_daily_seasonal_naive_uses_the_same_weekday_inside_the_window():
    days = np.arange(14, dtype=np.float32)  # value = position in the window; the anchor is position 13
    x = window(days.reshape(1, 14, 1))
    info = TargetInfo("t", "s", "daily", ("a",), horizon=8, span=8)  # days 1..8 after the anchor
    out = seasonal_naive(x, np.array([0]), info)[0, :, 0]
    # day k after the anchor sits at position 13 + k; one week earlier is 13 + k - 7, two weeks for k = 8
    assert out.tolist() == [7, 8, 9, 10, 11, 12, 13, 7]


def test_monthly_seasonal_naive_reaches_back_a_year_or_is_missing():
    months = np.arange(13, dtype=np.float32)  # positions 0..12, the last one is the month before the anchor's
    x = window(months.reshape(1, 13, 1))
    info = TargetInfo("t", "s", "monthly", ("a",), horizon=1, span=2)  # the anchor's month (0) and the next (1)
    assert seasonal_naive(x, np.array([0]), info)[0, :, 0].tolist() == [1.0, 2.0]
    short = window(months[:6].reshape(1, 6, 1))
    assert seasonal_naive(short, np.array([0]), info).isnan().all()  # a year back is outside the window


def test_majority_class_counts_observed_training_targets():
    counter = MajorityClass(3)
    counter.add(Observed.build(torch.tensor([[[2.0], [2.0], [np.nan], [1.0]]])))
    assert counter.majority == 2
    assert np.allclose(counter.prior, [0.0, 1 / 3, 2 / 3])


def test_moving_averages_are_ensembles_of_the_last_observed_values():
    x = window([[[1.0], [np.nan], [3.0], [4.0], [np.nan]]])  # [1, T=5, F=1]
    info = TargetInfo("t", "s", "daily", ("a",), horizon=2, span=2)
    assert last_observed(x, np.array([0]), 2)[0, 0].tolist() == [4.0, 3.0]  # the latest first
    three = last_observed(x, np.array([0]), 4)[0, 0]
    assert three[:3].tolist() == [4.0, 3.0, 1.0] and three[3].isnan()  # the window holds only three
    ensembles = forecast_baselines(x, np.array([0]), info)
    assert set(ensembles) == {"persistence", "seasonal_naive", "moving_average_7", "moving_average_28"}
    assert ensembles["moving_average_7"].shape == (1, 2, 1, 7) and ensembles["persistence"].shape == (1, 2, 1, 1)


def test_baselines_keep_a_region_axis():
    values = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2)  # [B, T, R, F]
    x = SimpleNamespace(values=values, mask=torch.ones_like(values, dtype=torch.bool))  # a spatial window
    info = TargetInfo("t", "s", "daily", ("a", "b"), horizon=1, span=1)
    assert persistence(x, np.array([0, 1]), info)[0, 0].tolist() == [[8.0, 9.0], [10.0, 11.0]]
    assert last_observed(x, np.array([1]), 2).shape == (1, 2, 1, 2)
