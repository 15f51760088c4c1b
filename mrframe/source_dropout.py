"""Source dropout: while training, hide a whole input source from a sample with probability ``p``.

A model that latches onto one source (the one that predicts best in the training period) breaks when that
source goes quiet or changes. Source dropout hides each input source of each training sample independently
with probability ``p`` (``[model] source_dropout``)::

    keep[b, s] ~ Bernoulli(1 - p)          mask'[b, :, :] = mask[b, :, :] and keep[b, s]

It acts through the mask only, so a dropped source is *unobserved* (the encoders' no-observation path), never
zeros passed off as observations. It is off in evaluation (``module.eval()``), draws from torch's generator
like ``nn.Dropout`` (seeded by ``run.seed`` and saved in checkpoints, so a resumed run draws the same sources)
and draws nothing when ``p = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mrframe.observed import Observed


class SourceDropout(nn.Module):
    """``forward(inputs) -> inputs`` with whole sources hidden per sample in training mode."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"source dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, inputs: Mapping[str, Observed]) -> Mapping[str, Observed]:
        if not self.training or self.p == 0.0:
            return inputs
        out = {}
        for name, x in inputs.items():
            keep = torch.rand(x.shape[0], device=x.mask.device) >= self.p
            out[name] = Observed.build(x.values, x.mask & keep.view(-1, *([1] * (x.mask.dim() - 1))))
        return out

    def extra_repr(self) -> str:
        return f"p={self.p}"
