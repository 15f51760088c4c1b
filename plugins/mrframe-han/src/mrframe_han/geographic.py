"""``geographic``: the encoder of a spatial source (``Observed [B, T, R, F]``).

Time first, per region, with one set of weights shared by every region; then space, once, on each region's
summary of its own history; then a national summary over the regions::

    1. patches   the window is cut into S = ceil(T / P) patches of P steps, aligned to its end (the last patch
                 ends on the anchor; the first is padded in front with unobserved steps). Per region r and patch
                 s, with c = clamp(compress(v)) and mask m over the patch's P x F places:
                     e[s, r] = LayerNorm(W_v (m * c) + W_m m + b)   if r has an observation in s
                             = no_observation (learned)             otherwise
    2. time      h = e + month(s) + sinusoid(s), then per layer l, for each region on its own (causal decay
                 mixing: a weighted mean of the past with a learned time constant tau_l, 4^l patches at first)
                     u = LayerNorm(h);   c[s] = sum_{j<=s} exp(-(s-j)/tau_l) u[j] / sum_{j<=s} exp(-(s-j)/tau_l)
                     h = h + W_2 GELU(W_1 [u; c])
    3. space     on the last patch: region r attends to its neighbourhood N(r), the k nearest regions by
                 centroid (itself included, and every region exactly as near as the k-th, so the set does not
                 depend on the order of the regions), with the distance prior in the logits:
                     a[r, n] = softmax_n( q_r . k_n / sqrt(d) - dist(r, n) / lambda ),  lambda = exp(learned)
                     g_r = GatedUpdate(h_r, W_o sum_n a[r, n] v_n);   g_r = g_r + FeedForward(g_r)
    4. national  per patch, attention pooling over regions: p[s] = sum_r softmax_r(u . LN(h[s, r])) h[s, r].
                 Day t reads the last patch that ended on or before it (a learned start token before the
                 first) and its own observations summarised over regions (per feature: the mean over the
                 regions that observed it and the share of regions that did, embedded like a patch):
                     national[t] = LayerNorm(W_p p[s(t)] + day[t] + calendar[t])

Outputs: the national ``Stream [B, T, d_model]`` (``present``: anything observed at t) with ``regional`` a
:class:`~mrframe.observed.RegionalStream` of one state per region, ``LayerNorm(W g_r)`` ``[B, 1, R, d_model]``,
ending on the window's last step (``present``: the region had an observation in the window).

Every region runs through the same weights and the regions meet only in set operations (softmax over a
neighbourhood, softmax pooling), so the encoder is permutation-equivariant over regions; distances and
neighbourhoods are non-persistent buffers rebuilt from the region table. Values enter only through
``Observed.masked_values`` (masked places are exact zeros) and the mask, so it is masked-input invariant. Patch
``s`` holds steps up to its end only and the time layers are causal, so everything is causal: the national
state of day ``t`` reads patches that ended by ``t``. Cost: the per-region work runs on ``S = T / P`` patches
(53 for a year of days), not on days, with decay mixing (a few small matrix products) rather than attention
over each region's patches, and cross-region attention on one state per region.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Encoder, SourceInfo
from mrframe.observed import Calendar, Observed, RegionalStream, Stream
from mrframe.regions import Regions
from mrframe_han.attention import AttentionConfig, Dropout, FeedForward, GatedUpdate, check_heads
from mrframe_han.embedding import LIMIT, CalendarEmbedding, compress, sinusoid


@attrs.frozen
class GeographicConfig(AttentionConfig):
    heads: int = field(4, "heads of the attention across regions and of the pooling (width must be divisible by it)",
                       min=1)
    ffn: int = field(2, "feed-forward width as a multiple of width", min=1)
    patch: int = field(7, "steps per patch of the per-region temporal encoder (days of a daily source)", min=1)
    width: int = field(32, "width of the per-region states (the streams are projected to d_model)", min=2)
    layers: int = field(2, "causal decay-mixing layers over each region's patches", min=1)
    neighbours: int = field(16, "regions each region attends to: the k nearest by centroid, itself included", min=1)
    distance_scale_km: float = field(100.0, "initial scale of the distance prior -d/scale in km (learned)", min=1.0)
    compress_counts: bool = field(True, "pass count features through sign(x)*log1p(|x|) before projecting them")


def neighbourhoods(regions: Regions, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each region's k nearest regions by centroid, itself included, plus every region tied with the k-th:
    ``(index, distance_km, valid)``, each ``[R, K]`` (``K`` >= k where there are ties; ``valid`` marks padding).
    Taking all ties makes the set independent of the order of the regions (a regular grid has many)."""
    distance = regions.distances_km()
    kth = np.sort(distance, axis=1)[:, min(k, len(regions)) - 1]
    inside = distance <= kth[:, None] * (1 + 1e-9) + 1e-9
    width = int(inside.sum(1).max())
    order = np.argsort(np.where(inside, distance, np.inf), axis=1, kind="stable")[:, :width]
    return order, np.take_along_axis(distance, order, 1), np.take_along_axis(inside, order, 1)


