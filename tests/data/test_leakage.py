"""Leakage: nothing fitted or fed to training depends on data from the validation period, and no sample's
inputs depend on data after its anchor day (daily: after the anchor minus the source's publication lag;
monthly: months that had not ended, plus the lag, before the anchor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mrframe.data.pipeline import load_sources, prepare
from mrframe.interfaces import SourceFrame

pytestmark = pytest.mark.plugins

PREPROCESSING = [
    {},
    {"data": {"normalise": "robust", "correlation_filter": 0.3, "preprocess": {"daily": {"pca": 2}}}},
    {"data": {"preprocess": {"counts": {"pca": 0.9, "log1p_counts": False}, "monthly": {"normalise": "none"}}}},
    {  # window scaling and anchored targets: every statistic from the sample's own window
        "data": {"window_scaling": "robust", "preprocess": {"monthly": {"window_scaling": "zscore"}}},
        "heads": {"week": {"target": {"anchor": "moving_average:5"}}, "month": {"target": {"anchor": "persistence"}}},
    },
]


def last_day(source: SourceFrame) -> pd.DatetimeIndex:
    """The last day of each row's period."""
    index = source.frame.index
    return index + pd.offsets.MonthEnd(0) if source.resolution == "monthly" else index


def available_from(source: SourceFrame, lag: int) -> pd.DatetimeIndex:
    """The first anchor day that may see each row: the day after its period ended (a daily row: that day
    itself), plus the publication lag."""
    extra = 1 if source.resolution == "monthly" else 0
    return last_day(source) + pd.Timedelta(days=lag + extra)


def perturb(frames, spec, after: pd.Timestamp, seed: int = 0, by: str = "availability") -> dict[str, SourceFrame]:
    """Every value dated on or after ``after`` (``by="date"``: a month that ends on or after it) or available
    on or after it (``by="availability"``, which includes those) replaced by noise, NaN or huge values."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, source in frames.items():
        frame = source.frame.copy()
        late = last_day(source) >= after
        if by == "availability":
            late |= available_from(source, spec.sources[name].lag_days) >= after
        values = frame.to_numpy(copy=True)
        noise = rng.choice([np.nan, 1e6, -3.0, 0.0], size=values.shape) + rng.standard_normal(values.shape)
        values[late] = noise[late]
        out[name] = SourceFrame(pd.DataFrame(values, index=frame.index, columns=frame.columns), source.resolution,
                                counts=source.counts)
    return out


def inputs_and_targets(data, split: str) -> dict[str, torch.Tensor]:
    dataset = data.datasets[split]
    batch = dataset.batch(np.arange(len(dataset)))
    tensors = {}
    for name, x in batch.inputs.items():
        tensors[f"input {name} values"], tensors[f"input {name} mask"] = x.values, x.mask
    for name, y in batch.targets.items():
        tensors[f"target {name} values"], tensors[f"target {name} mask"] = y.values, y.mask
    return tensors


@pytest.mark.parametrize("changes", PREPROCESSING)
def test_validation_period_changes_no_training_input_and_no_fitted_statistic(make_spec, changes):
    spec = make_spec(changes)
    frames = load_sources(spec)
    before = prepare(spec, frames=frames)
    val_from = pd.Timestamp(spec.data.split.val_from)
    for seed, by in enumerate(["date", "availability"]):
        after = prepare(spec, frames=perturb(frames, spec, val_from, seed, by))
        state_a, state_b = before.preprocessing_state(), after.preprocessing_state()
        assert state_a.keys() == state_b.keys()
        for key in state_a:
            assert torch.equal(state_a[key], state_b[key]), key
        assert np.array_equal(before.datasets["train"].anchors, after.datasets["train"].anchors)
        train_a, train_b = inputs_and_targets(before, "train"), inputs_and_targets(after, "train")
        for key in train_a:
            if by == "date" or key.startswith("input"):  # a lagged source's last training target is published
                assert torch.equal(train_a[key], train_b[key]), key  # after val_from, but dated before it
        val_a, val_b = inputs_and_targets(before, "val"), inputs_and_targets(after, "val")
        assert any(not torch.equal(val_a[k], val_b[k]) for k in val_a)  # the perturbation did reach validation


@pytest.mark.parametrize("changes", PREPROCESSING)
def test_data_after_an_anchor_changes_none_of_its_inputs(make_spec, changes):
    spec = make_spec(changes)
    frames = load_sources(spec)
    data = prepare(spec, frames=frames)
    state = data.preprocessing_state()
    picks = []
    for split in ("train", "val", "test"):
        dates = pd.DatetimeIndex(data.datasets[split].anchor_dates())
        month_edges = np.flatnonzero((dates.day == 1) | dates.is_month_end)  # anchors on month boundaries
        picks += [(split, i) for i in [0, len(dates) // 2, len(dates) - 1, *month_edges[:2]]]
    for k, (split, i) in enumerate(picks):
        dataset = data.datasets[split]
        anchor = pd.Timestamp(dataset.anchor_dates()[i])
        changed = prepare(spec, frames=perturb(frames, spec, anchor + pd.Timedelta(days=1), seed=k), fitted=state)
        a = dataset.batch(np.array([i]))
        b = changed.datasets[split].batch(np.array([i]))
        for name in a.inputs:
            assert torch.equal(a.inputs[name].values, b.inputs[name].values), (split, str(anchor.date()), name)
            assert torch.equal(a.inputs[name].mask, b.inputs[name].mask), (split, str(anchor.date()), name)
        for task in a.history:  # what baselines and frames read
            assert torch.equal(a.history[task].values, b.history[task].values), (split, str(anchor.date()), task)
            assert torch.equal(a.history[task].mask, b.history[task].mask), (split, str(anchor.date()), task)
        assert a.frames.keys() == b.frames.keys()
        for task, frame in a.frames.items():
            other = b.frames[task]
            assert np.array_equal(frame.shift.numpy(), other.shift.numpy(), equal_nan=True), (split, task)
            assert torch.equal(frame.scale, other.scale), (split, str(anchor.date()), task)
