"""Probabilistic scores and interval metrics against their definitions, NaN-aware like every metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mrframe import metrics as M
from mrframe.interfaces import Units
from mrframe.kinds.forecast import Point
from mrframe.scores import crps_ensemble, crps_gaussian, ensemble_columns, ensemble_quantile, pit_ensemble


def _crps_by_integral(cdf, y: float) -> float:  # noqa: ANN001
    z = np.linspace(-40.0, 40.0, 400001)
    f = (cdf(z) - (z >= y)) ** 2
    return float(np.sum((f[1:] + f[:-1]) / 2 * np.diff(z)))  # the trapezoid rule (np.trapezoid needs numpy 2)


@pytest.mark.parametrize("y", [0.0, 1.3, -2.5])
def test_gaussian_crps_is_the_integral_of_the_squared_cdf_difference(y):
    closed = crps_gaussian(torch.tensor(0.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64),
                           torch.tensor(y, dtype=torch.float64))
    cdf = lambda z: torch.special.ndtr(torch.from_numpy((z - 0.5) / 2.0)).numpy()  # noqa: E731
    assert float(closed) == pytest.approx(_crps_by_integral(cdf, y), rel=2e-4)  # the step at y costs O(grid)


def test_ensemble_scores_ignore_missing_members_and_match_their_definitions():
    members = torch.tensor([[1.0, 2.0, math.nan, 4.0], [3.0, math.nan, math.nan, math.nan],
                            [math.nan] * 4], dtype=torch.float64)
    y = torch.tensor([2.5, 1.0, 0.0], dtype=torch.float64)
    x = np.array([1.0, 2.0, 4.0])
    expected = np.mean(np.abs(x - 2.5)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))
    crps = crps_ensemble(members, y)
    assert crps[0].item() == pytest.approx(expected) and crps[1].item() == 2.0 and math.isnan(crps[2])
    assert crps[0].item() == pytest.approx(_crps_by_integral(lambda z: (x[:, None] <= z).mean(0), 2.5), rel=1e-4)
    assert pit_ensemble(members, torch.tensor([2.0, 3.0, 0.0], dtype=torch.float64))[:2].tolist() == [0.5, 0.5]
    assert ensemble_quantile(members, 0.9)[0].item() == pytest.approx(np.quantile(x, 0.9))
    columns = ensemble_columns(members, y)
    assert columns["prediction"][0].item() == pytest.approx(7 / 3) and math.isnan(columns["prediction"][2])
    assert columns["lower_90"][0] <= columns["upper_90"][0]


def test_interval_metrics_count_infinite_bounds_and_drop_nan_ones():
    y = np.array([0.0, 1.0, 5.0, 2.0])
    lower, upper = np.array([-1.0, -np.inf, 0.0, np.nan]), np.array([1.0, np.inf, 4.0, 3.0])
    coverage = M.coverage(y, lower, upper)
    assert coverage.value == pytest.approx(2 / 3) and coverage.n == 3 and coverage.dropped == 1
    assert M.width(y, lower, upper).value == math.inf


def test_the_interval_score_is_the_width_plus_2_over_alpha_times_each_miss():
    y = np.array([0.0, 5.0, -3.0, 2.0, 1.0])
    lower, upper = np.array([-1.0, 0.0, -1.0, np.nan, -np.inf]), np.array([1.0, 4.0, 1.0, 3.0, 2.0])
    score = M.interval_score(y, lower, upper, 90)
    assert (score.n, score.dropped) == (4, 1) and score.value == math.inf  # an infinite bound: infinite width
    finite = M.interval_score(y[:3], lower[:3], upper[:3], 90)
    assert finite.value == pytest.approx(np.mean([2.0, 4.0 + 20.0 * 1.0, 2.0 + 20.0 * 2.0]))
    assert M.interval_score(y[:3], lower[:3], upper[:3], 50).value == pytest.approx(np.mean([2.0, 8.0, 10.0]))
    # proper: for N(0, 1) targets the true 5 % / 95 % quantiles score better than narrower or wider bounds
    sample = np.random.default_rng(0).normal(size=200_000)
    scores = [M.interval_score(sample, np.full_like(sample, -z), np.full_like(sample, z), 90).value
              for z in (1.3, 1.6449, 2.0)]
    assert scores[1] < scores[0] and scores[1] < scores[2]
    columns = {"prediction": y[:3], "lower_90": lower[:3], "upper_90": upper[:3]}
    assert M.forecast_metrics(y[:3], columns)["interval_score_90"].value == pytest.approx(finite.value)


def test_ece_and_reliability_of_binary_and_multiclass_forecasts():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.1, 0.8, 0.95, 0.2, 0.05, 0.85, 0.15])
    assert M.ece(y, np.where(y == 1, 1.0, 0.0)).value == 0.0  # certain and right
    assert M.ece(y, np.full(8, 0.5)).value == pytest.approx(0.0)  # the base rate is 0.5
    assert M.ece(y, p).value == pytest.approx(np.mean(np.where(y == 1, 1 - p, p)), rel=1e-9)
    probabilities = np.stack([1 - p, p], axis=1)
    assert M.reliability(y, probabilities)["count"].sum() == 8


def test_every_multiclass_prediction_non_finite_gives_nan_metrics_not_a_traceback():
    """issue 15: evaluate crashed in roc_auc when no multiclass prediction was finite."""
    y = np.array([0.0, 1.0, 2.0])
    columns = {"prediction": np.full(3, np.nan), "probability": np.full(3, np.nan),
               **{f"p{c}": np.full(3, np.nan) for c in range(3)}}
    with pytest.warns(M.MetricWarning):
        out = M.classification_metrics(y, columns)
    assert all(math.isnan(m.value) and m.dropped == 3 for m in out.values())
    with pytest.warns(M.MetricWarning):
        assert math.isnan(M.roc_auc(y[:0], np.zeros((0, 3))).value)


def test_split_conformal_intervals_reach_their_level_on_exchangeable_residuals():
    generator = torch.Generator().manual_seed(0)
    shape = (2000, 2, 3)
    scale = torch.tensor([1.0, 5.0, 0.2], dtype=torch.float64)
    values = torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
    mask = torch.rand(*shape, generator=generator) < 0.9
    kind = Point()
    calibration = kind.calibrate(torch.zeros(shape, dtype=torch.float64), values, mask)
    assert calibration["halfwidth_90"].shape == (2, 3)
    new = torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
    half = calibration["halfwidth_90"]
    covered = (new.abs() <= half).double().mean().item()
    assert 0.88 <= covered <= 0.92
    few = kind.calibrate(torch.zeros(5, 1, 1, dtype=torch.float64), torch.ones(5, 1, 1, dtype=torch.float64),
                         torch.ones(5, 1, 1, dtype=torch.bool))
    assert few["halfwidth_90"].item() == math.inf and few["halfwidth_50"].item() == 1.0  # rank 6 of 5; rank 3
    none = kind.calibrate(torch.zeros(3, 1, 1, dtype=torch.float64), torch.ones(3, 1, 1, dtype=torch.float64),
                          torch.zeros(3, 1, 1, dtype=torch.bool))
    assert math.isnan(none["halfwidth_90"].item())


def test_a_point_forecast_s_crps_is_its_absolute_error_in_source_units():
    """So a point model's CRPS compares with a moving average's (an ensemble) and with a Gaussian model's."""
    units = Units(torch.tensor([10.0], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64),
                  torch.tensor([False]))
    prediction = torch.tensor([[[0.5], [math.nan]]], dtype=torch.float64)
    values = torch.tensor([[[-1.0], [0.0]]], dtype=torch.float64)
    crps = Point().scores(prediction, values, units)["crps"]
    assert crps[0, 0, 0].item() == pytest.approx(3.0) and math.isnan(crps[0, 1, 0])
    one_member = crps_ensemble(units(prediction)[..., None], units(values))
    assert torch.allclose(crps[0, 0], one_member[0, 0])
