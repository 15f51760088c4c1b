"""``temporal``: a causal transformer over the monthly stream.

::

    m = m + sinusoid(lag) * scale          (months before the last completed month; learned scalar scale)
    m = TransformerLayer_l(m)   for l = 1..layers     (month j attends to months <= j)
    m = LayerNorm(m)

Causal at monthly resolution: month j depends on months up to j only.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo
from mrframe.observed import State, Stream
from mrframe_han.attention import AttentionConfig, TransformerLayer, check_heads
from mrframe_han.embedding import SinusoidTable
from mrframe_han.streams import require_monthly


@attrs.frozen
class TemporalConfig(AttentionConfig):
    layers: int = field(2, "transformer layers", min=1)


class Temporal(FusionBlock):
    """Causal transformer at monthly resolution."""

    Config = TemporalConfig

    def __init__(self, config: TemporalConfig, model: ModelInfo):
        super().__init__(config, model)
        check_heads(model.d_model, config.heads)
        self.position_scale = nn.Parameter(torch.tensor(0.1))
        self.positions = SinusoidTable(model.d_model)
        self.layers = nn.ModuleList(
            [TransformerLayer(model.d_model, config.heads, config.ffn, config.dropout) for _ in range(config.layers)]
        )
        self.norm = nn.LayerNorm(model.d_model)

    def forward(self, state: State) -> State:
        monthly = require_monthly(state.monthly, "temporal")
        x = monthly.hidden
        x = x + self.position_scale * self.positions(x.shape[1], x.device, x.dtype)
        for layer in self.layers:
            x = layer(x)
        return state.replace(monthly=Stream(self.norm(x), monthly.present))
