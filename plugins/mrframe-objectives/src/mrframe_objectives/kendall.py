"""Homoscedastic-uncertainty weighting (Kendall et al., 2018) and its non-negative softplus variant.

Both learn one scalar per task (trained by the run's AdamW without weight decay) and sum over the tasks that
have a valid target in the batch (``count > 0``); a task without one, e.g. one dropped by availability gating,
contributes nothing (weight 0, and its ``s`` gets no gradient, so it does not drift while the task is absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from mrframe.config import field
from mrframe.interfaces import StepContext, Weighted, Weighting
from mrframe.observed import TaskLoss
from mrframe_objectives.tasks import empty_total, report, stack_losses, task_positions

__all__ = ["Kendall", "SoftplusKendall"]


def _combine(
    values: Tensor, valid: Tensor, scale: Tensor, regulariser: Tensor
) -> tuple[Tensor, Tensor]:
    """``total = sum_valid (scale_i L_i + regulariser_i)`` and the weights ``d total / d L_i = valid_i scale_i``."""
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    terms = torch.where(valid, scale * torch.where(valid, values, zero) + regulariser, zero)
    return terms.sum(), torch.where(valid, scale, zero)


@attrs.frozen
class KendallConfig:
    init_log_variance: float = field(0.0, "initial s_i = log σ_i² of every task")


class Kendall(Weighting):
    """Kendall uncertainty weighting: ``sum_i 0.5 exp(-s_i) L_i + 0.5 s_i``, learned ``s_i``; can go negative.

    The sum runs over tasks with a valid target.

    Weights reported: ``0.5 exp(-s_i)`` (= ``d total / d L_i``). **The total can go negative:** for a fixed
    ``L_i > 0`` the minimum over ``s_i`` is at ``s_i = log L_i`` with value ``0.5 (1 + log L_i)``, negative as soon
    as ``L_i < 1/e``; use ``softplus-kendall`` for a total that is never below 0.
    """

    Config = KendallConfig

    def __init__(self, config: KendallConfig, tasks: tuple[str, ...]):
        super().__init__(config, tasks)
        self.log_variance = nn.Parameter(torch.full((len(self.tasks),), float(config.init_log_variance)))

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        if not losses:
            return Weighted(empty_total(self.log_variance), {})
        s = self.log_variance[task_positions(self.tasks, losses, "kendall")]
        values, valid = stack_losses(losses)
        s = s.to(values.dtype)
        total, weights = _combine(values, valid, 0.5 * torch.exp(-s), 0.5 * s)
        return report(total, tuple(losses), weights)


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be > 0"


@attrs.frozen
class SoftplusKendallConfig:
    init_s: float = field(1.0, "initial s_i = softplus(u_i) of every task (> 0)", check=_positive)


class SoftplusKendall(Weighting):
    """Softplus-Kendall: ``sum_i exp(-s_i) L_i + s_i`` with ``s_i = softplus(u_i) > 0``; total >= 0.

    ``u_i`` is learned; the sum runs over tasks with a valid target.

    Weights reported: ``exp(-s_i)`` (= ``d total / d L_i``), each in ``(0, 1)``. **Guarantee: total >= 0**
    whenever every task loss is >= 0 (both terms are then non-negative). Every first-party loss is non-negative
    except ``gaussian-nll``, a negative log-density that goes below 0 once the predicted variance is small.
    """

    Config = SoftplusKendallConfig

    def __init__(self, config: SoftplusKendallConfig, tasks: tuple[str, ...]):
        super().__init__(config, tasks)
        raw = math.log(math.expm1(config.init_s))  # softplus⁻¹
        self.raw_s = nn.Parameter(torch.full((len(self.tasks),), raw))

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        if not losses:
            return Weighted(empty_total(self.raw_s), {})
        values, valid = stack_losses(losses)
        s = softplus(self.raw_s[task_positions(self.tasks, losses, "softplus-kendall")]).to(values.dtype)
        total, weights = _combine(values, valid, torch.exp(-s), s)
        return report(total, tuple(losses), weights)
