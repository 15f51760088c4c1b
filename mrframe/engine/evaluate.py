"""Evaluation of a model over a split: per-task losses and point-forecast errors on observed targets."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from mrframe.data.dataset import BatchLoader
from mrframe.interfaces import StepContext, Weighting
from mrframe.observed import TaskLoss


@torch.no_grad()
def evaluate(
    model: nn.Module,
    losses: Mapping[str, nn.Module],
    weighting: Weighting,
    loader: BatchLoader,
    device: torch.device,
    context: StepContext,
    prefix: str = "val",
) -> dict[str, float]:
    """``{prefix}_loss`` (the weighting policy's total over the split's task losses) and, per task,
    ``{prefix}/<task>/loss``, ``/mae``, ``/rmse`` (normalised units) and ``/count`` (observed targets).

    A task's split loss is the count-weighted mean of its batch losses; tasks without any observed target in
    the split get NaN metrics (never a crash, never a silent 0).
    """
    was_training = model.training
    model.eval()
    tasks = list(losses)
    loss_sum = {t: torch.zeros((), dtype=torch.float64, device=device) for t in tasks}
    count = {t: torch.zeros((), dtype=torch.float64, device=device) for t in tasks}
    abs_err = {t: torch.zeros((), dtype=torch.float64, device=device) for t in tasks}
    sq_err = {t: torch.zeros((), dtype=torch.float64, device=device) for t in tasks}
    points_seen = {t: torch.zeros((), dtype=torch.float64, device=device) for t in tasks}
    for batch in loader:
        batch = batch.to(device)
        predictions = model(batch.inputs, batch.calendar)
        points = model.point(predictions)
        for task in tasks:
            target = batch.targets[task]
            result: TaskLoss = losses[task](predictions[task], target.values, target.mask)
            n = result.count.to(torch.float64)
            loss_sum[task] += torch.where(n > 0, result.value.double() * n, 0.0)
            count[task] += n
            error = torch.where(target.mask, points[task].double() - target.values.double(), 0.0)
            abs_err[task] += error.abs().sum()
            sq_err[task] += error.square().sum()
            points_seen[task] += target.mask.sum()
    out: dict[str, float] = {}
    split_losses = {}
    for task in tasks:
        n = float(count[task])
        m = float(points_seen[task])
        value = float(loss_sum[task]) / n if n else math.nan
        out[f"{prefix}/{task}/loss"] = value
        out[f"{prefix}/{task}/mae"] = float(abs_err[task]) / m if m else math.nan
        out[f"{prefix}/{task}/rmse"] = math.sqrt(float(sq_err[task]) / m) if m else math.nan
        out[f"{prefix}/{task}/count"] = m
        split_losses[task] = TaskLoss(
            torch.tensor(value if n else 0.0, device=device), torch.tensor(int(n), device=device), max(int(n), 1)
        )
    if tasks:
        out[f"{prefix}_loss"] = float(weighting.combine(split_losses, context).total) if any(count[t] > 0 for t in tasks) else math.nan
    model.train(was_training)
    return out
