"""Per-timestep embeddings shared by the encoders: masked feature tokens, calendar and sinusoidal positions.

:class:`FeatureTokens` turns a source's window ``Observed [B, T, F]`` into one token per timestep. For feature
``f`` at step ``t`` with value ``v``, mask ``m`` and learned feature embedding ``e_f``, observation-status
embeddings ``s_obs`` / ``s_miss`` and value projection ``w_f``::

    c        = clamp(sign(v) * log1p(|v|), +-LIMIT)   for count features (compress_counts), else clamp(v, +-LIMIT)
    x[t, f]  = e_f + (m ? s_obs + c * w_f : s_miss)                     (never reads v where m is False)
    a[h,t,:] = softmax_f(q_h . x[t, f]_h / sqrt(d_h))                   (pooling heads h, slices _h of d_model)
    y[t]_h   = sum_f a[h, t, f] * x[t, f]_h
    h[t]     = LayerNorm(y[t])     if any feature is observed at t,   else   no_observation (learned)

The pooling is computed in factorised form (``x`` is linear in ``m*c`` and ``m``), so no ``[B, T, F, D]``
tensor is materialised. Unobserved values enter only through :meth:`Observed.masked_values` (exact zeros), so
whatever sits at masked places cannot change ``h``: the masked-input invariance is bitwise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mrframe.interfaces import SourceInfo
from mrframe.observed import Calendar, Observed
from mrframe_han.attention import check_heads

LIMIT = 1e4
"""Values are clamped to +-LIMIT before projection: normalised inputs never get there, and it keeps every
activation (LayerNorm's variance above all) finite for any finite input, even 3e38."""


def compress(values: Tensor) -> Tensor:
    """``sign(x) * log1p(|x|)``: identity near 0, logarithmic in the tails (heavy-tailed counts)."""
    return torch.sign(values) * torch.log1p(values.abs())


class FeatureTokens(nn.Module):
    """``Observed [B, T, F] -> (tokens [B, T, D], present [B, T])``; see the module docstring for the formula."""

    def __init__(self, source: SourceInfo, d_model: int, heads: int = 1, compress_counts: bool = True):
        super().__init__()
        check_heads(d_model, heads)
        n = source.n_features
        self.heads = heads
        self.value = nn.Parameter(torch.randn(n, d_model) * n**-0.5)
        self.feature = nn.Parameter(torch.randn(n, d_model) * 0.02)
        self.status = nn.Parameter(torch.randn(2, d_model) * 0.02)  # [missing, observed]
        self.query = nn.Parameter(torch.randn(heads, d_model // heads) * 0.02)
        self.no_observation = nn.Parameter(torch.randn(d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)
        counts = [f in source.counts and compress_counts for f in source.features]
        self.compress_any = any(counts)
        self.register_buffer("counts", torch.tensor(counts, dtype=torch.bool), persistent=False)

    def forward(self, x: Observed) -> tuple[Tensor, Tensor]:
        mask = x.mask
        values = x.masked_values()
        if self.compress_any:
            values = torch.where(self.counts, compress(values), values)
        values = values.clamp(-LIMIT, LIMIT)
        observed = mask.to(values.dtype)
        mc = observed * values  # [B, T, F]; exactly 0 where unobserved
        h, n = self.heads, mask.shape[-1]
        dh = self.value.shape[1] // h
        value = self.value.view(n, h, dh)
        feature = self.feature.view(n, h, dh)
        status = self.status.view(2, h, dh)
        scale = dh**-0.5
        # score[b, t, h, f] = q_h . x[t, f]_h / sqrt(dh), split into its value, feature and status parts
        alpha = torch.einsum("hd,fhd->hf", self.query, value) * scale
        gamma = torch.einsum("hd,fhd->hf", self.query, feature) * scale
        sigma = torch.einsum("hd,shd->sh", self.query, status) * scale  # [2, H]
        # [B, T, H, F]; the status part is sigma_obs where observed, sigma_miss elsewhere (m is exactly 0 or 1)
        status_step = (sigma[1] - sigma[0]).view(h, 1)
        score = mc.unsqueeze(-2) * alpha + observed.unsqueeze(-2) * status_step + (gamma + sigma[0].view(h, 1))
        weight = torch.softmax(score, dim=-1)
        observed_weight = (weight * observed.unsqueeze(-2)).sum(-1)  # [B, T, H]
        pooled = (
            torch.einsum("bthf,fhd->bthd", weight * mc.unsqueeze(-2), value)
            + torch.einsum("bthf,fhd->bthd", weight, feature)
            + observed_weight.unsqueeze(-1) * status[1]
            + (1.0 - observed_weight).unsqueeze(-1) * status[0]
        )
        tokens = self.norm(pooled.flatten(-2))
        present = x.present
        tokens = torch.where(present.unsqueeze(-1), tokens, self.no_observation.to(tokens.dtype))
        return tokens, present


class CalendarEmbedding(nn.Module):
    """Learned day-of-week and month-of-year embeddings (daily) or month-of-year only (monthly)."""

    def __init__(self, d_model: int, daily: bool):
        super().__init__()
        self.weekday = nn.Embedding(7, d_model) if daily else None
        self.month = nn.Embedding(12, d_model)
        nn.init.normal_(self.month.weight, std=0.02)
        if self.weekday is not None:
            nn.init.normal_(self.weekday.weight, std=0.02)

    def forward(self, calendar: Calendar) -> Tensor:
        if self.weekday is not None:
            return self.weekday(calendar.weekday) + self.month(calendar.month_of_year)
        return self.month(calendar.monthly_month_of_year)


def sinusoid(steps: int, d_model: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """``[steps, d_model]`` sinusoidal encoding of the distance to the window's last step (``steps - 1 - t``),
    so a position means the same lag before the anchor whatever the window length.

    ``P[t, 2i] = sin(l / 10000^(2i/D))``, ``P[t, 2i+1] = cos(l / 10000^(2i/D))`` with ``l = steps - 1 - t``.
    """
    lag = torch.arange(steps - 1, -1, -1, device=device, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(steps, d_model, device=device)
    table[:, 0::2] = torch.sin(lag * rate)
    table[:, 1::2] = torch.cos(lag * rate)[:, : d_model // 2]
    return table.to(dtype) if dtype is not None else table


class SinusoidTable(nn.Module):
    """:func:`sinusoid` ``[steps, d_model]``, computed once per window length, device and dtype and then reused
    (a constant: no parameters, nothing in the state dict)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.tables: dict[tuple[int, torch.device, torch.dtype], Tensor] = {}

    def forward(self, steps: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        if torch.compiler.is_compiling():  # a compiled graph folds the table in; a cache would only add guards
            return sinusoid(steps, self.d_model, device, dtype)
        key = (steps, device, dtype)
        table = self.tables.get(key)
        if table is None:
            with torch.inference_mode(False):  # usable by autograd later even when first built for inference
                table = self.tables[key] = sinusoid(steps, self.d_model, device, dtype)
        return table
