"""Window scaling, anchored targets and their frames: statistics of the sample's own window only, exact
inversion, and an anchored head that predicts its baseline exactly before it has learned anything."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mrframe import kinds
from mrframe.data.anchoring import parse_anchor
from mrframe.data.baselines import forecast_baselines
from mrframe.data.frames import Frame
from mrframe.data.pipeline import prepare
from mrframe.data.window_scaling import quantiles, window_statistics
from mrframe.errors import SpecError
from mrframe.interfaces import TargetInfo
from mrframe.model import AssembledModel
from mrframe.observed import Observed

pytestmark = pytest.mark.plugins

FRAMED = {
    "data": {"window_scaling": "robust", "preprocess": {"monthly": {"window_scaling": "zscore"}}},
    "heads": {"week": {"target": {"anchor": "moving_average:7"}}},
}


def test_window_statistics_read_only_observed_values_and_handle_empty_and_flat_windows():
    nan = np.nan
    window = np.array([[[1.0, nan, 4.0], [3.0, nan, 4.0], [nan, nan, 4.0], [5.0, nan, 4.0]]])  # [1, T=4, F=3]
    center, spread = window_statistics(window, "zscore", min_spread=0.5)
    assert center.shape == spread.shape == (1, 1, 3)
    assert center[0, 0].tolist() == [3.0, 0.0, 4.0]  # mean of 1, 3, 5; nothing observed: 0; flat: 4
    assert spread[0, 0].tolist() == pytest.approx([np.std([1.0, 3.0, 5.0]), 1.0, 0.5])  # flat: min_spread
    center, spread = window_statistics(window, "robust", min_spread=0.5)
    assert center[0, 0].tolist() == [3.0, 0.0, 4.0]  # median
    assert spread[0, 0, 0] == pytest.approx((4.0 - 2.0) / 1.349)  # IQR of 1, 3, 5 is 2
    assert window_statistics(window, "none", 0.5)[1].tolist() == [[[1.0, 1.0, 1.0]]]


def test_fast_quantiles_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 30, 5))
    x[rng.random(x.shape) < 0.4] = np.nan
    x[0, :, 0] = np.nan
    x[1, :, 1] = np.nan
    x[1, 3, 1] = 2.0  # a single observation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(x, [0.1, 0.5, 0.9], axis=1, keepdims=True)
    for mine, reference in zip(quantiles(x, (0.1, 0.5, 0.9)), expected, strict=True):
        np.testing.assert_allclose(mine, reference, equal_nan=True)


def test_anchor_baselines_are_the_evaluations_baselines():
    window = np.arange(14, dtype=np.float64).reshape(1, 14, 1)  # value = position; the anchor is position 13
    window[0, 12] = np.nan
    info = TargetInfo("t", "s", "daily", ("a",), horizon=8, span=8)
    assert parse_anchor("persistence").baseline(window, info)[0, :, 0].tolist() == [13.0] * 8
    assert parse_anchor("moving_average:3").baseline(window, info)[0, 0, 0] == (10.0 + 11.0 + 13.0) / 3
    ensembles = forecast_baselines(Observed.build(torch.from_numpy(window)), np.array([0]), info)
    assert parse_anchor("moving_average:7").baseline(window, info)[0, 0, 0] == np.nanmean(
        ensembles["moving_average_7"][0, 0, 0].numpy())  # the last 7 observed values, as the evaluation's
    naive = parse_anchor("seasonal_naive").baseline(window, info)[0, :, 0]  # day k at 13 + k; back 1 or 2 weeks
    np.testing.assert_array_equal(naive, [7.0, 8.0, 9.0, 10.0, 11.0, np.nan, 13.0, 7.0])
    np.testing.assert_array_equal(naive, ensembles["seasonal_naive"][0, :, 0, 0].numpy())
    assert np.isnan(parse_anchor("moving_average:3").baseline(np.full((1, 5, 1), np.nan), info)).all()
    assert parse_anchor("seasonal_naive").reach(info) == 7
    assert parse_anchor("moving_average:28").reach(info) == 28
    assert parse_anchor("none") is None


@pytest.mark.parametrize("text", ["mean:7", "moving_average:0", "moving_average", "Persistence"])
def test_unknown_anchors_are_spec_errors_that_list_the_choices(make_spec, text):
    with pytest.raises(SpecError, match=r"heads\.week\.target\.anchor: unknown anchor .*moving_average:K"):
        make_spec({"heads": {"week": {"target": {"anchor": text}}}})


def test_anchors_need_normalised_targets_and_a_long_enough_window(make_spec):
    with pytest.raises(SpecError, match=r"heads\.week\.target\.anchor: only targets with units = \"normalised\""):
        make_spec({"heads": {"week": {"target": {"anchor": "persistence", "units": "raw"}}}})
    spec = make_spec({"heads": {"week": {"target": {"anchor": "moving_average:30"}}}})
    with pytest.raises(SpecError, match=r"anchor: moving_average:30 reads 30 steps back, but the daily window holds 21"):
        prepare(spec)


@pytest.fixture(scope="module")
def framed():
    from tests.data.conftest import build

    spec = build(FRAMED)
    data = prepare(spec)
    return spec, data, data.datasets["train"].batch(np.arange(0, 300, 7))


def test_inputs_are_relative_to_their_own_window_and_unobserved_places_stay_masked(framed):
    _, data, batch = framed
    daily = batch.inputs["daily"]
    values = torch.where(daily.mask, daily.values, torch.nan).double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(values, axis=1)
    observed = daily.mask.any(dim=1).numpy()
    assert np.allclose(medians[observed], 0.0, atol=1e-5)  # robust: each window's median is 0
    raw = data.datasets["train"]._window(data.datasets["train"].views.inputs["daily"], "daily", 0,
                                         data.datasets["train"].anchors[np.arange(0, 300, 7)])
    assert torch.equal(daily.mask, torch.from_numpy(np.isfinite(raw)))  # window scaling masks nothing new


def test_framed_targets_are_inverted_exactly(framed):
    _, data, batch = framed
    frame, target = batch.frames["week"], batch.targets["week"]
    dataset = data.datasets["train"]
    anchors = dataset.anchors[np.arange(0, 300, 7)]
    truth = dataset.views.targets["week"].ending_at(anchors + 7)  # horizon 7, span 3
    decoded = frame.decode_target(target)
    assert torch.equal(decoded.mask, target.mask)
    defined = np.isfinite(frame.shift.numpy()) & target.mask.numpy()
    np.testing.assert_allclose(decoded.values.numpy()[defined], truth[defined], rtol=1e-5, atol=1e-5)
    assert (defined == np.isfinite(truth) & np.isfinite(frame.shift.numpy())).all()  # nothing else is masked
    assert set(batch.frames) == {"week", "month"}  # month: window-scaled (zscore), not anchored
    gaussian = {"mean": torch.randn_like(frame.shift), "log_var": torch.randn_like(frame.shift)}
    back = frame.decode(kinds.get("gaussian"), gaussian)
    assert torch.allclose(back["log_var"].exp(), gaussian["log_var"].exp() * frame.scale**2, rtol=1e-5)
    assert torch.allclose(back["mean"], frame.shift + frame.scale * gaussian["mean"], equal_nan=True)


def test_an_anchored_head_with_a_zero_output_layer_predicts_the_baseline_exactly(framed):
    spec, data, batch = framed
    torch.manual_seed(0)
    model = AssembledModel(spec, data.inputs, data.target_infos).eval()
    output = model.heads["week"].net[-1]
    torch.nn.init.zeros_(output.weight)
    torch.nn.init.zeros_(output.bias)
    with torch.no_grad():
        prediction = batch.frames["week"].decode(model.kinds["week"], model(batch.inputs, batch.calendar)["week"])
    assert np.array_equal(prediction.numpy(), batch.frames["week"].shift.numpy(), equal_nan=True)
    # and that shift is the evaluation's 7-day moving average, of the source's values (not of their scaled logs)
    info = data.targets["week"].info
    history = batch.history["week"]
    window = data.to_source_units("week", torch.where(history.mask, history.values.double(), torch.nan).numpy())
    members = forecast_baselines(Observed.build(torch.from_numpy(window)), np.arange(info.n_features), info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window with nothing observed: NaN, as the shift
        expected = np.nanmean(members["moving_average_7"].numpy(), axis=-1)
    np.testing.assert_allclose(data.to_source_units("week", prediction.double().numpy()), expected, rtol=1e-5,
                               equal_nan=True)


def test_frames_decode_through_the_prediction_kind():
    shift, scale = torch.tensor([[[1.0, -2.0]]]), torch.tensor([[[2.0, 0.5]]])
    frame = Frame(shift, scale)
    assert frame.decode(kinds.get("point"), torch.tensor([[[3.0, 4.0]]])).tolist() == [[[7.0, 0.0]]]
    assert torch.equal(frame.decode(kinds.get("point"), torch.zeros(1, 1, 2)), shift)  # zero: exactly the shift
    masked = frame.decode_target(Observed.build(torch.tensor([[[np.nan, 2.0]]])))
    assert masked.mask.tolist() == [[[False, True]]] and masked.values.tolist() == [[[0.0, -1.0]]]


def test_a_framed_task_whose_kind_cannot_be_rescaled_is_a_problem(framed):
    _, data, _ = framed
    assert data.framing.problems({"week": kinds.get("gaussian"), "month": kinds.get("point")}) == []
    (problem,) = data.framing.problems({"week": kinds.get("binary"), "month": kinds.get("point")})
    assert problem.path == "heads.week" and "a binary prediction cannot be rescaled" in problem.message
