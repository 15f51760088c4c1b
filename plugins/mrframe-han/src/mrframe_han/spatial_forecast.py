"""``spatial-forecast``: a spatial source's features per region ``horizon`` steps ahead, optionally with a variance.

Every region reads the same weights (so the head is permutation-equivariant over regions)::

    c_r      = [regional_1[-1, r]; ...; regional_K[-1, r]; daily[T-1]; monthly[M-1]]
    z_r      = Dropout(GELU(W LayerNorm(c_r) + b))                               [B, R, hidden]
    mean     = W_mu z_r + b_mu                                                   -> [B, span, R, F]
    log_var  = bound * tanh((W_v z_r + b_v) / bound)                             -> [B, span, R, F]   (variance = true)

``regional_k`` are the last per-region states (``State.regional``) of every spatial input source on the
target's regions (the target source's own, and e.g. a front line on the same grid), in spec order;
``daily[T-1]`` / ``monthly[M-1]`` the combined national states at the anchor (those the spec has).

Prediction: a tensor ``[B, span, R, F]`` (kind ``point``), or ``{"mean", "log_var"}`` with ``variance = true``
(kind ``gaussian``, for gaussian-nll).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.errors import PluginError
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.attention import Dropout
from mrframe_han.readout import bounded, variance_kind


@attrs.frozen
class SpatialForecastConfig:
    hidden: int = field(64, "width of each region's context layer", min=1)
    dropout: float = field(0.0, "dropout on the context", min=0.0, max=0.9)
    variance: bool = field(False, "also predict a log-variance per value ({mean, log_var})")
    log_var_bound: float = field(10.0, "log-variances are smoothly limited to (-bound, bound)", min=1.0)


class SpatialForecast(Head):
    """Point or Gaussian forecast of ``span`` steps of the target's features in every region."""

    Config = SpatialForecastConfig
    extents = ("spatial",)

    @classmethod
    def kind_for(cls, config: SpatialForecastConfig) -> str:
        return variance_kind(config)

    def __init__(self, config: SpatialForecastConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        if target.regions is None:
            raise ValueError(f"spatial-forecast predicts spatial targets, and source '{target.source}' has no regions")
        self.regional = tuple(s.name for s in model.daily + model.monthly
                              if s.regions is not None and s.regions.ids == target.regions.ids)
        if not self.regional:
            raise ValueError(f"spatial-forecast needs a spatial input source on the regions of source "
                             f"'{target.source}' (that source with an encoder, or another on the same regions)")
        self.use_daily, self.use_monthly = bool(model.daily), bool(model.monthly)
        width = model.d_model * (len(self.regional) + self.use_daily + self.use_monthly)
        self.context = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.hidden), nn.GELU(),
                                     Dropout(config.dropout))
        outputs = target.span * target.n_features
        self.mean = nn.Linear(config.hidden, outputs)
        self.log_var = nn.Linear(config.hidden, outputs) if config.variance else None

    def forward(self, state: State) -> Tensor | Mapping[str, Tensor]:
        parts = []
        for name in self.regional:
            if name not in state.regional:
                raise PluginError(f"spatial-forecast: the encoder of source '{name}' handed on no per-region states "
                                  "(Stream.regional); use a spatial encoder such as geographic")
            parts.append(state.regional[name].last)  # [B, R, D]
        regions = parts[0].shape[1]
        for stream, use in ((state.daily, self.use_daily), (state.monthly, self.use_monthly)):
            if use:
                parts.append(stream.hidden[:, -1:].expand(-1, regions, -1))
        z = self.context(torch.cat(parts, dim=-1))  # [B, R, hidden]

        def per_region(layer: nn.Linear) -> Tensor:
            out = layer(z).view(z.shape[0], regions, self.target.span, self.target.n_features)
            return out.transpose(1, 2)  # [B, span, R, F]

        mean = per_region(self.mean)
        if self.log_var is None:
            return mean
        return {"mean": mean, "log_var": bounded(per_region(self.log_var), self.config.log_var_bound)}
