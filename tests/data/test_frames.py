"""Window scaling, anchored targets and their frames: statistics of the sample's own window only, exact
inversion, and an anchored head that predicts its baseline exactly before it has learned anything."""

from __future__ import annotations

import warnings

import attrs
import numpy as np
import pytest
import torch

from mrframe import kinds
from mrframe.data.anchoring import parse_anchor
from mrframe.data.baselines import forecast_baselines, seasonal_naive
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


# ------------------------------------------------------------------------------------------------ publication lag

LAGGED = {"sources": {"daily": {"lag_days": 3}},
          "heads": {"week": {"target": {"horizon": 5, "span": 3, "anchor": "seasonal_naive"}}}}


def _lagged(anchor: str = "seasonal_naive"):
    from tests.data.conftest import build

    return build(LAGGED | {"heads": {"week": {"target": {"horizon": 5, "span": 3, "anchor": anchor}}}})


@pytest.mark.parametrize("anchor", ["persistence", "seasonal_naive", "moving_average:7"])
def test_values_a_lagged_source_has_not_published_at_the_anchor_change_no_frame_and_no_baseline(anchor):
    from mrframe.engine.targets import TaskWindow

    spec = _lagged(anchor)
    data = prepare(spec)
    dataset = data.datasets["val"]
    i = np.array([5])
    a = int(dataset.anchors[i][0])
    day = data.timeline.day0 + a
    frames = dict(data.frames)
    frame = frames["daily"].frame.copy()
    unpublished = frame.index.values.astype("datetime64[D]").astype(np.int64) > day - 3  # published on d + 3
    frame[unpublished] = frame[unpublished] * 5.0 + 100.0
    frames["daily"] = attrs.evolve(frames["daily"], frame=frame)
    changed = prepare(spec, frames=frames, fitted=data.preprocessing_state())
    before, after = dataset.batch(i), changed.datasets["val"].batch(i)
    assert not np.allclose(data.sources["daily"].values[a - 2 : a + 1], changed.sources["daily"].values[a - 2 : a + 1],
                           equal_nan=True)  # the perturbation is there
    np.testing.assert_array_equal(before.frames["week"].shift.numpy(), after.frames["week"].shift.numpy())
    assert np.isfinite(before.frames["week"].shift.numpy()).any()
    window = TaskWindow.of(data, data.targets["week"].info)
    for name, members in window.baselines(before).items():
        np.testing.assert_array_equal(members.numpy(), window.baselines(after)[name].numpy(), err_msg=name)


def test_seasonal_naive_with_a_lag_reads_the_latest_published_season():
    spec = _lagged()
    data = prepare(spec)
    dataset = data.datasets["val"]
    i = np.arange(len(dataset))
    batch = dataset.batch(i)
    assert batch.unpublished["week"].tolist() == [3] * len(i)
    anchors = dataset.anchors[i]
    # target days a + 3, a + 4, a + 5; published up to a - 3: one week back for the first two, two for the last
    source = data.sources["daily"].values[:, data.targets["week"].columns]
    expected = np.stack([source[anchors - 4], source[anchors - 3], source[anchors - 9]], axis=1)
    units = data.normaliser.scalings["daily"]
    shift = units.invert(batch.frames["week"].shift.numpy().astype(np.float64), data.targets["week"].columns)
    expected = units.invert(expected.astype(np.float64), data.targets["week"].columns)
    np.testing.assert_allclose(shift, expected, rtol=1e-4, atol=1e-4)
    assert np.isfinite(shift[:, 2]).mean() > 0.5  # the last step is defined, not masked for lack of a value


def test_monthly_seasonal_naive_skips_the_months_not_yet_published():
    values = torch.arange(14, dtype=torch.float64).reshape(1, 14, 1).repeat(2, 1, 1)  # value 13 = month -1
    info = TargetInfo("t", "s", "monthly", ("a",), horizon=11, span=2)  # k = 10, 11 months after the anchor's
    observed = Observed.build(values)
    plain = seasonal_naive(observed, np.array([0]), info)
    lagged = seasonal_naive(observed, np.array([0]), info, torch.tensor([0, 1]))
    assert plain[:, :, 0].tolist() == [[12.0, 13.0], [12.0, 13.0]]  # months -2 and -1: one year back
    assert lagged[0, :, 0].tolist() == [12.0, 13.0]  # nothing hidden: as without a lag
    assert lagged[1, :, 0].tolist() == [12.0, 1.0]  # month -1 not yet published: two years back (month -13)
    assert parse_anchor("seasonal_naive").reach(info) == 2
    assert parse_anchor("seasonal_naive").reach(info, lag_days=10) == 13  # may need month -13


def test_an_anchor_whose_published_part_of_the_window_is_too_short_is_refused(make_spec):
    spec = make_spec({"sources": {"daily": {"lag_days": 3}},
                      "heads": {"week": {"target": {"anchor": "moving_average:20"}}}})
    with pytest.raises(SpecError, match=r"anchor: moving_average:20 reads 23 steps back \(with the source's "
                                        r"publication lag of 3 days\), but the daily window holds 21"):
        prepare(spec)
