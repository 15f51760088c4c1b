"""Conformance of weighting policies, one promise each: reported weights are the gradient's weights, finite
totals over wide scales, absent tasks weigh 0, state round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from mrframe.interfaces import StepContext, Weighted
from mrframe.observed import TaskLoss
from mrframe.testing.common import fail, seeded
from mrframe.testing.configs import config_promises
from mrframe.testing.promises import NotApplicable, promise, run_promises


def task_losses(values: Sequence[float], counts: Sequence[int], size: int = 10) -> dict[str, TaskLoss]:
    """Leaf loss tensors (``requires_grad``) named t0, t1, ..."""
    return {
        f"t{i}": TaskLoss(torch.tensor(float(v), requires_grad=True), torch.tensor(c), size)
        for i, (v, c) in enumerate(zip(values, counts, strict=True))
    }


def check_weighting(plugin: type | str, config: Any = None, tasks: int = 3) -> None:
    """Check every promise of a weighting policy (``combine(losses, context) -> Weighted``)."""
    run_promises("weighting", plugin, config=config, tasks=tasks)


def _build(cls: type, config: Any, tasks: int) -> tuple[Callable[[int], Any], list[str]]:
    config = config if config is not None else cls.Config()
    names = [f"t{i}" for i in range(tasks)]

    def build(seed: int) -> Any:
        with seeded(seed):
            return cls(config, names)

    return build, names


config_promises("weighting")


@promise("weighting", "weights-are-gradients")
def _weights(cls: type, label: str, config: Any = None, tasks: int = 3) -> None:
    """Reported weights are d total / d L_i, the total is finite over wide loss scales, absent tasks weigh 0."""
    if getattr(cls, "owns_backward", False):
        raise NotApplicable("gradient surgery is checked by the policy's own tests")
    build, names = _build(cls, config, tasks)
    policy = build(0)
    generator = torch.Generator().manual_seed(0)
    for step in range(12):  # across warm-up and after: policies may change behaviour with the epoch
        epoch = step // 3
        scales = 10.0 ** torch.randint(-6, 7, (tasks,), generator=generator).float()
        values = (torch.rand(tasks, generator=generator) * scales).tolist()
        counts = [int(c) for c in torch.randint(0, 3, (tasks,), generator=generator)]
        losses = task_losses(values, counts)
        losses = {k: (v if v.count > 0 else TaskLoss.none_valid(v.value.view(1), v.size)) for k, v in losses.items()}
        result = policy.combine(losses, StepContext(epoch=epoch, step=step, training=True))
        _check_result(label, result, losses, f"at step {step} (losses {values}, counts {counts})", policy)
        if step % 3 == 2:
            policy.end_epoch(epoch, {k: values[i] for i, k in enumerate(names)})


@promise("weighting", "no-valid-task")
def _no_valid_task(cls: type, label: str, config: Any = None, tasks: int = 3) -> None:
    """With no valid task the total is finite and differentiable."""
    if getattr(cls, "owns_backward", False):
        raise NotApplicable("gradient surgery is checked by the policy's own tests")
    policy = _build(cls, config, tasks)[0](0)
    empty = {k: TaskLoss.none_valid(v.value.view(1), v.size) for k, v in task_losses([0.0] * tasks, [0] * tasks).items()}
    result = policy.combine(empty, StepContext(epoch=5, step=20, training=True))
    if not torch.isfinite(result.total) or not result.total.requires_grad:
        fail(label, "with no valid task the total must be finite and differentiable")


@promise("weighting", "state-dict")
def _state_dict(cls: type, label: str, config: Any = None, tasks: int = 3) -> None:
    """A copy loaded from state_dict() combines the same."""
    build, names = _build(cls, config, tasks)
    _check_state(label, build(0), build, names)


def _check_result(label: str, result: Any, losses: dict[str, TaskLoss], when: str, policy: Any) -> None:
    if not isinstance(result, Weighted):
        fail(label, f"combine must return a mrframe.interfaces.Weighted, got {type(result).__name__}")
    if not torch.isfinite(result.total):
        fail(label, f"non-finite total {when}")
    if set(result.weights) != set(losses):
        fail(label, f"weights must be reported for every task: got {sorted(result.weights)}")
    grads = torch.autograd.grad(result.total, [loss.value for loss in losses.values()], allow_unused=True, retain_graph=True)
    log_space = getattr(policy, "weight_space", "loss") == "log_loss"
    for (task, loss), grad in zip(losses.items(), grads, strict=True):
        seen = 0.0 if grad is None else float(grad)
        if log_space:  # d total / d log(L + eps) = d total / d L * (L + eps)
            seen *= float(loss.value) + policy.log_eps
        reported = float(result.weights[task])
        if abs(seen - reported) > 1e-5 * max(1.0, abs(seen)):
            fail(label, f"reported weight of {task} is {reported:.6g} but the gradient sees {seen:.6g} {when}")
        if int(loss.count) == 0 and reported != 0.0:
            fail(label, f"{task} has no valid target but weight {reported:.6g} {when}")


def _check_state(label: str, policy: Any, build: Any, names: list[str]) -> None:
    other = build(1)
    other.load_state_dict(policy.state_dict())
    losses = task_losses([0.5 + i for i in range(len(names))], [3] * len(names))
    context = StepContext(epoch=9, step=99, training=True)
    first, second = policy.combine(losses, context), other.combine(losses, context)
    if not torch.equal(first.total.detach(), second.total.detach()):
        fail(label, "state_dict round trip: a copy loaded from state_dict() combines differently")
