"""Prediction kinds: lookup with a suggestion, exact affine maps, clear errors where undefined, the head/loss
agreement check, and NaN predictions that stay NaN in every column (never class 0)."""

from __future__ import annotations

import math

import attrs
import pytest
import torch

from mrframe import kinds
from mrframe.errors import PluginError
from mrframe.interfaces import Head, Loss, TargetInfo, Units
from mrframe.kinds.forecast import Gaussian
from mrframe.scores import crps_ensemble, quantile_grid
from mrframe.testing import ConformanceError, check_prediction_kind

TARGET = TargetInfo("t", "s", "daily", ("a", "b"), horizon=3, span=3)


def example(name: str, seed: int = 0):  # noqa: ANN201
    prediction, values = kinds.get(name).example(TARGET, 5, torch.Generator().manual_seed(seed))
    detached = {k: v.detach().double() for k, v in prediction.items()} if isinstance(prediction, dict) \
        else prediction.detach().double()
    return detached, values.double()


def test_an_unknown_kind_is_refused_with_a_suggestion():
    with pytest.raises(PluginError, match="did you mean 'gaussian'"):
        kinds.get("gausian")


def test_gaussian_affine_is_the_distribution_of_shift_plus_scale_y():
    prediction, _ = example("gaussian")
    kind = kinds.get("gaussian")
    shift, scale = torch.tensor([1.0, -3.0], dtype=torch.float64), torch.tensor([2.0, -0.5], dtype=torch.float64)
    moved = kind.affine(prediction, shift, scale)
    torch.testing.assert_close(moved["mean"], shift + scale * prediction["mean"])
    torch.testing.assert_close(torch.exp(moved["log_var"]), scale.square() * torch.exp(prediction["log_var"]))
    # the 90 % interval of the moved Gaussian is the moved interval (scale > 0)
    identity = Units.identity(2)
    positive = kind.affine(prediction, shift, scale.abs())
    torch.testing.assert_close(kind.columns(positive, identity)["upper_90"],
                               shift + scale.abs() * kind.columns(prediction, identity)["upper_90"])


def test_point_affine_and_undefined_maps_raise_clear_errors():
    prediction, _ = example("point")
    assert torch.equal(kinds.get("point").affine(prediction, 2.0, 3.0), 2.0 + 3.0 * prediction)
    for name in ("binary", "classes", "zinb"):
        with pytest.raises(PluginError, match=f"prediction kind '{name}'.*cannot be rescaled"):
            kinds.get(name).affine(example(name)[0], 0.0, 2.0)


def test_covariance_affine_scales_rows_and_columns_and_refuses_a_scale_varying_over_the_span():
    kind = kinds.get("covariance")
    matrix = torch.eye(2, dtype=torch.float64).expand(4, 2, 2) * 2.0
    moved = kind.affine({"covariance": matrix}, 5.0, torch.tensor([1.0, 3.0], dtype=torch.float64))
    assert moved["covariance"][0].tolist() == [[2.0, 0.0], [0.0, 18.0]]
    varying = torch.tensor([[[1.0, 1.0]], [[2.0, 2.0]]], dtype=torch.float64).transpose(0, 1)  # [1, 2, 2]
    with pytest.raises(PluginError, match="same at every step"):
        kind.affine({"covariance": matrix, "mean": torch.zeros(4, 2, 2, dtype=torch.float64)}, 0.0, varying)


def test_nan_logits_give_no_class_and_nan_probabilities():
    prediction, _ = example("classes")
    prediction["logits"][0, 0, 0] = torch.nan
    columns = kinds.get("classes").columns(prediction, Units.identity(2))
    assert math.isnan(columns["prediction"][0, 0, 0]) and math.isnan(columns["p0"][0, 0, 0])
    assert torch.isfinite(columns["prediction"][1:]).all()
    assert math.isnan(kinds.get("classes").point(prediction)[0, 0, 0])