class MaskedEmbedding(nn.Module):
    """``(values, mask) [..., n] -> [..., width]``: ``LayerNorm(W_v (m * v) + W_m m + b)`` where anything is
    observed, a learned no-observation token elsewhere (``values`` must be 0 where ``mask`` is False)."""

    def __init__(self, inputs: int, width: int):
        super().__init__()
        self.value = nn.Linear(inputs, width, bias=False)
        self.observed = nn.Linear(inputs, width)
        self.norm = nn.LayerNorm(width)
        self.no_observation = nn.Parameter(torch.randn(width) * 0.02)

    def forward(self, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        present = mask.any(-1)
        embedded = self.norm(self.value(values) + self.observed(mask.to(values.dtype)))
        return torch.where(present.unsqueeze(-1), embedded, self.no_observation.to(embedded.dtype)), present


class DecayMixing(nn.Module):
    """A causal layer over time-major sequences ``[S, N, w]``: ``h + Dropout(W_2 GELU(W_1 [u; c]))`` with
    ``u = LayerNorm(h)`` and ``c`` the causal exponentially weighted mean of ``u`` with a learned time constant::

        c[s] = sum_{j<=s} exp(-(s-j)/tau) u[j] / sum_{j<=s} exp(-(s-j)/tau)

    Step ``s`` reads steps ``<= s`` only. ``c`` is one matrix product ``[S, S] @ [S, N * w]``: time-major
    sequences need no copy, which is why the per-region states are kept time-major. Stacked layers start at
    different time constants (1, 4, 16, ... steps), so together they see several scales."""

    def __init__(self, width: int, ffn: int, dropout: float, time_constant: float):
        super().__init__()
        self.log_tau = nn.Parameter(torch.tensor(math.log(time_constant)))
        self.norm = nn.LayerNorm(width)
        self.net = nn.Sequential(nn.Linear(2 * width, ffn * width), nn.GELU(), nn.Linear(ffn * width, width),
                                 Dropout(dropout))

    def kernel(self, steps: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """``[S, S]``: row ``s`` holds the normalised weights of steps ``j <= s``."""
        lag = torch.arange(steps, device=device).view(-1, 1) - torch.arange(steps, device=device).view(1, -1)
        weights = torch.exp(-lag.clamp(min=0) / self.log_tau.exp()) * (lag >= 0)
        return (weights / weights.sum(-1, keepdim=True)).to(dtype)

    def forward(self, h: Tensor) -> Tensor:
        steps, n, width = h.shape
        u = self.norm(h)
        mixed = (self.kernel(steps, h.device, u.dtype) @ u.view(steps, n * width)).view(steps, n, width)
        return h + self.net(torch.cat([u, mixed], dim=-1))


class NeighbourAttention(nn.Module):
    """Each region attends to its neighbourhood with the distance prior ``-d / lambda`` in the logits:
    ``[B, R, w] -> [B, R, w]`` (the update; see the module docstring)."""

    def __init__(self, regions: Regions, width: int, heads: int, neighbours: int, scale_km: float, dropout: float):
        super().__init__()
        check_heads(width, heads)
        index, distance, valid = neighbourhoods(regions, neighbours)
        self.register_buffer("index", torch.from_numpy(index), persistent=False)
        self.register_buffer("distance", torch.from_numpy(distance).float(), persistent=False)
        self.register_buffer("valid", torch.from_numpy(valid), persistent=False)
        self.heads = heads
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale_km)))
        self.norm = nn.LayerNorm(width)
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, regions, width = x.shape
        dh = width // self.heads
        normed = self.norm(x)
        query = self.query(normed).view(batch, regions, self.heads, dh)
        key, value = (t.view(batch, regions, self.heads, dh) for t in self.key_value(normed).chunk(2, dim=-1))
        key, value = key[:, self.index], value[:, self.index]  # [B, R, K, H, dh]
        prior = -self.distance / self.log_scale.exp()  # [R, K]
        logits = torch.einsum("brhd,brkhd->brhk", query, key) * dh**-0.5 + prior.unsqueeze(1)
        logits = logits.masked_fill(~self.valid.unsqueeze(1), float("-inf"))  # every region sees itself
        attended = torch.einsum("brhk,brkhd->brhd", torch.softmax(logits, dim=-1), value)
        return self.dropout(self.out(attended.reshape(batch, regions, width)))


