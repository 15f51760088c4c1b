"""Conformance of losses: TaskLoss shape and count, the exact differentiable zero, masked-target invariance,
finiteness on extreme predictions, state."""

from __future__ import annotations

from typing import Any

import torch

from mrframe import kinds
from mrframe.interfaces import TargetInfo
from mrframe.observed import TaskLoss
from mrframe.testing.common import check_config, fail, resolve, same, seeded, tensors
from mrframe.testing.inputs import JUNK

ELEMENTWISE_KINDS = ("point", "gaussian", "binary", "classes", "zinb")  # count = observed target elements


def example_inputs(kind: str, target: TargetInfo, batch: int, seed: int = 0, scale: float = 1.0) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """``(prediction, values, mask)`` for a loss taking the ``kind`` prediction kind (its own example)."""
    generator = torch.Generator().manual_seed(seed)
    prediction, values = kinds.get(kind).example(target, batch, generator, scale)
    return prediction, values, torch.rand(values.shape, generator=generator) < 0.7


def check_loss(plugin: type | str, config: Any = None, target: TargetInfo | None = None) -> None:
    """Check everything DESIGN.md promises for a loss (``(prediction, values, mask) -> TaskLoss``)."""
    cls, label = resolve("loss", plugin)
    check_config(label, cls)
    config = config if config is not None else cls.Config()
    kind = cls.prediction_kind
    units = "raw" if kinds.get(kind).raw_targets else "normalised"
    target = target or TargetInfo("task", "s", "daily", ("a", "b", "c"), horizon=3, span=3, units=units)
    custom = getattr(cls, "example_inputs", None)

    def inputs(seed: int = 0, scale: float = 1.0) -> tuple[Any, torch.Tensor, torch.Tensor]:
        if custom is not None:
            return custom(target, 4, seed=seed, scale=scale)
        return example_inputs(kind, target, 4, seed=seed, scale=scale)

    with seeded(0):
        loss = cls(config, target)
    prediction, values, mask = inputs()
    result = loss(prediction, values, mask)
    if not isinstance(result, TaskLoss):
        fail(label, f"forward must return a mrframe.observed.TaskLoss, got {type(result).__name__}")
    if result.value.dim() != 0 or result.count.dim() != 0:
        fail(label, "TaskLoss.value and TaskLoss.count must be 0-dim tensors")
    if kind in ELEMENTWISE_KINDS and (int(result.count) != int(mask.sum()) or result.size != mask.numel()):
        fail(label, f"TaskLoss.count must be the number of observed target elements ({int(mask.sum())}) and size "
                    f"their total ({mask.numel()}), got {int(result.count)} and {result.size}")
    if not 0 <= int(result.count) <= result.size:
        fail(label, f"TaskLoss.count ({int(result.count)}) must lie between 0 and size ({result.size})")
    for other in cls.also_accepts:
        prediction, values, mask = example_inputs(other, target, 4)
        if not torch.isfinite(loss(prediction, values, mask).value):
            fail(label, f"declares it also accepts '{other}' predictions, but gives a non-finite loss on one")
    _check_zero(label, loss, inputs)
    _check_masked_targets(label, loss, inputs)
    _check_extremes(label, loss, inputs)
    state = loss.state_dict()
    with seeded(1):
        other = cls(config, target)
    other.load_state_dict(state)
    prediction, values, mask = inputs()
    if not same(other(prediction, values, mask).value, loss(prediction, values, mask).value):
        fail(label, "state_dict round trip: a copy loaded from state_dict() gives a different loss")


def _grads(prediction: Any) -> list[torch.Tensor]:
    return [t.grad if t.grad is not None else torch.zeros_like(t) for t in tensors(prediction) if t.requires_grad]


def _check_zero(label: str, loss: Any, inputs: Any) -> None:
    prediction, values, mask = inputs()
    result = loss(prediction, values, torch.zeros_like(mask))
    value = result.value.detach()
    if not (value.dim() == 0 and value.item() == 0.0):
        fail(label, f"with no valid target the loss must be exactly 0, got {value.item()}")
    if not result.value.requires_grad:
        fail(label, "with no valid target the 0 must still be differentiable (use TaskLoss.none_valid or torch.where)")
    result.value.backward()
    if not all(torch.isfinite(g).all() for g in _grads(prediction)):
        fail(label, "with no valid target the gradient must be finite")


def _check_masked_targets(label: str, loss: Any, inputs: Any) -> None:
    prediction, values, mask = inputs()
    base = loss(prediction, values, mask)
    base.value.backward()
    base_grads = [g.clone() for g in _grads(prediction)]
    for junk in JUNK:
        prediction, _, _ = inputs()
        dirty = torch.where(mask, values, torch.tensor(junk, dtype=values.dtype))
        out = loss(prediction, dirty, mask)
        out.value.backward()
        if not (same(out.value, base.value) and same(_grads(prediction), base_grads)):
            fail(label, f"target values at masked places changed the loss or its gradient (with {junk} there)")


def _check_extremes(label: str, loss: Any, inputs: Any) -> None:
    for scale in (1e-4, 100.0, 1e4):
        prediction, values, mask = inputs(seed=3, scale=scale)
        out = loss(prediction, values, mask)
        if not torch.isfinite(out.value):
            fail(label, f"non-finite loss for predictions of scale {scale:g}")
        out.value.backward()
        if not all(torch.isfinite(g).all() for g in _grads(prediction)):
            fail(label, f"non-finite gradient for predictions of scale {scale:g}")
