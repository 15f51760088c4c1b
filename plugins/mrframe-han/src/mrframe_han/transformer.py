"""The HAN's transformer encoders: ``daily-transformer`` and ``monthly-transformer``.

Both encode one source at its native resolution::

    x[t] = FeatureTokens(obs)[t] + sinusoid(lag t) + calendar(t)      (module mrframe_han.embedding)
    x    = TransformerLayer_l(x)   for l = 1..layers                   (causal self-attention + feed-forward)
    h    = LayerNorm(x)

``FeatureTokens`` gives every step a token built from the observed features only (a learned no-observation
token where nothing is observed), so attention never runs over missing values and never over nothing. The
daily encoder adds day-of-week and month-of-year embeddings, the monthly one month-of-year. Attention is causal
(step t sees steps <= t, optionally only the last ``window``), so ``h[t]`` depends on inputs up to t only.
"""

from __future__ import annotations

import attrs
from torch import nn

from mrframe.config import field
from mrframe.interfaces import Encoder, SourceInfo
from mrframe.observed import Calendar, Observed, Stream
from mrframe_han.attention import AttentionConfig, Dropout, TransformerLayer, check_heads
from mrframe_han.embedding import CalendarEmbedding, FeatureTokens, SinusoidTable


def _window(value: int | None) -> str | None:
    return None if value is None or value >= 1 else f"must be >= 1 (or left out for no limit), got {value}"


@attrs.frozen
class DailyTransformerConfig(AttentionConfig):
    layers: int = field(3, "transformer layers", min=1)
    window: int | None = field(None, "attend only to the last `window` steps (none: every earlier step)", check=_window)
    compress_counts: bool = field(True, "pass count features through sign(x)*log1p(|x|) before projecting them")


@attrs.frozen
class MonthlyTransformerConfig(DailyTransformerConfig):
    layers: int = field(2, "transformer layers", min=1)


class _TransformerEncoder(Encoder):
    def __init__(self, config: DailyTransformerConfig | MonthlyTransformerConfig, source: SourceInfo, d_model: int):
        super().__init__(config, source, d_model)
        check_heads(d_model, config.heads)
        self.tokens = FeatureTokens(source, d_model, config.heads, config.compress_counts)
        self.calendar = CalendarEmbedding(d_model, daily=source.resolution == "daily")
        self.positions = SinusoidTable(d_model)
        self.dropout = Dropout(config.dropout)
        self.layers = nn.ModuleList(
            [TransformerLayer(d_model, config.heads, config.ffn, config.dropout, config.window)
             for _ in range(config.layers)]
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        tokens, present = self.tokens(x)
        steps = tokens.shape[1]
        hidden = tokens + self.positions(steps, tokens.device, tokens.dtype) + self.calendar(calendar)
        hidden = self.dropout(hidden)
        for layer in self.layers:
            hidden = layer(hidden)
        return Stream(self.norm(hidden), present)


class DailyTransformer(_TransformerEncoder):
    """Causal transformer over a daily source's window."""

    Config = DailyTransformerConfig
    resolutions = ("daily",)


class MonthlyTransformer(_TransformerEncoder):
    """Causal transformer over a monthly source's window of completed months."""

    Config = MonthlyTransformerConfig
    resolutions = ("monthly",)
