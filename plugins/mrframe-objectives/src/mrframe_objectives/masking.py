"""Masked reductions shared by the losses: nothing at an unobserved target place reaches a value or a gradient.

Two rules make a loss NaN-proof at masked places:

1. **Sanitise before a nonlinearity.** ``torch.where(mask, f(x), 0)`` alone is not enough: the backward of
   ``where`` sends 0 to the masked places, but ``f``'s own backward then multiplies that 0 by ``f'(x)``, which is
   NaN or inf for a NaN or extreme ``x`` (0 · inf = NaN). :func:`observed_or` first replaces masked inputs by a
   harmless constant, so ``f`` never sees them.
2. **Select before summing.** :func:`masked_mean` selects with ``where`` (never multiplies by the mask: 0 · NaN is
   NaN) and divides by ``max(1, count)``, so with no observed target the result is an exact 0 that keeps a
   gradient path to the prediction.

It also holds the checks of what reaches a loss: the prediction's keys (:func:`require_key`), the observed target
values (:func:`check_targets`) and, for losses of class ids and counts, the target's units (:class:`RawTargetLoss`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from mrframe.interfaces import Loss, TargetInfo
from mrframe.observed import TaskLoss

__all__ = ["observed_or", "masked_mean", "masked_weighted_mean", "require_key", "check_targets", "RawTargetLoss"]


def observed_or(x: Tensor, mask: Tensor, fill: float = 0.0) -> Tensor:
    """``x`` where ``mask`` is True, ``fill`` elsewhere; ``mask`` ``[B, S, F]`` broadcasts over extra trailing
    dimensions of ``x`` (e.g. classes)."""
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    return torch.where(mask, x, torch.as_tensor(fill, dtype=x.dtype, device=x.device))


def masked_mean(elementwise: Tensor, mask: Tensor) -> TaskLoss:
    """``sum_{observed} l / max(1, count)`` with ``count`` the observed elements (no host synchronisation)."""
    count = mask.sum()
    total = torch.where(mask, elementwise, torch.zeros((), dtype=elementwise.dtype, device=elementwise.device)).sum()
    return TaskLoss(total / count.clamp(min=1).to(elementwise.dtype), count, mask.numel())


def masked_weighted_mean(elementwise: Tensor, weights: Tensor, mask: Tensor) -> TaskLoss:
    """``sum_{observed} l / sum_{observed} w`` (``l`` already carries its weight ``w >= 0``); an exact 0 when
    nothing observed has a positive weight."""
    count = mask.sum()
    zero = torch.zeros((), dtype=elementwise.dtype, device=elementwise.device)
    total = torch.where(mask, elementwise, zero).sum()
    norm = torch.where(mask, weights, zero).sum()
    return TaskLoss(total / torch.where(norm > 0, norm, 1.0), count, mask.numel())


def require_key(prediction: Any, keys: tuple[str, ...], loss: str) -> Mapping[str, Tensor]:
    """``prediction`` as a mapping holding ``keys``; otherwise an error naming the prediction convention."""
    if not isinstance(prediction, Mapping) or any(k not in prediction for k in keys):
        got = sorted(prediction) if isinstance(prediction, Mapping) else f"a {type(prediction).__name__}"
        wanted = ", ".join(repr(k) for k in keys)
        raise ValueError(
            f"{loss}: the head must predict a dict with {wanted} (see mrframe.interfaces.Head); got {got}"
        )
    return prediction


def check_targets(
    values: Tensor, mask: Tensor, loss: str, *, integer: bool, low: float = 0.0, high: float | None = None
) -> None:
    """Raise a ValueError when an observed target is not in ``[low, high)`` (or not an integer, if asked).

    Costs one host synchronisation; losses call it only while their ``check_targets`` option is on.
    """
    ok = values >= low
    if high is not None:
        ok &= values < high
    if integer:
        ok &= values == values.round()
    bad = mask & ~ok
    if bool(bad.any()):
        example = float(values[bad][0])
        kind = "integers" if integer else "values"
        span = f"[{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(
            f"{loss}: observed targets must be {kind} in {span}, got {example:g} at {int(bad.sum())} place(s); "
            "class ids and counts need target units = \"raw\" (set check_targets = false to skip this check)"
        )


class RawTargetLoss(Loss):
    """A loss whose targets must keep the source's units (class ids, counts): it refuses a normalised target when
    built, unless its config turns ``check_targets`` off. Subclasses name themselves and what they need."""

    loss_name: ClassVar[str]
    needs: ClassVar[str]

    @classmethod
    def target_problems(cls, config: Any, target: Any) -> Iterable[str]:
        if config.check_targets and target.units != "raw":
            yield (f"needs {cls.needs}, so the target must keep the source's units: set units = \"raw\" (or "
                   "check_targets = false to skip this check)")

    def __init__(self, config: Any, target: TargetInfo):
        super().__init__(config, target)
        if config.check_targets and target.units != "raw":
            raise ValueError(
                f"{self.loss_name}: task '{target.task}' needs {self.needs}, so its target must keep the source's "
                f"units: set heads.{target.task}.target.units = \"raw\" (or check_targets = false to skip this check)"
            )
