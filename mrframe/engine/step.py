"""One optimizer step over a group of micro-batches: forward, weighted loss, backward, unscale, clip, check.

Per micro-batch ``b`` (weight ``w_b = n_b / N``, :mod:`mrframe.engine.accumulate`) the weighting policy's
total is back-propagated as ``w_b * total_b`` (through the fp16 gradient scaler when one is used; gradients
are synchronised across processes on the last micro-batch only). After the group the gradients are unscaled,
the total norm is clipped, and the loss and the norm are checked for finiteness with **one** host
synchronisation that also brings back everything the step reports. A non-finite step leaves the parameters
and the optimizer untouched; the guard decides what happens next. A step whose compiled backward cannot be
compiled is repeated eagerly (:func:`mrframe.engine.compile.fall_back`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import attrs
import torch
from torch import nn

from mrframe.data.dataset import Batch
from mrframe.engine import compile as compiling
from mrframe.engine import distributed
from mrframe.engine.checkpoint import capture_rng, restore_rng
from mrframe.engine.device import Precision
from mrframe.engine.network import Network
from mrframe.interfaces import StepContext, Weighted
from mrframe.observed import TaskLoss

MAX_OVERFLOWS_IN_A_ROW = 24
"""fp16: gradient-scaler overflows in a row (the scale then shrank 2^24-fold) before the gradient counts as
non-finite for the guard."""


@attrs.frozen
class StepOutcome:
    """What an optimizer step reports: the weighted total (mean over the group's samples), the gradient norm
    before clipping, each task's loss (mean over its observed targets; NaN when it had none) and weight."""

    loss: float
    grad_norm: float
    losses: dict[str, float]
    weights: dict[str, float]
    applied: bool  # the optimizer stepped
    overflow: bool = False  # fp16 scaler overflow: skipped by the scaler, not a failure
    stop: bool = False  # some process asked to stop (Ctrl-C) before this step

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and (math.isfinite(self.grad_norm) or self.overflow)

    @property
    def failure(self) -> str:
        """``loss`` or ``gradient``: what was non-finite first."""
        return "loss" if not math.isfinite(self.loss) else "gradient"


class Stepper:
    """Runs optimizer steps for a :class:`Network`; ``objective`` is its :class:`Objective`, wrapped in
    DistributedDataParallel when several processes train."""

    def __init__(
        self,
        network: Network,
        objective: nn.Module,
        optimizer: torch.optim.Optimizer,
        precision: Precision,
        grad_clip: float | None,
    ):
        self.network = network
        self.objective = objective
        self.optimizer = optimizer
        self.precision = precision
        self.scaler = precision.grad_scaler()
        self.clip = grad_clip if grad_clip is not None else math.inf
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.overflows_in_a_row = 0
        self.distributed = distributed.world_size() > 1

    def step(
        self, batches: Sequence[Batch], weights: Sequence[float], context: StepContext, stop: bool = False
    ) -> StepOutcome:
        """Accumulate ``batches`` with ``weights`` (summing to 1), then step if everything is finite.

        ``stop`` (this process was asked to stop) travels with the step's numbers, so that every process of a
        distributed run learns it at the same step."""
        tasks = self.network.tasks
        device = self.parameters[0].device if self.parameters else torch.device("cpu")
        rng = capture_rng() if compiling.compiled(self.network.model) else None
        try:
            total, task_sum, task_count, weight_sum = self._accumulate(batches, weights, context, device)
        except Exception as error:
            if rng is None or not compiling.fall_back(self.network.model, error):
                raise
            restore_rng(rng)  # the step again, eagerly: an error it raises too is the step's own
            total, task_sum, task_count, weight_sum = self._accumulate(batches, weights, context, device)
        if self.network.weighting.owns_backward and self.distributed:
            distributed.average_gradients(self.parameters)
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.clip) if self.parameters else torch.zeros(())
        stats = torch.cat([total.view(1).double(), norm.view(1).double().to(device), task_sum, task_count,
                           weight_sum.double(), torch.full((1,), float(stop), dtype=torch.float64, device=device)])
        if self.distributed:
            stats = distributed.mean_of_ranks(stats, sums=slice(2, 2 + 2 * len(tasks)))
        values = stats.tolist()  # the step's one host synchronisation
        loss, grad_norm = values[0], values[1]
        sums, counts = values[2 : 2 + len(tasks)], values[2 + len(tasks) : 2 + 2 * len(tasks)]
        outcome = StepOutcome(
            loss=loss,
            grad_norm=grad_norm,
            losses={t: s / c if c > 0 else math.nan for t, s, c in zip(tasks, sums, counts, strict=True)},
            weights=dict(zip(tasks, values[2 + 2 * len(tasks) : -1], strict=True)),
            applied=False,
            overflow=self._is_overflow(loss, grad_norm),
            stop=values[-1] > 0,
        )
        if outcome.finite:
            self.scaler.step(self.optimizer)  # skips the update itself on an fp16 overflow
            self.scaler.update()
            return attrs.evolve(outcome, applied=not outcome.overflow)
        self.scaler.update()  # ends this step's unscale_ bookkeeping (a pass-through without fp16)
        self.optimizer.zero_grad(set_to_none=True)
        return outcome

    def _accumulate(
        self, batches: Sequence[Batch], weights: Sequence[float], context: StepContext, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and backward every micro-batch into ``.grad``; the weighted total, each task's loss sum and
        observed count, and the weighted task weights."""
        tasks = self.network.tasks
        total = torch.zeros((), device=device)
        task_sum = torch.zeros(len(tasks), dtype=torch.float64, device=device)
        task_count = torch.zeros(len(tasks), dtype=torch.float64, device=device)
        weight_sum = torch.zeros(len(tasks), device=device)
        self.optimizer.zero_grad(set_to_none=True)
        for i, (batch, weight) in enumerate(zip(batches, weights, strict=True)):
            last = i == len(batches) - 1
            result, losses = self._micro_step(batch, weight, context, sync=last)
            total = total + weight * result.total.detach().float()
            values = torch.stack([losses[t].value.detach().double() for t in tasks])
            counts = torch.stack([losses[t].count.to(torch.float64) for t in tasks])
            task_sum += torch.where(counts > 0, values * counts, 0.0)
            task_count += counts
            weight_sum += weight * torch.stack([result.weights[t].detach().float() for t in tasks])
        return total, task_sum, task_count, weight_sum

    def _micro_step(
        self, batch: Batch, weight: float, context: StepContext, sync: bool
    ) -> tuple[Weighted, dict[str, TaskLoss]]:
        own = self.network.weighting.owns_backward
        no_sync = getattr(self.objective, "no_sync", None)
        quiet = no_sync() if no_sync is not None and (own or not sync) else contextlib.nullcontext()
        with quiet:
            total, losses, result = self.objective(batch, context, combine=not own)
            if not own:
                self.scaler.scale(total * weight).backward()
                return result, losses
        return self._own_backward(losses, weight, context), losses

    def _own_backward(self, losses: dict[str, TaskLoss], weight: float, context: StepContext) -> Weighted:
        """A gradient-surgery policy writes ``.grad`` itself; accumulate ``weight`` times what it writes."""
        earlier = [p.grad for p in self.parameters]
        for p in self.parameters:
            p.grad = None
        result = self.network.weighting.backward(losses, context, self.network.shared_parameters())
        for p, before in zip(self.parameters, earlier, strict=True):
            if p.grad is not None:
                p.grad.mul_(weight)
                if before is not None:
                    p.grad.add_(before)
            else:
                p.grad = before
        return result

    def _is_overflow(self, loss: float, grad_norm: float) -> bool:
        """fp16 only: a non-finite gradient with a finite loss is the scaler's business until it has
        shrunk the scale :data:`MAX_OVERFLOWS_IN_A_ROW` times in a row."""
        if not self.scaler.is_enabled() or not math.isfinite(loss) or math.isfinite(grad_norm):
            self.overflows_in_a_row = 0
            return False
        self.overflows_in_a_row += 1
        return self.overflows_in_a_row <= MAX_OVERFLOWS_IN_A_ROW
