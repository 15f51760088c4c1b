"""``local-temporal``: multi-scale causal convolutions plus windowed causal attention on the daily stream.

::

    c_k  = DepthwiseConv_k(LayerNorm(x))   left-padded by k - 1, for k in kernels (default 3, 7, 14, 28 days)
    x    = x + sigmoid(W_g [x; u]) * u,    u = Dropout(W_c [c_3; c_7; c_14; c_28])
    x    = x + CausalSelfAttention_window(x)   (each day sees the last `window` days, itself included)
    x    = x + FeedForward(x)

Causal: convolution outputs at day t read days t-k+1..t (zeros before the window's first day), attention reads
days t-window+1..t.
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo
from mrframe.observed import State, Stream
from mrframe_han.attention import AttentionConfig, CausalSelfAttention, Dropout, FeedForward, GatedUpdate


def _kernels(value: tuple[int, ...]) -> str | None:
    if not value:
        return "give at least one kernel size"
    if any(k < 1 for k in value):
        return f"kernel sizes must be >= 1, got {list(value)}"
    return None


@attrs.frozen
class LocalTemporalConfig(AttentionConfig):
    kernels: tuple[int, ...] = field((3, 7, 14, 28), "causal convolution lengths in days", check=_kernels)
    window: int = field(28, "days each day attends to (itself included)", min=1)


class MultiScaleConvolution(nn.Module):
    """Depthwise causal convolutions of several lengths, mixed back to ``d_model``: ``[B, T, D] -> [B, T, D]``."""

    def __init__(self, d_model: int, kernels: tuple[int, ...], dropout: float):
        super().__init__()
        self.kernels = kernels
        self.norm = nn.LayerNorm(d_model)
        self.convolutions = nn.ModuleList([nn.Conv1d(d_model, d_model, k, groups=d_model) for k in kernels])
        self.mix = nn.Linear(len(kernels) * d_model, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        channels = self.norm(x).transpose(1, 2)  # [B, D, T]
        scales = [conv(F.pad(channels, (k - 1, 0))) for k, conv in zip(self.kernels, self.convolutions, strict=True)]
        return self.dropout(self.mix(torch.cat(scales, dim=1).transpose(1, 2)))


class LocalTemporal(FusionBlock):
    """Multi-scale causal convolutions and windowed causal attention over days."""

    Config = LocalTemporalConfig

    def __init__(self, config: LocalTemporalConfig, model: ModelInfo):
        super().__init__(config, model)
        if not model.daily:
            raise ValueError("local-temporal works on the daily stream, and the spec has no daily input source")
        d = model.d_model
        self.convolution = MultiScaleConvolution(d, config.kernels, config.dropout)
        self.gate = GatedUpdate(d)
        self.attention = CausalSelfAttention(d, config.heads, config.dropout, window=config.window)
        self.feed_forward = FeedForward(d, config.ffn, config.dropout)

    def forward(self, state: State) -> State:
        x = state.daily.hidden
        x = self.gate(x, self.convolution(x))
        x = x + self.attention(x)
        x = x + self.feed_forward(x)
        return state.replace(daily=Stream(x, state.daily.present))
