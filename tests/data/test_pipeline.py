"""The data pipeline: calendar, split with embargo, causal windows, targets, fitted preprocessing, views."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from mrframe.data.pipeline import load_sources, prepare
from mrframe.errors import DataError, SpecError
from mrframe.interfaces import SourceFrame

pytestmark = pytest.mark.plugins


def day_number(date: str) -> int:
    return int(np.datetime64(date, "D").astype(np.int64))


def test_split_embargo_keeps_targets_inside_their_split(spec):
    data = prepare(spec)
    val_from, test_from = day_number("2023-01-01"), day_number("2023-07-01")
    anchors = {split: d.anchors + data.timeline.day0 for split, d in data.datasets.items()}
    assert anchors["train"].max() + 7 < val_from  # the daily target (horizon 7) stays in training
    month_end = (anchors["train"].astype("datetime64[D]").astype("datetime64[M]") + 2).astype("datetime64[D]")
    assert (month_end.astype(np.int64) - 1 < val_from).all()  # so does the monthly one (next month)
    assert anchors["val"].min() >= val_from and anchors["val"].max() + 7 < test_from
    assert anchors["test"].min() >= test_from
    assert data.split.embargoed["train"] > 0


def test_calendar_months_in_the_daily_window_travel_with_the_batch(spec):
    data = prepare(spec)
    dataset = data.datasets["train"]
    batch = dataset.batch(np.arange(len(dataset)))
    calendar = batch.calendar
    days = calendar.anchor_day.numpy()[:, None] - np.arange(spec.data.daily_window - 1, -1, -1)
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    anchor_month = months[:, -1:]
    assert (calendar.month_slot.numpy() == months - anchor_month + spec.data.monthly_window).all()
    slot_month = anchor_month - spec.data.monthly_window + np.arange(spec.data.monthly_window)  # [B, M]
    ended_before = slot_month[:, None, :] < months[:, :, None]  # [B, T, M]: slot m's month ended before day t
    assert (calendar.months_visible().numpy() == ended_before).all()
    assert ended_before[:, -1].all() and not ended_before.all()  # a window that crosses a month boundary


def test_monthly_inputs_are_months_that_ended_before_the_anchor_plus_lag(spec):
    """The lagged monthly source's window, checked against the loaded frame by date arithmetic."""
    frames = load_sources(spec)
    data = prepare(spec, frames=frames)
    dataset = data.datasets["val"]
    monthly = frames["survey"].frame
    scaling = data.normaliser.scalings["survey"]
    for i in [0, 5, 17, len(dataset) - 1]:
        anchor = dataset.anchor_dates()[i]
        batch = dataset.batch(np.array([i]))
        got = batch.inputs["survey"]
        starts = pd.date_range(end=pd.Timestamp(anchor).to_period("M").to_timestamp() - pd.offsets.MonthBegin(1),
                               periods=spec.data.monthly_window, freq="MS")
        expected = scaling.apply(monthly.reindex(starts).to_numpy())
        ends = starts + pd.offsets.MonthEnd(0)
        expected[(ends + pd.Timedelta(days=10)).to_numpy() >= np.datetime64(anchor)] = np.nan  # lag_days = 10
        assert np.array_equal(got.mask.numpy()[0], np.isfinite(expected))
        assert np.allclose(got.values.numpy()[0][np.isfinite(expected)], expected[np.isfinite(expected)])


def test_daily_lag_hides_the_last_days(spec):
    data = prepare(spec)
    batch = data.datasets["train"].batch(np.arange(200, 210))
    counts = batch.inputs["counts"]  # lag_days = 2
    assert not counts.mask[:, -2:].any()
    assert counts.mask[:, :-2].any()


