"""Tiny spatial plugins, registered in-process: a source of waves per region, a pointwise encoder and a head."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import pandas as pd
import torch
from torch import nn

from mrframe import registry
from mrframe.config import field
from mrframe.interfaces import Encoder, Head, Source, SourceFrame
from mrframe.observed import Calendar, Observed, RegionalStream, State, Stream
from mrframe.regions import Regions


def grid(rows: int, columns: int) -> Regions:
    """A ``rows x columns`` grid of 0.5-degree cells (ids ``g{row}{column}``)."""
    position = np.array([(r, c) for r in range(rows) for c in range(columns)])
    return Regions([f"g{r}{c}" for r, c in position], [f"cell {r},{c}" for r, c in position],
                   48.0 + 0.5 * position[:, 0], 35.0 + 0.5 * position[:, 1])


@attrs.frozen
class RegionWaveConfig:
    start: str = field("2021-01-01", "first day")
    periods: int = field(400, "days", min=1)
    rows: int = field(2, "grid rows", min=1)
    columns: int = field(3, "grid columns", min=1)
    features: int = field(2, "features per region", min=1)
    missing: float = field(0.1, "missing probability", min=0.0, max=1.0)
    seed: int = field(0, "seed")


class RegionWaveSource(Source):
    """Sine waves per region (phase shifted by the region's column) with noise, missing values and counts."""

    Config = RegionWaveConfig

    def load(self) -> SourceFrame:
        c = self.config
        regions = grid(c.rows, c.columns)
        rng = np.random.default_rng(c.seed)
        t = np.arange(c.periods)[:, None, None]
        phase = np.arange(len(regions))[None, :, None] % c.columns
        values = 3 + np.sin(t / 5.0 + phase + np.arange(c.features)) + 0.1 * rng.standard_normal(
            (c.periods, len(regions), c.features))
        values[rng.random(values.shape) < c.missing] = np.nan
        names = [f"f{i}" for i in range(c.features)]
        frame = pd.DataFrame(values.reshape(c.periods, -1), index=pd.date_range(c.start, periods=c.periods),
                             columns=pd.MultiIndex.from_product([list(regions.ids), names]))
        return SourceFrame(frame, "daily", counts=(names[0],), regions=regions)


@attrs.frozen
class NoOptions:
    pass


class RegionPointwise(Encoder):
    """Per region and step a masked linear token; national = mean of the regions' tokens at each step;
    regional = each region's running mean of its tokens up to the last step."""

    Config = NoOptions
    extents = ("spatial",)

    def __init__(self, config: Any, source: Any, d_model: int):
        super().__init__(config, source, d_model)
        self.value = nn.Linear(source.n_features, d_model)
        self.status = nn.Linear(source.n_features, d_model, bias=False)
        self.none = nn.Parameter(torch.randn(d_model))

    def tokens(self, x: Observed) -> torch.Tensor:
        hidden = self.value(x.masked_values()) + self.status(x.mask.to(x.values.dtype))
        return torch.where(x.region_present.unsqueeze(-1), hidden, self.none)  # [B, T, R, D]

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        tokens = self.tokens(x)
        regional = RegionalStream(tokens.mean(1, keepdim=True), x.region_present.any(1, keepdim=True),
                                  torch.tensor([x.shape[1] - 1]))
        return Stream(tokens.mean(2), x.present, regional)


class RegionLastHead(Head):
    """A linear map of each region's last state."""

    Config = NoOptions
    extents = ("spatial",)

    def __init__(self, config: Any, model: Any, target: Any):
        super().__init__(config, model, target)
        self.linear = nn.Linear(model.d_model, target.span * target.n_features)

    def forward(self, state: State) -> torch.Tensor:
        last = state.regional[self.target.source].last  # [B, R, D]
        out = self.linear(last).view(last.shape[0], last.shape[1], self.target.span, self.target.n_features)
        return out.transpose(1, 2)


@contextlib.contextmanager
def spatial_fakes() -> Iterator[None]:
    """Register the spatial fakes for the duration of the block."""
    with contextlib.ExitStack() as stack:
        for kind, name, cls in (("source", "fake-region-wave", RegionWaveSource),
                                ("encoder", "fake-region-pointwise", RegionPointwise),
                                ("head", "fake-region-last", RegionLastHead)):
            stack.enter_context(registry.registered(kind, name, cls))
        yield
