"""``cross-source``: at each step, the combined stream attends across the sources of its resolution.

For resolution ``r`` with sources ``s = 1..S`` (each encoder's own stream ``h_s`` in ``State.sources``) and
the combined stream ``x`` (``State.daily`` / ``State.monthly``)::

    k_s[t] = h_s[t] + type_s                          (learned source-type embedding)
    u[t]   = CrossAttention(x[t]; {k_s[t] : s present at t} + null)
    x[t]   = x[t] + sigmoid(W_g [x[t]; u[t]]) * u[t]
    x[t]   = x[t] + FeedForward(x[t])

Sources with nothing observed at ``t`` are not attended to; the learned null key keeps a step where no source
is present defined. Each step reads only its own step of every source, so causality carries over from the
encoders.
"""

from __future__ import annotations

from typing import Literal

import attrs
import torch
from torch import nn

from mrframe.config import field
from mrframe.interfaces import FusionBlock, ModelInfo, SourceInfo
from mrframe.observed import State, Stream
from mrframe_han.attention import AttentionConfig, CrossAttention, FeedForward, GatedUpdate


@attrs.frozen
class CrossSourceConfig(AttentionConfig):
    resolution: Literal["daily", "monthly", "both"] = field("both", "which combined streams attend across their sources")


class _AcrossSources(nn.Module):
    def __init__(self, sources: tuple[SourceInfo, ...], d_model: int, config: CrossSourceConfig):
        super().__init__()
        self.names = tuple(s.name for s in sources)
        self.types = nn.Parameter(torch.randn(len(sources), d_model) * 0.02)
        self.attention = CrossAttention(d_model, config.heads, config.dropout)
        self.gate = GatedUpdate(d_model)
        self.feed_forward = FeedForward(d_model, config.ffn, config.dropout)

    def forward(self, combined: Stream, state: State) -> Stream:
        streams = [state.sources[name] for name in self.names]
        x = combined.hidden
        batch, steps, width = x.shape
        keys = torch.stack([s.hidden for s in streams], dim=2) + self.types.to(x.dtype)  # [B, T, S, D]
        present = torch.stack([s.present for s in streams], dim=2)  # [B, T, S]
        update = self.attention(
            x.reshape(batch * steps, 1, width),
            keys.reshape(batch * steps, len(streams), width),
            present.reshape(batch * steps, 1, len(streams)),
        ).view(batch, steps, width)
        x = self.gate(x, update)
        return Stream(x + self.feed_forward(x), combined.present)


class CrossSource(FusionBlock):
    """Attention across sources at each step, with source-type embeddings and a gated update."""

    Config = CrossSourceConfig

    def __init__(self, config: CrossSourceConfig, model: ModelInfo):
        super().__init__(config, model)
        wanted = ("daily", "monthly") if config.resolution == "both" else (config.resolution,)
        self.across = nn.ModuleDict(
            {r: _AcrossSources(getattr(model, r), model.d_model, config) for r in wanted if getattr(model, r)}
        )
        if not self.across:
            raise ValueError(f"cross-source (resolution = {config.resolution!r}) found no input source of that resolution")

    def forward(self, state: State) -> State:
        changes = {r: block(getattr(state, r), state) for r, block in self.across.items()}
        return state.replace(**changes)
