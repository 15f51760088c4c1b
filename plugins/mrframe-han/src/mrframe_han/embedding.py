"""Masked per-timestep embedding of a source's features, shared by the encoders.

For features ``f`` at step ``t`` with value ``v`` and mask ``m``::

    e[t, f] = m ? (v * w_f + b_f + obs_f) : miss_f          (per-feature value projection + status)
    h[t]    = LayerNorm(mean_f e[t, f])       if any m[t, f]
    h[t]    = no_observation                  otherwise (a learned token)

Unobserved values enter only through ``torch.where`` on the mask, so whatever sits at masked places (0, 1e30,
NaN written after construction) cannot change ``h``: the masked-input invariance is bitwise.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mrframe.observed import Observed


class MaskedFeatureEmbedding(nn.Module):
    """``Observed [B, T, F] -> (hidden [B, T, D], present [B, T])``."""

    def __init__(self, n_features: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, d_model) * n_features**-0.5)
        self.bias = nn.Parameter(torch.zeros(n_features, d_model))
        self.observed = nn.Parameter(torch.randn(n_features, d_model) * 0.02)
        self.missing = nn.Parameter(torch.randn(n_features, d_model) * 0.02)
        self.no_observation = nn.Parameter(torch.randn(d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Observed) -> tuple[Tensor, Tensor]:
        values = x.masked_values().unsqueeze(-1)  # [B, T, F, 1]
        mask = x.mask.unsqueeze(-1)
        projected = values * self.weight + self.bias + self.observed
        per_feature = torch.where(mask, projected, self.missing.expand_as(projected))
        present = x.mask.any(dim=-1)
        hidden = self.norm(per_feature.mean(dim=2))
        hidden = torch.where(present.unsqueeze(-1), hidden, self.no_observation.expand_as(hidden))
        return hidden, present


class CalendarEmbedding(nn.Module):
    """Learned day-of-week and month-of-year embeddings (daily) or month-of-year only (monthly)."""

    def __init__(self, d_model: int, daily: bool):
        super().__init__()
        self.daily = daily
        self.weekday = nn.Embedding(7, d_model) if daily else None
        self.month = nn.Embedding(12, d_model)
        nn.init.normal_(self.month.weight, std=0.02)
        if self.weekday is not None:
            nn.init.normal_(self.weekday.weight, std=0.02)

    def forward(self, calendar) -> Tensor:  # noqa: ANN001 - mrframe.observed.Calendar
        if self.daily:
            return self.weekday(calendar.weekday) + self.month(calendar.month_of_year)
        return self.month(calendar.monthly_month_of_year)
