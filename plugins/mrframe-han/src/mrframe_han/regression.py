"""A regression head: point forecasts from the state at the anchor."""

from __future__ import annotations

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State


@attrs.frozen
class RegressionConfig:
    hidden: int = field(64, "width of the hidden layer", min=1)
    dropout: float = field(0.0, "dropout before the output layer", min=0.0, max=1.0)


class RegressionHead(Head):
    """Point forecasts ``[B, span, F]`` from the last daily and the last monthly state (those that exist).

    ::

        y = W2 GELU(W1 [daily[T-1]; monthly[M-1]] + b1) + b2
    """

    Config = RegressionConfig
    prediction_kind = "point"

    def __init__(self, config: RegressionConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        # which streams to read is decided by the inputs, not by what a fusion block may add later
        self.use_daily, self.use_monthly = bool(model.daily), bool(model.monthly)
        inputs = model.d_model * (self.use_daily + self.use_monthly)
        if inputs == 0:
            raise ValueError("the regression head needs at least one daily or monthly input source")
        self.net = nn.Sequential(
            nn.Linear(inputs, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, target.span * target.n_features),
        )

    def forward(self, state: State) -> Tensor:
        used = ((state.daily, self.use_daily), (state.monthly, self.use_monthly))
        parts = [stream.hidden[:, -1] for stream, use in used if use]
        out = self.net(torch.cat(parts, dim=-1))
        return out.view(out.shape[0], self.target.span, self.target.n_features)
