"""PCGrad: projecting conflicting gradients (Yu et al., 2020), as a policy with its own backward pass.

For each task ``i`` (with a valid target) its gradient ``g_i`` over the *shared* parameters, flattened into one
vector, is projected in turn against every other task's **original** gradient ``g_j``, in an order drawn at
random for each ``i`` from a generator seeded by ``(seed, step)``::

    g_i ← g_i - min(0, g_i · g_j) / ‖g_j‖² · g_j

so the projected ``g_i`` no longer points against ``g_j`` (the update removes the conflicting component only).
The shared gradient is ``sum_i g_i``; without any conflict (every ``g_i · g_j >= 0``) it is exactly the plain sum
``sum_i ∇L_i``. A parameter counts as shared when at least two tasks' losses reach it; a task-specific parameter
(a head's own weights) gets its task's gradient unchanged. Parameters no task reaches keep their ``.grad``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import StepContext, Weighted, Weighting
from mrframe.observed import TaskLoss
from mrframe_objectives.tasks import empty_total, report, stack_losses, task_positions

__all__ = ["PCGrad", "project_conflicts"]


def project_conflicts(gradients: Tensor, generator: torch.Generator) -> Tensor:
    """``[T, D]`` task gradients -> their PCGrad projections ``[T, D]`` (module docstring); no host sync."""
    projected = gradients.clone()
    norms = gradients.square().sum(-1)
    safe_norms = torch.where(norms > 0, norms, 1.0)
    n_tasks = gradients.shape[0]
    for i in range(n_tasks):
        for j in torch.randperm(n_tasks, generator=generator).tolist():
            if j == i:
                continue
            dot = projected[i] @ gradients[j]
            projected[i] = projected[i] - (dot.clamp(max=0) / safe_norms[j]) * gradients[j]
    return projected


@attrs.frozen
class PCGradConfig:
    seed: int = field(0, "seed of the projection order (combined with the step number)", min=0)


class PCGrad(Weighting):
    """PCGrad: sums the task gradients after projecting away their pairwise conflicts (own backward).

    ``combine`` returns the plain sum over tasks with a valid target (weights 1, or 0 for a task without a valid
    target); ``backward`` writes the projected gradient (docs/objectives.md) into ``.grad``.

    The projection changes the gradient, not the total: the weights reported are ``d total / d L_i`` of the sum,
    which is what the gradient sees exactly when no two task gradients conflict.
    """

    Config = PCGradConfig
    owns_backward = True

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        if not losses:
            return Weighted(empty_total(torch.zeros(())), {})
        task_positions(self.tasks, losses, "pcgrad")
        values, valid = stack_losses(losses)
        weights = valid.to(values.dtype)
        total = torch.where(valid, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()
        return report(total, tuple(losses), weights)

    def backward(
        self, losses: Mapping[str, TaskLoss], context: StepContext, shared: Sequence[nn.Parameter]
    ) -> Weighted:
        result = self.combine(losses, context)
        if not losses:
            return result
        valid = stack_losses(losses)[1].tolist()  # one host sync: which tasks take part
        active = [loss.value for loss, ok in zip(losses.values(), valid, strict=True) if ok and loss.value.requires_grad]
        params = [p for p in shared if p.requires_grad]
        if not active or not params:
            if result.total.requires_grad:
                result.total.backward()
            return result
        per_task = [
            torch.autograd.grad(value, params, retain_graph=k < len(active) - 1, allow_unused=True)
            for k, value in enumerate(active)
        ]
        users = [sum(grads[k] is not None for grads in per_task) for k in range(len(params))]
        shared_positions = [k for k, n in enumerate(users) if n >= 2]
        summed: list[Tensor | None] = [None] * len(params)
        for k, n in enumerate(users):
            if n == 1:
                summed[k] = next(grads[k] for grads in per_task if grads[k] is not None)
        if shared_positions:
            flat = torch.stack([
                torch.cat([(g[k] if g[k] is not None else torch.zeros_like(params[k])).reshape(-1) for k in shared_positions])
                for g in per_task
            ])
            generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + context.step)
            combined = project_conflicts(flat, generator).sum(0)
            for k, piece in zip(shared_positions, combined.split([params[k].numel() for k in shared_positions]), strict=True):
                summed[k] = piece.view_as(params[k])
        for param, grad in zip(params, summed, strict=True):
            if grad is not None:
                param.grad = grad.detach().clone() if param.grad is None else param.grad + grad.detach()
        return result
