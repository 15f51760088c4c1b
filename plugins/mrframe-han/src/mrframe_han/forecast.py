"""``forecast``: a source's features ``horizon`` steps ahead (e.g. next month), optionally with a variance.

::

    z        = Readout(state)                                   [B, hidden]   (module mrframe_han.readout)
    mean     = W_mu z + b_mu                                    -> [B, span, F]
    log_var  = bound * tanh((W_v z + b_v) / bound)              -> [B, span, F]   (variance = true)

Prediction: a tensor ``[B, span, F]``, or ``{"mean", "log_var"}`` with ``variance = true`` (for gaussian-nll).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from torch import Tensor, nn

from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.readout import GaussianConfig, Readout, bounded, variance_kind


@attrs.frozen
class ForecastConfig(GaussianConfig):
    """The forecast head's keys: the context width, the target's own stream, dropout and the variance."""


class Forecast(Head):
    """Point or Gaussian forecast of ``span`` steps of the target's features."""

    Config = ForecastConfig

    @classmethod
    def kind_for(cls, config: ForecastConfig) -> str:
        return variance_kind(config)

    def __init__(self, config: ForecastConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        self.readout = Readout(model, target, config)
        outputs = target.span * target.n_features
        self.mean = nn.Linear(config.hidden, outputs)
        self.log_var = nn.Linear(config.hidden, outputs) if config.variance else None

    def forward(self, state: State) -> Tensor | Mapping[str, Tensor]:
        z = self.readout(state)
        shape = (z.shape[0], self.target.span, self.target.n_features)
        mean = self.mean(z).view(shape)
        if self.log_var is None:
            return mean
        return {"mean": mean, "log_var": bounded(self.log_var(z), self.config.log_var_bound).view(shape)}
