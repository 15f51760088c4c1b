"""Helpers the weighting policies share: task lookup, stacking task losses, totals with no task behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from mrframe.interfaces import Weighted
from mrframe.observed import TaskLoss

__all__ = ["task_positions", "stack_losses", "empty_total", "report"]


def task_positions(known: Sequence[str], losses: Mapping[str, TaskLoss], policy: str) -> list[int]:
    """The position in ``known`` (the tasks the policy was built for) of each task in ``losses``."""
    unknown = [task for task in losses if task not in known]
    if unknown:
        raise ValueError(
            f"{policy}: got a loss for task(s) {', '.join(map(repr, unknown))} it was not built for "
            f"(known: {', '.join(map(repr, known)) or 'none'})"
        )
    return [known.index(task) for task in losses]


def stack_losses(losses: Mapping[str, TaskLoss]) -> tuple[Tensor, Tensor]:
    """``(values [T], valid [T])``: the task loss values and whether each task had a valid target."""
    values = torch.stack([loss.value for loss in losses.values()])
    valid = torch.stack([loss.count > 0 for loss in losses.values()])
    return values, valid


def empty_total(reference: Tensor) -> Tensor:
    """An exact 0 that can be back-propagated (requires grad), on ``reference``'s device and dtype."""
    return torch.zeros((), dtype=reference.dtype, device=reference.device, requires_grad=True)


def report(total: Tensor, tasks: Sequence[str], weights: Tensor) -> Weighted:
    """``Weighted(total, {task: weight})`` with the weights detached."""
    return Weighted(total, {task: w for task, w in zip(tasks, weights.detach(), strict=True)})
