"""A simple causal fusion block: each day receives the last month that had ended before it."""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo
from mrframe.observed import State, Stream


@attrs.frozen
class MonthContextConfig:
    hidden: int = field(2, "width of the feed-forward layer, as a multiple of d_model", min=1)
    dropout: float = field(0.0, "dropout in the feed-forward layer", min=0.0, max=1.0)


class MonthContext(FusionBlock):
    """Gives each day the latest monthly state that had ended before it (gated), then a feed-forward layer.

    ::

        c[t]     = monthly[month_slot[t] - 1]   (a learned 'no month yet' vector if that slot is outside the window)
        daily[t] = daily[t] + sigmoid(g(daily[t], c[t])) * W c[t]
        daily[t] = daily[t] + FFN(LayerNorm(daily[t]))

    Causal: day t only reads monthly slots that ended before t. Without monthly sources only the FFN runs.
    """

    Config = MonthContextConfig

    def __init__(self, config: MonthContextConfig, model: ModelInfo):
        super().__init__(config, model)
        d = model.d_model
        self.none = nn.Parameter(torch.zeros(d))
        self.project = nn.Linear(d, d)
        self.gate = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, config.hidden * d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.hidden * d, d)
        )

    def forward(self, state: State) -> State:
        if state.daily is None:
            return state
        daily = state.daily.hidden
        if state.monthly is not None:
            monthly = state.monthly.hidden  # [B, M, D]
            slot = state.calendar.month_slot - 1  # [B, T]: last month that ended before each day
            valid = (slot >= 0) & (slot < monthly.shape[1])
            index = slot.clamp(0, monthly.shape[1] - 1).unsqueeze(-1).expand(-1, -1, monthly.shape[-1])
            context = torch.gather(monthly, 1, index)
            context = torch.where(valid.unsqueeze(-1), context, self.none.expand_as(context))
            gate = torch.sigmoid(self.gate(torch.cat([daily, context], dim=-1)))
            daily = daily + gate * self.project(context)
        daily = daily + self.ffn(self.norm(daily))
        return state.replace(daily=Stream(daily, state.daily.present))