def test_targets_have_their_own_mask_and_units(tmp_path, make_spec):
    labels = tmp_path / "labels.csv"
    days = pd.date_range("2022-01-01", periods=700, freq="D")
    ids = np.arange(700) % 4
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "regime": ids}).to_csv(labels, index=False)
    spec = make_spec({
        "sources": {"regimes": {"plugin": "labels", "path": str(labels), "classes": 4}},
        "heads": {"regime": {"plugin": "regression", "target": {"source": "regimes", "horizon": 1, "units": "raw"},
                             "loss": {"plugin": "masked-mse"}}},
    })
    data = prepare(spec)
    dataset = data.datasets["train"]
    batch = dataset.batch(np.arange(200, 210))
    target = batch.targets["regime"]
    anchors = dataset.anchors[200:210] + data.timeline.day0 - day_number("2022-01-01")
    assert target.mask.all()
    assert target.values[:, 0, 0].tolist() == [float((a + 1) % 4) for a in anchors]  # raw class ids, day after
    assert data.to_source_units("regime", np.array([[2.0]])).tolist() == [[2.0]]
    week = batch.targets["week"]
    assert week.shape == (10, 3, 4) and week.mask.dtype == torch.bool
    assert not (week.values[~week.mask] != 0).any()


def test_preprocessing_state_round_trips_through_weights_only(spec, make_spec):
    spec = make_spec({"data": {"correlation_filter": 0.5, "preprocess": {"daily": {"pca": 2, "normalise": "robust"}}}})
    data = prepare(spec)
    state = data.preprocessing_state()
    assert {"normaliser.daily.center", "reduction.daily.keep", "reduction.daily.components",
            "reduction.counts.keep"} <= set(state)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    again = prepare(spec, fitted=loaded)
    for split in ("train", "val"):
        a = data.datasets[split].batch(np.arange(20))
        b = again.datasets[split].batch(np.arange(20))
        for name in a.inputs:
            assert torch.equal(a.inputs[name].values, b.inputs[name].values)
            assert torch.equal(a.inputs[name].mask, b.inputs[name].mask)
    assert data.inputs["daily"].features == ("pc1", "pc2")
    first = data.timeline.day_index("2022-01-01")  # the daily source's first day on the timeline
    back = data.to_source_units("week", data.targets["week"].values[first : first + 5])
    raw = load_sources(spec)["daily"].frame.to_numpy()[:5]
    assert np.allclose(back[np.isfinite(raw)], raw[np.isfinite(raw)], atol=1e-4)


def test_fitted_state_that_does_not_match_is_an_error(spec, make_spec):
    state = prepare(spec).preprocessing_state()
    other = make_spec({"sources": {"daily": {"features": 5}}})
    with pytest.raises(DataError, match="source 'daily': the fitted preprocessing is for 4 features, the data has 5"):
        prepare(other, fitted=state)
    renamed = {k.replace("normaliser.counts.", "normaliser.events."): v for k, v in state.items()}
    with pytest.raises(DataError, match="has no source 'counts'"):
        prepare(spec, fitted=renamed)
    with_pca = make_spec({"data": {"preprocess": {"daily": {"pca": 2}}}})
    with pytest.raises(DataError, match=r"source 'daily': the spec asks for PCA .* but the fitted preprocessing holds none"):
        prepare(with_pca, fitted=state)
    with pytest.raises(DataError, match=r"source 'daily': the spec asks for no PCA .* holds one"):
        prepare(spec, fitted=prepare(with_pca).preprocessing_state())


def test_correlation_filter_drops_a_redundant_input_but_targets_keep_it(spec, make_spec):
    frames = load_sources(spec)
    daily = frames["daily"].frame.copy()
    daily["copy"] = 3 * daily["x1"] + 1
    frames["daily"] = SourceFrame(daily, "daily")
    spec = make_spec({"data": {"correlation_filter": 0.99}})
    data = prepare(spec, frames=frames)
    assert data.inputs["daily"].features == ("x0", "x1", "x2", "x3")
    assert data.sources["daily"].info.features == ("x0", "x1", "x2", "x3", "copy")
    assert data.targets["week"].info.features == ("x0", "x1", "x2", "x3", "copy")


def test_windows_are_views_shared_by_the_splits(spec):
    data = prepare(spec)
    train, val = data.datasets["train"], data.datasets["val"]
    assert train.views is val.views
    assert train.nbytes - val.nbytes == (len(train) - len(val)) * 8  # only the anchors differ
    for view in train.views.inputs.values():
        assert view._windows.base is not None  # a strided view, not a copy


def test_preprocess_names_must_be_sources(make_spec):
    # found by validation, before any data is loaded
    with pytest.raises(SpecError, match=r"data\.preprocess\.daily_: no source named 'daily_' \(did you mean 'daily'\?\)"):
        make_spec({"data": {"preprocess": {"daily_": {"pca": 2}}}})
