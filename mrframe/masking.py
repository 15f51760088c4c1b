"""Masked reductions for plugin authors: nothing at an unobserved place reaches a value or a gradient.

Two rules make a block NaN-proof at masked places (whatever junk a masked place holds: 0, NaN, ±inf, -999):

1. **Sanitise before a nonlinearity.** ``torch.where(mask, f(x), 0)`` alone is not enough: the backward of
   ``where`` sends 0 to the masked places, but ``f``'s own backward then multiplies that 0 by ``f'(x)``, which is
   NaN or inf for a NaN or extreme ``x`` (0 · inf = NaN). :func:`observed_or` first replaces masked inputs by a
   harmless constant, so ``f`` never sees them.
2. **Select before summing.** :func:`masked_mean` and :func:`masked_sum` select with ``where`` (never multiply by
   the mask: 0 · NaN is NaN); a mean divides by ``max(1, count)``, so with nothing observed it is an exact 0 that
   keeps a gradient path.

Losses return :class:`~mrframe.observed.TaskLoss` from :func:`masked_mean` / :func:`masked_weighted_mean`;
encoders, fusion blocks and heads pool over an axis with :func:`masked_mean_over` and :func:`masked_softmax`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mrframe.observed import TaskLoss

__all__ = ["observed_or", "masked_sum", "masked_mean", "masked_weighted_mean", "masked_mean_over", "masked_softmax"]


def _expand(mask: Tensor, x: Tensor) -> Tensor:
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    return mask


def observed_or(x: Tensor, mask: Tensor, fill: float = 0.0) -> Tensor:
    """``x`` where ``mask`` is True, ``fill`` elsewhere; ``mask`` broadcasts over extra trailing dimensions of
    ``x`` (e.g. classes, or ``d_model``)."""
    return torch.where(_expand(mask, x), x, torch.as_tensor(fill, dtype=x.dtype, device=x.device))


def masked_sum(x: Tensor, mask: Tensor, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> Tensor:
    """``sum_{mask} x`` over ``dim`` (every element when None); masked places contribute exactly nothing."""
    selected = observed_or(x, mask)
    return selected.sum() if dim is None else selected.sum(dim=dim, keepdim=keepdim)


def masked_mean(elementwise: Tensor, mask: Tensor) -> TaskLoss:
    """A loss: ``sum_{observed} l / max(1, count)`` with ``count`` the observed elements (no host
    synchronisation); with nothing observed an exact, differentiable 0."""
    count = mask.sum()
    total = masked_sum(elementwise, mask)
    return TaskLoss(total / count.clamp(min=1).to(elementwise.dtype), count, mask.numel())


def masked_weighted_mean(elementwise: Tensor, weights: Tensor, mask: Tensor) -> TaskLoss:
    """A loss: ``sum_{observed} l / sum_{observed} w`` (``l`` already carries its weight ``w >= 0``); an exact 0
    when nothing observed has a positive weight."""
    count = mask.sum()
    norm = masked_sum(weights, mask)
    return TaskLoss(masked_sum(elementwise, mask) / torch.where(norm > 0, norm, 1.0), count, mask.numel())


def masked_mean_over(x: Tensor, mask: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """The mean of ``x`` over axis ``dim`` at places where ``mask`` is True (``mask`` has ``x``'s leading
    dimensions and broadcasts over the rest): ``sum_{mask} x / max(1, count)``; 0 where nothing is observed."""
    mask = _expand(mask, x)
    count = mask.sum(dim=dim, keepdim=keepdim).clamp(min=1).to(x.dtype)
    return masked_sum(x, mask, dim=dim, keepdim=keepdim) / count


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """``softmax(scores)`` over ``dim`` restricted to places where ``mask`` is True: masked places get exactly 0
    weight, and a row with nothing observed gets all-zero weights (never NaN from a softmax over nothing)."""
    mask = _expand(mask, scores)
    low = torch.finfo(scores.dtype).min
    weights = torch.softmax(torch.where(mask, scores, torch.as_tensor(low, dtype=scores.dtype, device=scores.device)),
                            dim=dim)
    return torch.where(mask, weights, torch.zeros((), dtype=scores.dtype, device=scores.device))
