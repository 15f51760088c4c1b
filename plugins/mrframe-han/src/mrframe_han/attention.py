"""Attention and feed-forward building blocks of the HAN.

Every attention goes through :func:`torch.nn.functional.scaled_dot_product_attention` and no query is ever
left without a key: causal self-attention always lets a step see itself, and cross-attention always offers a
learned null key/value next to the allowed memory. (``nn.MultiheadAttention`` is not used: its weights path and
its eval fast path return NaN for a query whose keys are all masked.)

All modules here return the *update*; callers add the residual (plainly or through :class:`GatedUpdate`).
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrframe.config import field


@attrs.frozen
class AttentionConfig:
    """The keys every attention block of the HAN has (its config class extends this one)."""

    heads: int = field(4, "attention heads (d_model must be divisible by it)", min=1)
    ffn: int = field(2, "feed-forward width as a multiple of d_model", min=1)
    dropout: float = field(0.1, "dropout on every residual update", min=0.0, max=0.9)


class Dropout(nn.Module):
    """Inverted dropout whose mask costs a quarter of the random draws of ``nn.Dropout``.

    ``nn.Dropout`` on CPU draws one 32-bit number per element on a single thread (``bernoulli_``): 10% of a
    HAN training step on 2 threads. Here every 32-bit draw gives four mask bytes ``u`` (uniform on 0..255); an
    element is kept iff ``u >= k`` with ``k = round(256 p)``, and kept elements are scaled by ``256 / (256 - k)``.
    The drop probability is therefore ``p`` rounded to a multiple of 1/256 (0.1 -> 0.1016), and the output's
    expectation is exactly the input.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.threshold = round(256 * p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.threshold == 0:
            return x
        n = x.numel()
        words = torch.randint(-(2**31), 2**31 - 1, ((n + 3) // 4,), dtype=torch.int32, device=x.device)
        keep = words.view(torch.uint8)[:n].view(x.shape) >= self.threshold
        return x * keep * (256.0 / (256 - self.threshold))

    def extra_repr(self) -> str:
        return f"p={self.threshold / 256:.4f}"


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False) -> Tensor:
    """``scaled_dot_product_attention(q, k, v)``: every attention of the HAN goes through here.

    On CPU under bf16 autocast it runs in fp32: torch's CPU flash-attention backward is 2-3.5x slower in bf16
    than in fp32 at the HAN's head width of 16 (measured, docs/han.md), and its cost is the softmax, not the
    matrix products bf16 would speed up. The result is then fp32; the next linear layer casts it back.
    """
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, is_causal=causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``[..., L, D] -> [..., H, L, D / H]``."""
    *batch, length, width = x.shape
    return x.view(*batch, length, heads, width // heads).transpose(-3, -2)


def merge_heads(x: Tensor) -> Tensor:
    """``[..., H, L, d] -> [..., L, H * d]``."""
    *batch, heads, length, width = x.shape
    return x.transpose(-3, -2).reshape(*batch, length, heads * width)


def check_heads(d_model: int, heads: int) -> None:
    if d_model % heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads}); change one of them")


class FeedForward(nn.Module):
    """``Dropout(W2 GELU(W1 LayerNorm(x)))`` with hidden width ``ratio * d_model``."""

    def __init__(self, d_model: int, ratio: int = 2, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model), nn.Linear(d_model, ratio * d_model), nn.GELU(),
            nn.Linear(ratio * d_model, d_model), Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CausalSelfAttention(nn.Module):
    """Pre-norm multi-head causal self-attention over ``[B, T, D]``: step ``t`` attends to steps
    ``max(0, t - window + 1) .. t`` (every earlier step when ``window`` is None). A step always sees itself.

    Without a window, long sequences are cut into query chunks that each attend to the keys up to their own end
    (about half the work of one ``T x T`` call, which computes the masked half too). With a window the keys are
    gathered blockwise (blocks of ``window`` steps see their own and the previous block), so the cost is
    ``O(T * window)``.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, window: int | None = None):
        super().__init__()
        check_heads(d_model, heads)
        if window is not None and window < 1:
            raise ValueError(f"attention window must be >= 1, got {window}")
        self.heads = heads
        self.window = window
        self.norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, steps, width = x.shape
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(self.norm(x)).chunk(3, dim=-1))
        if self.window is None or self.window >= steps:
            attended = _causal(q, k, v)
        else:
            attended = _windowed(q, k, v, self.window)
        return self.dropout(self.out(merge_heads(attended)))


CHUNK = 96
"""Query steps per chunk of full causal attention (measured on CPU: 4 chunks of T = 365 take ~80% of one call)."""


