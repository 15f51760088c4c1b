"""``recurrent``: the cheap baseline encoder: masked feature tokens + calendar, then a causal GRU."""

from __future__ import annotations

import attrs
from torch import nn

from mrframe.config import field
from mrframe.interfaces import Encoder, SourceInfo
from mrframe.observed import Calendar, Observed, Stream
from mrframe_han.embedding import CalendarEmbedding, FeatureTokens


@attrs.frozen
class RecurrentConfig:
    layers: int = field(1, "stacked GRU layers", min=1)
    dropout: float = field(0.0, "dropout between GRU layers (needs layers >= 2)", min=0.0, max=1.0)
    compress_counts: bool = field(True, "pass count features through sign(x)*log1p(|x|) before projecting them")


class RecurrentEncoder(Encoder):
    """Cheap baseline encoder: masked feature tokens and calendar embedding, then a GRU over time.

    Feature tokens as in :class:`~mrframe_han.embedding.FeatureTokens` (one pooling head)::

        hidden[t] = LayerNorm(GRU(tokens[<= t] + calendar[<= t]))

    Causal by construction; steps with nothing observed carry a learned no-observation token into the GRU, so
    the state is always defined.
    """

    Config = RecurrentConfig

    def __init__(self, config: RecurrentConfig, source: SourceInfo, d_model: int):
        super().__init__(config, source, d_model)
        self.embed = FeatureTokens(source, d_model, heads=1, compress_counts=config.compress_counts)
        self.calendar = CalendarEmbedding(d_model, daily=source.resolution == "daily")
        self.gru = nn.GRU(d_model, d_model, num_layers=config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.out = nn.LayerNorm(d_model)

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        hidden, present = self.embed(x)
        hidden = hidden + self.calendar(calendar)
        hidden, _ = self.gru(hidden)
        return Stream(self.out(hidden), present)
