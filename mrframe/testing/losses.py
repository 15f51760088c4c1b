"""Conformance of losses, one promise each: a TaskLoss whose ``count`` and ``size`` are right for the prediction
kind, the exact differentiable zero, masked-target invariance, finiteness on extreme predictions, descending the
loss brings the prediction toward the target, float64, state.

Example inputs come from the loss's own ``example_inputs(target, batch, seed=, scale=)`` classmethod when it
defines one (a loss that needs special predictions or targets), else from its prediction kind's ``example``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mrframe import kinds
from mrframe.interfaces import TargetInfo, Units
from mrframe.metrics import MetricWarning
from mrframe.observed import TaskLoss
from mrframe.testing.batches import as_float64
from mrframe.testing.common import fail, same, seeded, tensors
from mrframe.testing.configs import config_promises
from mrframe.testing.inputs import JUNK
from mrframe.testing.promises import NotApplicable, promise, run_promises

Inputs = Callable[..., tuple[Any, torch.Tensor, torch.Tensor]]
BATCH = 4


def example_inputs(kind: str, target: TargetInfo, batch: int, seed: int = 0,
                   scale: float = 1.0) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """``(prediction, values, mask)`` for a loss taking the ``kind`` prediction kind (its own example)."""
    generator = torch.Generator().manual_seed(seed)
    prediction, values = kinds.get(kind).example(target, batch, generator, scale)
    return prediction, values, torch.rand(values.shape, generator=generator) < 0.7


def check_loss(plugin: type | str, config: Any = None, target: TargetInfo | None = None) -> None:
    """Check every promise of a loss (``(prediction, values, mask) -> TaskLoss``, see the module docstring)."""
    run_promises("loss", plugin, config=config, target=target)


def _setup(cls: type, config: Any = None, target: TargetInfo | None = None) -> tuple[Any, Inputs, TargetInfo]:
    """The loss built under seed 0, its inputs ``inputs(seed=0, scale=1.0)`` and the target."""
    config = config if config is not None else cls.Config()
    kind = cls.prediction_kind
    units = "raw" if kinds.get(kind).raw_targets else "normalised"
    target = target or TargetInfo("task", "s", "daily", ("a", "b", "c"), horizon=3, span=3, units=units)
    custom = getattr(cls, "example_inputs", None)

    def inputs(seed: int = 0, scale: float = 1.0) -> tuple[Any, torch.Tensor, torch.Tensor]:
        if custom is not None:
            return custom(target, BATCH, seed=seed, scale=scale)
        return example_inputs(kind, target, BATCH, seed=seed, scale=scale)

    with seeded(0):
        loss = cls(config, target)
    return loss, inputs, target


def each_loss(check: Callable[[str, Any, Inputs], None]) -> Callable[..., None]:
    """A promise checked on the loss built with the kit's target and inputs."""

    def run(cls: type, label: str, **options: Any) -> None:
        loss, inputs, _ = _setup(cls, **options)
        check(label, loss, inputs)

    run.__doc__ = check.__doc__
    return run


def _grads(prediction: Any) -> list[torch.Tensor]:
    return [t.grad if t.grad is not None else torch.zeros_like(t) for t in tensors(prediction) if t.requires_grad]


config_promises("loss")


@promise("loss", "task-loss")
@each_loss
def _task_loss(label: str, loss: Any, inputs: Inputs) -> None:
    """forward returns a TaskLoss of 0-dim value and count, and size = the number of target elements."""
    prediction, values, mask = inputs()
    result = loss(prediction, values, mask)
    if not isinstance(result, TaskLoss):
        fail(label, f"forward must return a mrframe.observed.TaskLoss, got {type(result).__name__}")
    if result.value.dim() != 0 or result.count.dim() != 0:
        fail(label, "TaskLoss.value and TaskLoss.count must be 0-dim tensors")
    if result.size != mask.numel():
        fail(label, f"TaskLoss.size must be the number of target elements ({mask.numel()}), got {result.size}")


@promise("loss", "count")
def _count(cls: type, label: str, **options: Any) -> None:
    """TaskLoss.count is the observed target elements it scored: all of them for an elementwise kind."""
    loss, inputs, _ = _setup(cls, **options)
    kind = kinds.get(cls.prediction_kind)
    prediction, values, mask = inputs()
    for what, where in {"the example mask": mask, "every element observed": torch.ones_like(mask),
                        "no element observed": torch.zeros_like(mask)}.items():
        count, observed = loss(prediction, values, where).count, int(where.sum())
        if count.is_floating_point() and float(count) != round(float(count)):
            fail(label, f"TaskLoss.count must count target elements (an integer), got {float(count):g} with {what}")
        wanted = observed if kind.elementwise or observed in (0, where.numel()) else None
        if wanted is not None and int(count) != wanted:
            fail(label, f"TaskLoss.count must be the number of observed target elements it scored ({wanted} with "
                        f"{what}, for a '{kind.name}' loss), got {int(count)}")
        if not 0 <= int(count) <= observed:
            fail(label, f"TaskLoss.count ({int(count)}) must lie between 0 and the observed elements ({observed}) "
                        f"with {what}")


