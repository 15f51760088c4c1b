"""``anomaly``: a score per target value saying how anomalous the coming steps are (binary labels).

Anomalies show in the recent days rather than only on the anchor day, so next to the anchor context the head
pools the last ``lookback`` days with a learned query::

    z       = Readout(state)                                                 (module mrframe_han.readout)
    p       = CrossAttention(q; {daily[t] : t in the last lookback days, observed} + null)
    logits  = W [z; p] + b                                                   -> [B, span, F]

Prediction ``{"logits"}`` ``[B, span, F]`` against 0/1 labels (``units = "raw"``, e.g. a labels source), of kind
``binary``: the anomaly score is ``sigmoid(logits)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.attention import CrossAttention
from mrframe_han.readout import Readout, ReadoutConfig


@attrs.frozen
class AnomalyConfig(ReadoutConfig):
    lookback: int = field(28, "recent days the head attends to", min=1)
    heads: int = field(4, "attention heads (d_model must be divisible by it)", min=1)


class Anomaly(Head):
    """Anomaly logits from the anchor context and the pooled recent days."""

    Config = AnomalyConfig
    prediction_kind = "binary"
    target_units = ("raw",)

    def __init__(self, config: AnomalyConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        if not model.daily:
            raise ValueError("the anomaly head pools recent days and needs a daily input source")
        self.readout = Readout(model, target, config)
        self.query = nn.Parameter(torch.randn(1, 1, model.d_model) * 0.02)
        self.pool = CrossAttention(model.d_model, config.heads)
        self.logits = nn.Linear(config.hidden + model.d_model, target.span * target.n_features)

    def forward(self, state: State) -> Mapping[str, Tensor]:
        recent = state.daily.hidden[:, -self.config.lookback :]
        allowed = state.daily.present[:, -self.config.lookback :].unsqueeze(1)  # [B, 1, L]
        query = self.query.to(recent.dtype).expand(recent.shape[0], -1, -1)
        pooled = self.pool(query, recent, allowed).squeeze(1)
        logits = self.logits(torch.cat([self.readout(state), pooled], dim=-1))
        return {"logits": logits.view(logits.shape[0], self.target.span, self.target.n_features)}
