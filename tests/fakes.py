"""Tiny plugins of every kind, registered in-process, so the core is tested without any plugin distribution."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd
import torch
from torch import nn

from mrframe import registry
from mrframe.config import field
from mrframe.interfaces import (
    Encoder,
    FusionBlock,
    Head,
    Loss,
    Source,
    SourceFrame,
    StepContext,
    Weighted,
    Weighting,
)
from mrframe.observed import Calendar, Observed, State, Stream, TaskLoss


@attrs.frozen
class WaveConfig:
    resolution: Literal["daily", "monthly"] = field("daily", "resolution")
    start: str = field("2021-01-01", "first period")
    periods: int = field(400, "rows", min=1)
    features: int = field(3, "columns", min=1)
    missing: float = field(0.1, "missing probability", min=0.0, max=1.0)
    seed: int = field(0, "seed")


class WaveSource(Source):
    """Sine waves with noise and missing values."""

    Config = WaveConfig

    def load(self) -> SourceFrame:
        c = self.config
        freq = "D" if c.resolution == "daily" else "MS"
        index = pd.date_range(c.start, periods=c.periods, freq=freq)
        rng = np.random.default_rng(c.seed)
        t = np.arange(c.periods)[:, None]
        values = np.sin(t / 5.0 + np.arange(c.features)) + 0.1 * rng.standard_normal((c.periods, c.features))
        values[rng.random(values.shape) < c.missing] = np.nan
        return SourceFrame(pd.DataFrame(values, index=index, columns=[f"f{i}" for i in range(c.features)]), c.resolution)


@attrs.frozen
class EmptyConfig:
    pass


@attrs.frozen
class PointwiseConfig:
    d_model_scale: float = field(1.0, "scale of the projection", min=0.0)


class PointwiseEncoder(Encoder):
    """Per-timestep masked linear encoder with a no-observation token."""

    Config = PointwiseConfig

    def __init__(self, config: PointwiseConfig, source: Any, d_model: int):
        super().__init__(config, source, d_model)
        self.value = nn.Linear(source.n_features, d_model)
        self.status = nn.Linear(source.n_features, d_model, bias=False)
        self.none = nn.Parameter(torch.randn(d_model))

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        present = x.present
        hidden = self.value(x.masked_values()) + self.status(x.mask.to(x.values.dtype))
        hidden = torch.where(present.unsqueeze(-1), hidden, self.none)
        return Stream(hidden * self.config.d_model_scale, present)


class Identity(FusionBlock):
    """Leaves the state unchanged."""

    Config = EmptyConfig

    def forward(self, state: State) -> State:
        return state


class LastStepHead(Head):
    """Linear map of the last daily step."""

    Config = EmptyConfig

    def __init__(self, config: Any, model: Any, target: Any):
        super().__init__(config, model, target)
        self.linear = nn.Linear(model.d_model, target.span * target.n_features)

    def forward(self, state: State) -> torch.Tensor:
        stream = state.daily if state.daily is not None else state.monthly
        out = self.linear(stream.hidden[:, -1])
        return out.view(-1, self.target.span, self.target.n_features)


class SquaredError(Loss):
    """Masked squared error."""

    Config = EmptyConfig

    def forward(self, prediction: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> TaskLoss:
        error = torch.where(mask, prediction - values, 0.0)
        count = mask.sum()
        return TaskLoss(error.square().sum() / count.clamp(min=1), count, mask.numel())


class Mean(Weighting):
    """Mean of the task losses."""

    Config = EmptyConfig

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        values = torch.stack([loss.value for loss in losses.values()])
        weight = torch.full_like(values, 1.0 / len(losses))
        return Weighted((values * weight).sum(), dict(zip(losses, weight, strict=True)))


FAKES = {
    ("source", "fake-wave"): WaveSource,
    ("encoder", "fake-pointwise"): PointwiseEncoder,
    ("fusion", "fake-identity"): Identity,
    ("head", "fake-last"): LastStepHead,
    ("loss", "fake-se"): SquaredError,
    ("weighting", "fake-mean"): Mean,
}


@contextlib.contextmanager
def fake_plugins() -> Iterator[None]:
    """Register every fake plugin for the duration of the block."""
    with contextlib.ExitStack() as stack:
        for (kind, name), cls in FAKES.items():
            stack.enter_context(registry.registered(kind, name, cls))
        yield


FAKE_SPEC = """
version = 1
[run]
name = "fake"
seed = 3
[data]
daily_window = 20
monthly_window = 4
split = { val_from = 2021-11-01, test_from = 2022-01-15 }
[model]
d_model = 8
[sources.daily]
plugin = "fake-wave"
[sources.monthly]
plugin = "fake-wave"
resolution = "monthly"
periods = 16
features = 2
[encoders.daily]
plugin = "fake-pointwise"
[encoders.monthly]
plugin = "fake-pointwise"
[[fusion]]
plugin = "fake-identity"
[heads.ahead]
plugin = "fake-last"
target = { source = "daily", horizon = 3, span = 2 }
loss = { plugin = "fake-se" }
[weighting]
plugin = "fake-mean"
[train]
epochs = 2
batch_size = 16
"""
