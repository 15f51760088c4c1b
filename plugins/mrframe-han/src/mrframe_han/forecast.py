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

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.readout import Readout, bounded


@attrs.frozen
class ForecastConfig:
    hidden: int = field(64, "width of the context layer", min=1)
    variance: bool = field(False, "also predict a log-variance per value ({mean, log_var})")
    source_stream: bool = field(True, "also read the target source's own encoder stream (when it is an input)")
    dropout: float = field(0.0, "dropout on the context", min=0.0, max=0.9)
    log_var_bound: float = field(10.0, "log-variances are smoothly limited to (-bound, bound)", min=1.0)


class Forecast(Head):
    """Point or Gaussian forecast of ``span`` steps of the target's features."""

    Config = ForecastConfig

    def __init__(self, config: ForecastConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        self.readout = Readout(model, target, config.hidden, config.source_stream, config.dropout)
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
