"""``cross-resolution``: bidirectional gated cross-attention between the daily and the monthly stream.

Each of ``layers`` layers updates both streams from the other's input state::

    d[t] <- CrossAttention(d[t]; {m[j] : month j ended before day t} + null)        (Calendar.months_visible)
    m[j] <- CrossAttention(m[j]; {d[t] : day t lies in month j or earlier} + null)
    x    <- x + sigmoid(W_g [x; u]) * u,   then   x <- x + FeedForward(x)            (for each stream)

Causal: day t reads only months that had ended before it; month j reads only days up to its own end, and every
earlier layer kept the same rule, so nothing after a step ever reaches it.
"""

from __future__ import annotations

import attrs
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo
from mrframe.observed import State, Stream
from mrframe_han.attention import AttentionConfig, CrossAttention, FeedForward, GatedUpdate
from mrframe_han.streams import require_monthly


@attrs.frozen
class CrossResolutionConfig(AttentionConfig):
    layers: int = field(2, "exchange layers (each updates both streams)", min=1)


class _Reader(nn.Module):
    """One direction: ``x <- x + gate * CrossAttention(x; memory where allowed)``, then a feed-forward layer."""

    def __init__(self, d_model: int, config: CrossResolutionConfig):
        super().__init__()
        self.attention = CrossAttention(d_model, config.heads, config.dropout)
        self.gate = GatedUpdate(d_model)
        self.feed_forward = FeedForward(d_model, config.ffn, config.dropout)

    def forward(self, x: Tensor, memory: Tensor, allowed: Tensor) -> Tensor:
        x = self.gate(x, self.attention(x, memory, allowed))
        return x + self.feed_forward(x)


class CrossResolution(FusionBlock):
    """Daily <-> monthly gated cross-attention, ``layers`` times."""

    Config = CrossResolutionConfig

    def __init__(self, config: CrossResolutionConfig, model: ModelInfo):
        super().__init__(config, model)
        if not model.daily:
            raise ValueError("cross-resolution needs a daily input source")
        d = model.d_model
        self.to_daily = nn.ModuleList([_Reader(d, config) for _ in range(config.layers)])
        self.to_monthly = nn.ModuleList([_Reader(d, config) for _ in range(config.layers)])

    def forward(self, state: State) -> State:
        monthly_stream = require_monthly(state.monthly, "cross-resolution")
        daily, monthly = state.daily.hidden, monthly_stream.hidden
        visible = state.calendar.months_visible()
        until = ~visible.transpose(1, 2)  # [B, M, T]: day t lies in month slot m or an earlier month
        for to_daily, to_monthly in zip(self.to_daily, self.to_monthly, strict=True):
            daily, monthly = to_daily(daily, monthly, visible), to_monthly(monthly, daily, until)
        return state.replace(daily=Stream(daily, state.daily.present), monthly=Stream(monthly, monthly_stream.present))
