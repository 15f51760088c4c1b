"""Availability gating, applied by the core in front of any weighting policy.

``[weighting] min_availability = a``: in a batch where fewer than a fraction ``a`` of a task's target elements
are observed, the task counts as having no valid target (its loss becomes an exact, differentiable 0 with
``count = 0``), so every policy treats it as unavailable. No host synchronisation is involved.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mrframe.observed import TaskLoss


def gate_by_availability(losses: Mapping[str, TaskLoss], min_availability: float) -> dict[str, TaskLoss]:
    """Losses with every task below ``min_availability`` turned into 'no valid target'."""
    if min_availability <= 0:
        return dict(losses)
    gated = {}
    for task, loss in losses.items():
        keep = loss.availability >= min_availability
        gated[task] = TaskLoss(
            torch.where(keep, loss.value, torch.zeros_like(loss.value)),
            torch.where(keep, loss.count, torch.zeros_like(loss.count)),
            loss.size,
        )
    return gated
