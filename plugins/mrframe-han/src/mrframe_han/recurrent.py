"""A small recurrent encoder: masked feature embedding + calendar, then a causal GRU."""

from __future__ import annotations

import attrs
from torch import nn

from mrframe.config import field
from mrframe.interfaces import Encoder, SourceInfo
from mrframe.observed import Calendar, Observed, Stream
from mrframe_han.embedding import CalendarEmbedding, MaskedFeatureEmbedding


@attrs.frozen
class RecurrentConfig:
    layers: int = field(1, "stacked GRU layers", min=1)
    dropout: float = field(0.0, "dropout between GRU layers (needs layers >= 2)", min=0.0, max=1.0)


class RecurrentEncoder(Encoder):
    """Cheap baseline encoder: masked per-feature embedding, calendar embedding, causal GRU over time.

    ``hidden[t] = GRU(embed(x[<= t]))``: causal by construction; steps with nothing observed carry a learned
    no-observation token into the GRU, so the state is always defined.
    """

    Config = RecurrentConfig

    def __init__(self, config: RecurrentConfig, source: SourceInfo, d_model: int):
        super().__init__(config, source, d_model)
        self.embed = MaskedFeatureEmbedding(source.n_features, d_model)
        self.calendar = CalendarEmbedding(d_model, daily=source.resolution == "daily")
        self.gru = nn.GRU(d_model, d_model, num_layers=config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.out = nn.LayerNorm(d_model)

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        hidden, present = self.embed(x)
        hidden = hidden + self.calendar(calendar)
        hidden, _ = self.gru(hidden)
        return Stream(self.out(hidden), present)