def _causal(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal attention, chunked over queries: chunk ``[a, b)`` attends to keys ``[0, b)`` with ``key <= query``."""
    steps = q.shape[-2]
    chunks = max(1, steps // CHUNK)
    if chunks == 1:
        return attend(q, k, v, causal=True)
    bounds = [steps * i // chunks for i in range(chunks + 1)]
    first = bounds[1]
    parts = [attend(q[..., :first, :], k[..., :first, :], v[..., :first, :], causal=True)]
    for start, end in zip(bounds[1:-1], bounds[2:], strict=True):
        queries = torch.arange(start, end, device=q.device).view(-1, 1)
        allowed = torch.arange(end, device=q.device).view(1, -1) <= queries
        parts.append(attend(q[..., start:end, :], k[..., :end, :], v[..., :end, :], allowed))
    return torch.cat(parts, dim=-2)


def _windowed(q: Tensor, k: Tensor, v: Tensor, window: int) -> Tensor:
    """Causal attention limited to the last ``window`` steps, blockwise. ``q, k, v``: ``[B, H, T, d]``."""
    batch, heads, steps, width = q.shape
    blocks = -(-steps // window)
    pad = blocks * window - steps  # padded steps lie after every real step, so no real query sees them

    def blocked(t: Tensor) -> Tensor:
        return F.pad(t, (0, 0, 0, pad)).reshape(batch, heads, blocks, window, width)

    qb, kb, vb = blocked(q), blocked(k), blocked(v)

    def with_previous(t: Tensor) -> Tensor:
        previous = torch.cat([torch.zeros_like(t[:, :, :1]), t[:, :, :-1]], dim=2)
        return torch.cat([previous, t], dim=3)  # [B, H, n, 2w, d]

    kb, vb = with_previous(kb), with_previous(vb)
    i = torch.arange(window, device=q.device).view(window, 1)
    j = torch.arange(2 * window, device=q.device).view(1, 2 * window)
    distance = window + i - j  # query step minus key step
    allowed = (distance >= 0) & (distance < window)
    first = torch.arange(blocks, device=q.device).view(blocks, 1, 1) > 0
    allowed = allowed & (first | (j >= window))  # block 0 has no previous block
    out = attend(
        qb.reshape(batch, heads * blocks, window, width),
        kb.reshape(batch, heads * blocks, 2 * window, width),
        vb.reshape(batch, heads * blocks, 2 * window, width),
        allowed.expand(heads, blocks, window, 2 * window).reshape(heads * blocks, window, 2 * window),
    )
    return out.view(batch, heads, blocks * window, width)[:, :, :steps]


class CrossAttention(nn.Module):
    """Queries ``[N, Q, D]`` attend to ``memory [N, K, D]`` where ``allowed [N, Q, K]`` is True, and always to
    a learned null key/value, so a query with no allowed memory receives the null value, never NaN.

    ``out = W_o softmax(q k^T / sqrt(d) + log allowed) v`` over ``[null; memory]``, with pre-norms on both sides.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0):
        super().__init__()
        check_heads(d_model, heads)
        self.heads = heads
        self.norm_query = nn.LayerNorm(d_model)
        self.norm_memory = nn.LayerNorm(d_model)
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.null = nn.Parameter(torch.randn(2, d_model) * 0.02)  # null key, null value
        self.out = nn.Linear(d_model, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, query: Tensor, memory: Tensor, allowed: Tensor) -> Tensor:
        n, length = memory.shape[0], memory.shape[1]
        key, value = self.key_value(self.norm_memory(memory)).chunk(2, dim=-1)
        null_key, null_value = (t.to(key.dtype).expand(n, 1, -1) for t in self.null)
        key = torch.cat([null_key, key], dim=1)
        value = torch.cat([null_value, value], dim=1)
        allowed = torch.cat([allowed.new_ones(allowed.shape[:-1] + (1,)), allowed.expand(n, -1, length)], dim=-1)
        attended = attend(
            split_heads(self.query(self.norm_query(query)), self.heads),
            split_heads(key, self.heads),
            split_heads(value, self.heads),
            allowed.unsqueeze(1),
        )
        return self.dropout(self.out(merge_heads(attended)))


class GatedUpdate(nn.Module):
    """``x + sigmoid(W_g [x; u] + b_g) * u``: a learned, per-channel share of the update ``u``.

    The gate bias starts at ``bias`` (negative: the block starts close to the identity)."""

    def __init__(self, d_model: int, bias: float = -1.0):
        super().__init__()
        self.gate = nn.Linear(2 * d_model, d_model)
        nn.init.constant_(self.gate.bias, bias)

    def forward(self, x: Tensor, update: Tensor) -> Tensor:
        return x + torch.sigmoid(self.gate(torch.cat([x, update], dim=-1))) * update


class TransformerLayer(nn.Module):
    """``x = x + SelfAttention(x); x = x + FeedForward(x)`` (pre-norm, causal)."""

    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float, window: int | None = None):
        super().__init__()
        self.attention = CausalSelfAttention(d_model, heads, dropout, window)
        self.feed_forward = FeedForward(d_model, ffn, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(x)
        return x + self.feed_forward(x)
