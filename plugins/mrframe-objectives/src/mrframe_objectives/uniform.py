"""The default weighting policy: the plain mean over tasks that have a valid target in the batch."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch

from mrframe.interfaces import StepContext, Weighted, Weighting
from mrframe.observed import TaskLoss
from mrframe_objectives.tasks import report, stack_losses


@attrs.frozen
class UniformConfig:
    pass


class Uniform(Weighting):
    """The mean of the task losses over tasks that have a valid target (the default policy).

    ``total = sum_i v_i L_i / max(1, sum_i v_i)`` with ``v_i = 1`` when task i has any valid target.

    The weights reported, ``v_i / max(1, sum v)``, are exactly ``d total / d L_i``. With no valid task the total
    is an exact 0 that keeps a gradient path to every loss.
    """

    Config = UniformConfig

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        if not losses:
            raise ValueError("uniform weighting needs at least one task loss")
        values, valid = stack_losses(losses)
        weights = valid.to(values.dtype) / valid.sum().clamp(min=1).to(values.dtype)
        total = (weights * torch.where(valid, values, torch.zeros_like(values))).sum()
        return report(total, tuple(losses), weights)
