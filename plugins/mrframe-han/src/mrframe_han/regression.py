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

    def __init__(self, config: RegressionConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        inputs = model.d_model * (bool(model.daily) + bool(model.monthly))
        if inputs == 0:
            raise ValueError("the regression head needs at least one daily or monthly input source")
        self.net = nn.Sequential(
            nn.Linear(inputs, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, target.span * target.n_features),
        )

    def forward(self, state: State) -> Tensor:
        parts = [s.hidden[:, -1] for s in (state.daily, state.monthly) if s is not None]
        out = self.net(torch.cat(parts, dim=-1))
        return out.view(out.shape[0], self.target.span, self.target.n_features)
