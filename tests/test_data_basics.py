"""The data contracts the foundation promises: no filling, embargoed split, causal month windows, lag,
training-only fitting, strided windows."""

import tomllib

import numpy as np
import pandas as pd
import pytest
import torch

from mrframe.data.pipeline import prepare
from mrframe.data.split import reach
from mrframe.interfaces import SourceFrame
from mrframe.spec import build_spec
from tests.fakes import FAKE_SPEC


def frames(daily_values=None, monthly_values=None):
    days = pd.date_range("2021-01-01", periods=400, freq="D")
    months = pd.date_range("2021-01-01", periods=16, freq="MS")
    daily = pd.DataFrame(
        daily_values if daily_values is not None else np.arange(400.0)[:, None].repeat(3, 1),
        index=days, columns=["f0", "f1", "f2"],
    )
    # each monthly value is the month's number since 1970 (so a window reveals which months it holds)
    monthly = pd.DataFrame(
        monthly_values if monthly_values is not None else (months.year * 12 + months.month - 1 - 1970 * 12).to_numpy()[:, None].repeat(2, 1).astype(float),
        index=months, columns=["f0", "f1"],
    )
    return {"daily": SourceFrame(daily, "daily"), "monthly": SourceFrame(monthly, "monthly")}


def spec_with(fakes_fixture=None, **overrides):
    document = tomllib.loads(FAKE_SPEC)
    document["data"]["normalise"] = "none"
    for key, value in overrides.items():
        section, name = key.split("__")
        document.setdefault(section, {})[name] = value
    return build_spec(document)


def test_alignment_never_fills(fakes):
    values = np.arange(400.0)[:, None].repeat(3, 1)
    f = frames(values)
    f["daily"] = SourceFrame(f["daily"].frame.drop(f["daily"].frame.index[100:110]), "daily")
    data = prepare(spec_with(), frames=f)
    aligned = data.sources["daily"].values
    assert np.isnan(aligned[100:110]).all() and not np.isnan(aligned[:100]).any()


def test_no_target_crosses_into_the_next_split(fakes):
    data = prepare(spec_with(), frames=frames())
    timeline, targets = data.timeline, list(data.target_infos.values())
    val_from = timeline.day_index(np.datetime64("2021-11-01"))
    test_from = timeline.day_index(np.datetime64("2022-01-15"))
    train, val, test = (data.split.anchors[s] for s in ("train", "val", "test"))
    assert reach(timeline, targets, train).max() < val_from
    assert train.max() == val_from - 1 - 3  # horizon 3: the last three days before val_from are embargoed
    assert val.min() == val_from and reach(timeline, targets, val).max() < test_from
    assert test.min() == test_from and data.split.embargoed["train"] == 3


def test_a_sample_sees_only_months_that_ended_before_its_anchor(fakes):
    data = prepare(spec_with(), frames=frames())
    dataset = data.datasets["train"]
    batch = dataset.batch(np.arange(len(dataset)))
    anchors = dataset.anchor_dates()
    anchor_month = anchors.astype("datetime64[M]").astype(np.int64)
    monthly = batch.inputs["monthly"]
    seen = torch.where(monthly.mask, monthly.values, torch.tensor(-1.0))[:, :, 0].numpy()
    assert (seen.max(axis=1) < anchor_month).all()
    last_slot = seen[:, -1]
    has_last = last_slot >= 0
    assert (last_slot[has_last] == anchor_month[has_last] - 1).all()  # and it is the month just before
    slots = batch.calendar.month_slot.numpy()
    assert (slots[:, -1] == 4).all()  # the anchor's own month is slot M (monthly_window = 4): never an input


def test_publication_lag_hides_months_not_yet_published(fakes):
    document = tomllib.loads(FAKE_SPEC)
    document["data"]["normalise"] = "none"
    document["sources"]["monthly"]["lag_days"] = 10
    spec = build_spec(document)
    data = prepare(spec, frames=frames())
    dataset = data.datasets["train"]
    batch = dataset.batch(np.arange(len(dataset)))
    anchors = dataset.anchor_dates()
    day_of_month = (anchors - anchors.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    last_observed = batch.inputs["monthly"].mask[:, -1, 0].numpy()
    after_first_month = anchors >= np.datetime64("2021-02-01")  # earlier anchors have no previous month at all
    last_observed, day_of_month = last_observed[after_first_month], day_of_month[after_first_month]
    # the previous month ended on day 0 of this month: published on day 10, visible from day 11
    assert not last_observed[day_of_month <= 10].any()
    assert last_observed[day_of_month > 10].all()


def test_scaling_is_fitted_on_the_training_period_only(fakes):
    document = tomllib.loads(FAKE_SPEC)
    spec = build_spec(document)
    base = prepare(spec, frames=frames())
    changed_values = np.arange(400.0)[:, None].repeat(3, 1)
    changed_values[304:] = 1e6  # 2021-11-01 onwards: the validation period
    changed = prepare(spec, frames=frames(changed_values))
    for key, value in base.preprocessing_state().items():
        assert torch.equal(value, changed.preprocessing_state()[key]), key
    first, second = base.datasets["train"], changed.datasets["train"]
    indices = np.arange(len(first))
    assert torch.equal(first.batch(indices).inputs["daily"].values, second.batch(indices).inputs["daily"].values)


def test_fitted_state_is_reapplied_without_refitting(fakes):
    spec = build_spec(tomllib.loads(FAKE_SPEC))
    base = prepare(spec, frames=frames())
    shifted = frames(np.arange(400.0)[:, None].repeat(3, 1) + 1000.0)
    again = prepare(spec, frames=shifted, fitted=base.preprocessing_state())
    difference = again.sources["daily"].values[:400, 0] - base.sources["daily"].values[:400, 0]
    assert np.allclose(difference, 1000.0 / base.normaliser.scalings["daily"].scale[0], rtol=1e-4)


def test_dataset_memory_does_not_grow_with_samples(fakes):
    from mrframe.data.dataset import WindowDataset

    data = prepare(spec_with(), frames=frames())
    full = data.datasets["train"]
    small = WindowDataset(data.timeline, data.sources, tuple(data.inputs), data.targets, full.anchors[:10], 20, 4)
    assert len(full) > 100 * 2
    assert abs(full.nbytes - small.nbytes) <= full.anchors.nbytes
    window = full.views.inputs["daily"].view(int(full.anchors[5]))
    assert np.shares_memory(window, full.views.inputs["daily"]._windows)


@pytest.mark.parametrize("units", ["normalised", "raw"])
def test_target_units(fakes, units):
    document = tomllib.loads(FAKE_SPEC)
    document["heads"]["ahead"]["target"]["units"] = units
    data = prepare(build_spec(document), frames=frames())
    dataset = data.datasets["train"]
    batch = dataset.batch(np.array([50]))
    target = batch.targets["ahead"].values[0, :, 0].numpy()
    anchor = dataset.anchors[50]
    raw = np.array([anchor + 2, anchor + 3], dtype=float)  # span 2 ending at horizon 3; value = day index
    expected = raw if units == "raw" else data.normaliser.scalings["daily"].apply(raw[:, None].repeat(3, 1))[:, 0]
    assert np.allclose(target, expected, atol=1e-5)
    assert np.allclose(data.to_source_units("ahead", target[:, None]), raw[:, None], atol=1e-3)
