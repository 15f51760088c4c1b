"""``counts``: zero-inflated negative binomial parameters for event counts (e.g. daily fire detections).

::

    z                        = Readout(state)              [B, hidden]   (module mrframe_han.readout)
    [a; theta; pi_logit]     = W z + b                     -> 3 x [B, span, F]
    log_mu                   = bound * tanh(a / bound)     (mean of the negative binomial part, finite exp)

Prediction ``{"log_mu", "theta", "pi_logit"}`` (``theta`` unconstrained: the loss maps it through softplus
with a floor). Targets are raw counts (``units = "raw"``). Prediction kind ``zinb`` (point forecast: the mean
``sigmoid(-pi_logit) * exp(log_mu)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.readout import Readout, ReadoutConfig, bounded


@attrs.frozen
class CountsConfig(ReadoutConfig):
    log_mu_bound: float = field(15.0, "log-means are smoothly limited to (-bound, bound)", min=1.0)


class Counts(Head):
    """ZINB parameters per target value."""

    Config = CountsConfig
    prediction_kind = "zinb"
    target_units = ("raw",)

    def __init__(self, config: CountsConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        self.readout = Readout(model, target, config)
        self.out = nn.Linear(config.hidden, 3 * target.span * target.n_features)

    def forward(self, state: State) -> Mapping[str, Tensor]:
        z = self.readout(state)
        raw = self.out(z).view(z.shape[0], 3, self.target.span, self.target.n_features)
        return {"log_mu": bounded(raw[:, 0], self.config.log_mu_bound), "theta": raw[:, 1], "pi_logit": raw[:, 2]}
