"""``month-aggregate``: learned month queries attend to the days inside each completed month.

For monthly slot ``m`` (every slot of the monthly window is a month that ended before the anchor)::

    q[m]   = query + month_of_year[m] (+ monthly[m] when there is a monthly stream)
    a[m]   = CrossAttention(q[m]; {daily[t] : day t lies in month m (and had an observation)} + null)
    monthly[m] = monthly[m] + sigmoid(W_g [monthly[m]; a[m]]) * a[m]     (or a[m] without a monthly stream)
    monthly[m] = monthly[m] + FeedForward(monthly[m])

A month with no day inside the daily window (or none observed) receives the learned null value. Slot ``m``
reads only days of month ``m``, and days only read slots that ended before them, so causality is kept. Without
monthly sources this block creates the monthly stream from the daily one (a later month-aggregate then adds
its summary without a gate).
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo
from mrframe.observed import State, Stream
from mrframe_han.attention import AttentionConfig, CrossAttention, FeedForward, GatedUpdate


@attrs.frozen
class MonthAggregateConfig(AttentionConfig):
    observed_only: bool = field(True, "attend only to days with at least one observation")


class MonthAggregate(FusionBlock):
    """Summarises each completed month's days into the monthly stream."""

    Config = MonthAggregateConfig

    def __init__(self, config: MonthAggregateConfig, model: ModelInfo):
        super().__init__(config, model)
        if not model.daily:
            raise ValueError("month-aggregate summarises the daily stream, and the spec has no daily input source")
        d = model.d_model
        self.query = nn.Parameter(torch.randn(d) * 0.02)
        self.month = nn.Embedding(12, d)
        nn.init.normal_(self.month.weight, std=0.02)
        self.attention = CrossAttention(d, config.heads, config.dropout)
        self.gate = GatedUpdate(d) if model.monthly else None
        self.feed_forward = FeedForward(d, config.ffn, config.dropout)

    def forward(self, state: State) -> State:
        daily, monthly, calendar = state.daily, state.monthly, state.calendar
        allowed = calendar.days_of_month()  # [B, M, T]
        if self.config.observed_only:
            allowed = allowed & daily.present.unsqueeze(1)
        query = self.query + self.month(calendar.monthly_month_of_year)
        if monthly is not None:
            query = query + monthly.hidden
        summary = self.attention(query, daily.hidden, allowed)
        has_days = allowed.any(dim=-1)
        if monthly is None:
            x, present = summary, has_days
        else:
            merged = monthly.hidden + summary if self.gate is None else self.gate(monthly.hidden, summary)
            x, present = merged, monthly.present | has_days
        x = x + self.feed_forward(x)
        return state.replace(monthly=Stream(x, present))