def test_gaussian_scores_are_closed_form_under_affine_units_and_close_to_it_otherwise():
    prediction, values = example("gaussian")
    kind = kinds.get("gaussian")
    affine = Units(torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([2.0, 3.0], dtype=torch.float64),
                   torch.zeros(2, dtype=torch.bool))
    exact = kind.scores(prediction, values, affine)["crps"]
    sampled = crps_ensemble(affine(kind.quantile(prediction, quantile_grid()), feature_dim=-2), affine(values))
    torch.testing.assert_close(sampled, exact, rtol=5e-3, atol=1e-6)
    counts = Units(affine.shift, affine.scale, torch.tensor([True, False]))  # log1p: no closed form any more
    scores = kind.scores(prediction, values, counts)
    assert (scores["crps"] >= 0).all() and torch.equal(scores["pit"], kind.scores(prediction, values, affine)["pit"])
    torch.testing.assert_close(scores["crps"][..., 1], exact[..., 1], rtol=5e-3, atol=1e-6)


@attrs.frozen
class _Nothing:
    pass


class _GaussianHead(Head):
    Config = _Nothing
    prediction_kind = "gaussian"


class _PointLoss(Loss):
    Config = _Nothing


class _Quantiles(Head):
    Config = _Nothing
    prediction_kind = "quantilez"


def test_a_head_and_a_loss_of_different_kinds_are_named_with_the_fix():
    assert kinds.disagreement(_GaussianHead, _Nothing(), _PointLoss) is not None
    why = kinds.disagreement(_GaussianHead, _Nothing(), _PointLoss, "head 'g'", "loss 'mse'")
    fitting = kinds.losses_for("gaussian")  # the installed losses of Gaussian predictions, named as the fix
    listed = f" ({', '.join(fitting)})" if fitting else ""
    assert why == ("loss 'mse' takes 'point' predictions, but head 'g' predicts 'gaussian': choose a loss for "
                   f"'gaussian' predictions{listed} or a head (setting) that predicts 'point'")
    assert "no installed prediction kind" in kinds.disagreement(_Quantiles, _Nothing(), _PointLoss)
    _PointLoss.also_accepts = ("gaussian",)
    try:
        assert kinds.disagreement(_GaussianHead, _Nothing(), _PointLoss) is None
    finally:
        _PointLoss.also_accepts = ()


def test_kinds_are_listed_and_shown_like_every_plugin():
    from click.testing import CliRunner

    from mrframe.cli import cli

    listed = CliRunner().invoke(cli, ["plugins", "--kind", "prediction-kind"])
    assert listed.exit_code == 0 and "gaussian" in listed.output and "mrframe.prediction_kinds" in listed.output
    shown = CliRunner().invoke(cli, ["plugins", "show", "zinb", "--kind", "prediction-kind"])  # also a loss
    assert shown.exit_code == 0 and "config: no keys" in shown.output


def test_units_rescaled_per_element_map_quantiles_and_interval_bounds_exactly():
    units = Units(torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([2.0, 0.5], dtype=torch.float64),
                  torch.tensor([False, True]))
    scale = torch.rand(5, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    values = torch.randn(5, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(units.scaled(scale)(values), units(scale * values))
    ensemble = torch.randn(5, 3, 2, 4, dtype=torch.float64)
    torch.testing.assert_close(units.scaled(scale)(ensemble, feature_dim=-2), units(scale.unsqueeze(-1) * ensemble,
                                                                                   feature_dim=-2))
    # conformal intervals computed on normalised predictions, mapped back: units(y_hat -/+ h * scale)
    point = kinds.get("point")
    half = torch.full((3, 2), 0.7, dtype=torch.float64)
    columns = point.columns(values / scale, units.scaled(scale), {"halfwidth_50": half, "halfwidth_90": 2 * half})
    torch.testing.assert_close(columns["lower_90"], units(values - 1.4 * scale))


class _NegativeCRPS(Gaussian):
    name = "gaussian"

    def scores(self, prediction, values, units):  # noqa: ANN001, ANN201
        return {k: -v if k == "crps" else v for k, v in super().scores(prediction, values, units).items()}


class _CrossedIntervals(Gaussian):
    name = "gaussian"

    def columns(self, prediction, units, calibration=None):  # noqa: ANN001, ANN201
        out = super().columns(prediction, units, calibration)
        out["lower_50"], out["lower_90"] = out["lower_90"], out["lower_50"]
        return out


@pytest.mark.parametrize(("kind", "message"), [
    (_NegativeCRPS, "score 'crps' must be >= 0"),
    (_CrossedIntervals, "the central 50 % interval must lie inside the 90 % one"),
])
def test_the_kit_catches_a_negative_crps_and_crossed_intervals(kind, message):
    with pytest.raises(ConformanceError, match=message):
        check_prediction_kind(kind)