class Geographic(Encoder):
    """Per-region causal encoding of patches, attention across neighbouring regions under a learned distance
    prior, and a national stream pooled over regions (see the module docstring)."""

    Config = GeographicConfig
    extents = ("spatial",)

    def __init__(self, config: GeographicConfig, source: SourceInfo, d_model: int):
        super().__init__(config, source, d_model)
        if source.regions is None:
            raise ValueError(f"geographic encodes spatial sources, and source '{source.name}' has no regions")
        width, f, p = config.width, source.n_features, config.patch
        check_heads(width, config.heads)
        counts = [name in source.counts and config.compress_counts for name in source.features]
        self.compress_any = any(counts)
        self.register_buffer("counts", torch.tensor(counts, dtype=torch.bool), persistent=False)
        self.patch = MaskedEmbedding(p * f, width)
        self.month = nn.Embedding(12, width)
        nn.init.normal_(self.month.weight, std=0.02)
        self.position_scale = nn.Parameter(torch.tensor(0.1))
        self.dropout = Dropout(config.dropout)
        self.time = nn.ModuleList(
            [DecayMixing(width, config.ffn, config.dropout, 4.0**layer) for layer in range(config.layers)]
        )
        self.space = NeighbourAttention(source.regions, width, config.heads, config.neighbours,
                                        config.distance_scale_km, config.dropout)
        self.space_gate = GatedUpdate(width)
        self.space_feed_forward = FeedForward(width, config.ffn, config.dropout)
        self.pool_norm = nn.LayerNorm(width)
        self.pool_query = nn.Parameter(torch.randn(config.heads, width // config.heads) * 0.02)
        self.pool_out = nn.Linear(width, d_model)
        self.start = nn.Parameter(torch.randn(d_model) * 0.02)  # what a day reads before the first patch ended
        self.day = MaskedEmbedding(2 * f, d_model)
        self.calendar = CalendarEmbedding(d_model, daily=source.resolution == "daily")
        self.national_norm = nn.LayerNorm(d_model)
        self.regional_out = nn.Sequential(nn.Linear(width, d_model), nn.LayerNorm(d_model))

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        if not x.spatial:
            raise ValueError(f"geographic needs spatial inputs [batch, time, regions, features], got {tuple(x.shape)}")
        batch, steps, regions, _ = x.shape
        values, mask = self._inputs(x)
        patches, ends, pad = self._patch_layout(steps)
        # 1. patches, time-major: [S, B, R, P * F] values and mask, padded in front with unobserved steps
        embedded, patch_present = self.patch(_patches(values, pad, self.config.patch),
                                             _patches(mask, pad, self.config.patch))  # [S, B, R, w], [S, B, R]
        position = self.month(self._months(calendar, ends)).transpose(0, 1) + self.position_scale * sinusoid(
            patches, embedded.shape[-1], x.values.device, embedded.dtype).unsqueeze(1)  # [S, B, w]
        # 2. time: every region's patches on their own (regions folded into the batch), shared weights
        h = self.dropout(embedded + position.unsqueeze(2)).view(patches, batch * regions, -1)
        for layer in self.time:
            h = layer(h)
        h = h.view(patches, batch, regions, -1)
        # 3. space: the last state of every region attends to its neighbourhood
        last = h[-1]  # [B, R, w]
        mixed = self.space_gate(last, self.space(last))
        mixed = mixed + self.space_feed_forward(mixed)
        regional = RegionalStream(self.regional_out(mixed).unsqueeze(1), patch_present.any(0).unsqueeze(1),
                                  ends[-1:])
        # 4. national: pooled over regions per patch, read by each day with that day's own summary
        pooled = self.pool_out(self._pool(h)).transpose(0, 1)  # [B, S, D]
        pooled = torch.cat([self.start.to(pooled.dtype).expand(batch, 1, -1), pooled], dim=1)
        read = torch.bucketize(torch.arange(steps, device=ends.device), ends, right=True)  # patches ended by t
        day, _ = self.day(*_summary(values, mask))
        national = self.national_norm(pooled[:, read] + day + self.calendar(calendar))
        return Stream(national, x.present, regional)

    def _inputs(self, x: Observed) -> tuple[Tensor, Tensor]:
        """Masked values (compressed counts, clamped) and the mask: exact zeros at unobserved places."""
        values = x.masked_values()
        if self.compress_any:
            values = torch.where(self.counts, compress(values), values)
        return values.clamp(-LIMIT, LIMIT), x.mask

    def _patch_layout(self, steps: int) -> tuple[int, Tensor, int]:
        """Number of patches, the window step each ends on, and the unobserved steps padded in front."""
        p = self.config.patch
        patches = -(-steps // p)
        ends = torch.arange(patches, device=self.counts.device) * p + (steps - 1 - (patches - 1) * p)
        return patches, ends, patches * p - steps

    def _months(self, calendar: Calendar, ends: Tensor) -> Tensor:
        """``[B, S]`` month of year of each patch's last step."""
        months = calendar.month_of_year if self.source.resolution == "daily" else calendar.monthly_month_of_year
        return months[:, ends]

    def _pool(self, h: Tensor) -> Tensor:
        """``[S, B, R, w] -> [S, B, w]``: per patch, attention pooling over regions (one query per head)."""
        patches, batch, regions, width = h.shape
        heads = self.pool_query.shape[0]
        split = (patches, batch, regions, heads, width // heads)
        weights = torch.softmax((self.pool_norm(h).view(split) * self.pool_query).sum(-1), dim=2)  # [S, B, R, H]
        return (weights.unsqueeze(-1) * h.view(split)).sum(2).reshape(patches, batch, width)


def _patches(x: Tensor, pad: int, patch: int) -> Tensor:
    """``[B, T, R, F] -> [S, B, R, P * F]`` (time-major), ``pad`` unobserved (zero / False) steps in front."""
    batch, steps, regions, features = x.shape
    if pad:
        x = torch.cat([x.new_zeros(batch, pad, regions, features), x], dim=1)
    x = x.view(batch, -1, patch, regions, features).permute(1, 0, 3, 2, 4)
    return x.reshape(x.shape[0], batch, regions, patch * features)


def _summary(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Each step's observations summarised over regions, ``[B, T, 2F]`` values and mask: per feature the mean
    over the regions that observed it and the share of regions that did (both observed iff any region did)."""
    observed = mask.to(values.dtype)
    count = observed.sum(2)  # [B, T, F]
    mean = values.sum(2) / count.clamp(min=1.0)
    share = count / mask.shape[2]
    any_region = mask.any(2)
    return torch.cat([mean, share], dim=-1), torch.cat([any_region, any_region], dim=-1)