@promise("loss", "also-accepts")
@each_loss
def _also_accepts(label: str, loss: Any, inputs: Inputs) -> None:
    """Every kind in also_accepts gives a finite loss."""
    if not type(loss).also_accepts:
        raise NotApplicable("the loss takes one prediction kind")
    for other in type(loss).also_accepts:
        prediction, values, mask = example_inputs(other, loss.target, BATCH)
        if not torch.isfinite(loss(prediction, values, mask).value):
            fail(label, f"declares it also accepts '{other}' predictions, but gives a non-finite loss on one")


@promise("loss", "exact-zero")
@each_loss
def _zero(label: str, loss: Any, inputs: Inputs) -> None:
    """With no valid target: exactly 0, differentiable, with a finite gradient."""
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


@promise("loss", "masked-targets")
@each_loss
def _masked_targets(label: str, loss: Any, inputs: Inputs) -> None:
    """Target values at masked places (0, 1e30, -999, NaN, inf) change neither the loss nor its gradient."""
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


@promise("loss", "finite")
@each_loss
def _finite(label: str, loss: Any, inputs: Inputs) -> None:
    """Finite loss and gradient for predictions of scale 1e-4 to 1e4."""
    for scale in (1e-4, 100.0, 1e4):
        prediction, values, mask = inputs(seed=3, scale=scale)
        out = loss(prediction, values, mask)
        if not torch.isfinite(out.value):
            fail(label, f"non-finite loss for predictions of scale {scale:g}")
        out.value.backward()
        if not all(torch.isfinite(g).all() for g in _grads(prediction)):
            fail(label, f"non-finite gradient for predictions of scale {scale:g}")


def _headline(kind: Any, prediction: Any, values: torch.Tensor, mask: torch.Tensor) -> float:
    """The kind's headline metric (lower is better) of ``prediction`` on the observed targets."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        columns = kind.columns(prediction, Units.identity(values.shape[-1])) | kind.scores(
            prediction, values, Units.identity(values.shape[-1]))
        observed = {k: v[mask].double().numpy() for k, v in columns.items()}
        return float(kind.metrics(values[mask].double().numpy(), observed)[kind.headline].value)


@promise("loss", "toward-target")
@each_loss
def _toward_target(label: str, loss: Any, inputs: Inputs) -> None:
    """Descending the loss moves the prediction toward the target: its kind's headline metric improves."""
    kind = kinds.get(type(loss).prediction_kind)
    if kind.headline is None:
        raise NotApplicable(f"a '{kind.name}' prediction has no headline metric to judge it by")
    prediction, values, mask = inputs(seed=5)
    _, other, _ = inputs(seed=6)
    if same(loss(prediction, values, mask).value, loss(prediction, torch.where(mask, other, values), mask).value):
        raise NotApplicable("the loss does not read the target (a regulariser)")
    before = _headline(kind, prediction, values, mask)
    leaves = [t for t in tensors(prediction) if t.requires_grad]
    optimizer = torch.optim.Adam(leaves, lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        loss(prediction, values, mask).value.backward()
        optimizer.step()
    after = _headline(kind, prediction, values, mask)
    if not (np.isfinite(after) and after < before):
        fail(label, f"descending the loss moved the prediction away from the target: its '{kind.headline}' went "
                    f"from {before:.4g} to {after:.4g} (is the loss's sign wrong? lower must mean closer)")


@promise("loss", "float64")
@each_loss
def _float64(label: str, loss: Any, inputs: Inputs) -> None:
    """float64 predictions and targets give a float64, finite loss close to the float32 one."""
    prediction, values, mask = inputs()
    base = loss(prediction, values, mask).value.detach()
    try:
        value = loss.double()(as_float64(prediction), values.double(), mask).value
    except Exception as error:  # noqa: BLE001 - any exception is the failure being checked
        fail(label, f"fails in float64 ({type(error).__name__}: {error}); create new tensors with the inputs' dtype")
    if value.dtype != torch.float64:
        fail(label, f"float64 predictions and targets give a {value.dtype} loss; create new tensors with the inputs' "
                    "dtype")
    if not torch.isfinite(value) or not torch.allclose(value.detach(), base.double(), rtol=1e-3, atol=1e-5):
        fail(label, f"the float64 loss {float(value):.6g} differs from the float32 one {float(base):.6g}")


@promise("loss", "state-dict")
def _state_dict(cls: type, label: str, **options: Any) -> None:
    """A copy loaded from state_dict() gives the same loss."""
    loss, inputs, target = _setup(cls, **options)
    with seeded(1):
        other = cls(options.get("config") if options.get("config") is not None else cls.Config(), target)
    other.load_state_dict(loss.state_dict())
    prediction, values, mask = inputs()
    if not same(other(prediction, values, mask).value, loss(prediction, values, mask).value):
        fail(label, "state_dict round trip: a copy loaded from state_dict() gives a different loss")
