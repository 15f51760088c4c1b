"""What a head reads from the state at the anchor, and the output bounds heads share.

:class:`Readout` turns the state into one context vector per sample::

    r = [daily[T-1]; monthly[M-1]; own[-1]]            (the parts the spec has, see below)
    z = Dropout(GELU(W LayerNorm(r) + b))             [B, hidden]

``daily[T-1]`` is the combined daily state on the anchor day, ``monthly[M-1]`` the combined state of the last
completed month (when the spec has monthly sources; a monthly stream that month-aggregate builds from the days
reaches heads through cross-resolution) and ``own[-1]`` the last state of the target source's own
encoder stream (``State.sources``), when that source is an input and ``source_stream`` is on.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.attention import Dropout


@attrs.frozen
class ReadoutConfig:
    """The keys every HAN head has (its config class extends this one)."""

    hidden: int = field(64, "width of the context layer", min=1)
    source_stream: bool = field(True, "also read the target source's own encoder stream (when it is an input)")
    dropout: float = field(0.0, "dropout on the context", min=0.0, max=0.9)


@attrs.frozen
class GaussianConfig(ReadoutConfig):
    """The keys of heads that may predict a variance."""

    variance: bool = field(False, "also predict a log-variance per value ({mean, log_var})")
    log_var_bound: float = field(10.0, "log-variances are smoothly limited to (-bound, bound)", min=1.0)


def variance_kind(config: GaussianConfig | Any) -> str:
    """The prediction kind of a head whose config has a ``variance`` key: ``gaussian`` with a variance, else
    ``point``."""
    return "gaussian" if config.variance else "point"


def bounded(raw: Tensor, bound: float) -> Tensor:
    """``bound * tanh(raw / bound)``: identity near 0, smoothly limited to ``(-bound, bound)`` (keeps ``exp`` of
    a log-variance or log-mean finite)."""
    return bound * torch.tanh(raw / bound)


class Readout(nn.Module):
    """``State -> [B, hidden]`` context at the anchor."""

    def __init__(self, model: ModelInfo, target: TargetInfo, config: ReadoutConfig):
        super().__init__()
        if not model.daily and not model.monthly:
            raise ValueError("a head needs at least one daily or monthly input source")
        inputs = {s.name for s in model.daily + model.monthly}
        self.use_daily = bool(model.daily)
        self.use_monthly = bool(model.monthly)
        self.own = target.source if config.source_stream and target.source in inputs else None
        width = model.d_model * (self.use_daily + self.use_monthly + (self.own is not None))
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, config.hidden), nn.GELU(), Dropout(config.dropout)
        )

    def forward(self, state: State) -> Tensor:
        parts = []
        if self.use_daily:
            parts.append(state.daily.hidden[:, -1])
        if self.use_monthly:
            parts.append(state.monthly.hidden[:, -1])
        if self.own is not None:
            parts.append(state.sources[self.own].hidden[:, -1])
        return self.net(torch.cat(parts, dim=-1))

