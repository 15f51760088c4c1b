"""``daily-forecast``: several days of a daily source's features through a low-rank latent decoder.

Instead of a dense layer from the context to every (day, feature) pair (``hidden * span * F`` weights, the
bulk of a model's parameters and prone to memorising the training set), every day of the span gets a latent
code of width ``rank`` and the features are read out of it by one shared map::

    z        = Readout(state)                                   [B, hidden]   (module mrframe_han.readout)
    c[s]     = GELU(U z + p_s)                                  [B, span, rank]   (p_s: learned per lead day)
    mean     = c V_mu^T + b_mu                                  [B, span, F]
    log_var  = bound * tanh((c V_v^T + b_v) / bound)            (variance = true)

so the ``[span, F]`` output of a sample has rank <= ``rank`` and the head has ``hidden*rank + span*rank +
(rank+1)*F`` weights (twice the last term with a variance) instead of ``hidden*span*F``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.readout import GaussianConfig, Readout, bounded, variance_kind


@attrs.frozen
class DailyForecastConfig(GaussianConfig):
    rank: int = field(8, "width of each day's latent code (the rank of the [span, features] output)", min=1)


class DailyForecast(Head):
    """Multi-day forecast through per-day latent codes and a shared feature read-out."""

    Config = DailyForecastConfig

    @classmethod
    def kind_for(cls, config: DailyForecastConfig) -> str:
        return variance_kind(config)

    def __init__(self, config: DailyForecastConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        if target.resolution != "daily":
            raise ValueError(f"daily-forecast predicts days, and source '{target.source}' is {target.resolution}: "
                             "use the forecast head")
        self.readout = Readout(model, target, config)
        self.latent = nn.Linear(config.hidden, config.rank)
        self.lead = nn.Parameter(torch.randn(target.span, config.rank) * 0.02)
        self.mean = nn.Linear(config.rank, target.n_features)
        self.log_var = nn.Linear(config.rank, target.n_features) if config.variance else None

    def forward(self, state: State) -> Tensor | Mapping[str, Tensor]:
        codes = F.gelu(self.latent(self.readout(state)).unsqueeze(1) + self.lead)  # [B, span, rank]
        mean = self.mean(codes)
        if self.log_var is None:
            return mean
        return {"mean": mean, "log_var": bounded(self.log_var(codes), self.config.log_var_bound)}
