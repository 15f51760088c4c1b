"""An exponential-moving-average encoder: the smallest useful masked, causal encoder."""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mrframe.config import field
from mrframe.interfaces import Encoder, SourceInfo
from mrframe.observed import Calendar, Observed, Stream


@attrs.frozen
class EmaConfig:
    min_decay: float = field(0.5, "smallest per-feature decay of the running average", min=0.0, max=1.0)


class EmaEncoder(Encoder):
    """Per-feature running averages of the observed values and of the observation indicator, projected to d_model.

    For each feature ``f`` with learned decay ``a_f`` in ``[min_decay, 1)``::

        s[t] = a_f s[t-1] + (1 - a_f) x[t]   where x is observed, else s[t] = s[t-1]
        o[t] = a_f o[t-1] + (1 - a_f) m[t]   (how recently f was observed)
        hidden[t] = W [s[t]; o[t]] + b

    Causal (a running state), masked-input invariant (unobserved values enter only through ``torch.where``) and
    defined before the first observation (s = o = 0).
    """

    Config = EmaConfig

    def __init__(self, config: EmaConfig, source: SourceInfo, d_model: int):
        super().__init__(config, source, d_model)
        self.decay_logit = nn.Parameter(torch.zeros(source.n_features))
        self.project = nn.Linear(2 * source.n_features, d_model)

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        low = self.config.min_decay
        decay = low + (1 - low) * torch.sigmoid(self.decay_logit) * 0.999
        values, mask = x.masked_values(), x.mask
        level = torch.zeros_like(values[:, 0])
        seen = torch.zeros_like(values[:, 0])
        states = []
        for t in range(values.shape[1]):
            updated = decay * level + (1 - decay) * values[:, t]
            level = torch.where(mask[:, t], updated, level)
            seen = decay * seen + (1 - decay) * mask[:, t].to(values.dtype)
            states.append(torch.cat([level, seen], dim=-1))
        return Stream(self.project(torch.stack(states, dim=1)), x.present)
