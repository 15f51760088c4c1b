"""What a run has recorded so far: one row per epoch and a thinned trace of optimizer steps.

The trainer appends to it and saves it in every checkpoint; the writer and plot hooks read it. A resumed run
restores it from its checkpoint, so files rewritten from it match the uninterrupted run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_TRACE = 2000
"""The step trace keeps at most this many points: every ``stride``-th step, doubling ``stride`` when full."""


class RunLog:
    """``epochs``: the metrics.csv rows; ``steps``: ``{"step", "lr", "loss", "weight/TASK"...}`` dicts."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.steps: list[dict[str, float]] = []
        self.stride = 1

    def add_epoch(self, row: Mapping[str, Any]) -> None:
        self.epochs.append(dict(row))

    def add_step(self, step: int, values: Mapping[str, float]) -> None:
        """Record optimizer step ``step`` (1-based count) if it falls on the current stride."""
        if step % self.stride:
            return
        self.steps.append({"step": float(step), **values})
        if len(self.steps) > MAX_TRACE:
            self.stride *= 2
            self.steps = [s for s in self.steps if int(s["step"]) % self.stride == 0]

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": [dict(r) for r in self.epochs], "steps": [dict(s) for s in self.steps], "stride": self.stride}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epochs = [dict(r) for r in state["epochs"]]
        self.steps = [dict(s) for s in state["steps"]]
        self.stride = int(state["stride"])


class EpochSums:
    """Running sums of the current training epoch (saved in mid-epoch checkpoints, so a resumed epoch ends
    with the same means as an uninterrupted one)."""

    def __init__(self, tasks: tuple[str, ...]):
        self.tasks = tasks
        self.loss = 0.0
        self.steps = 0
        self.skipped = 0
        self.task_loss = dict.fromkeys(tasks, 0.0)
        self.task_steps = dict.fromkeys(tasks, 0)
        self.weights: dict[str, float] = dict.fromkeys(tasks, math.nan)
        self.grad_norm = 0.0
        self.grad_norm_max = 0.0

    def add(self, loss: float, losses: Mapping[str, float], weights: Mapping[str, float],
            grad_norm: float = 0.0) -> None:
        self.loss += loss
        self.steps += 1
        self.grad_norm += grad_norm
        self.grad_norm_max = max(self.grad_norm_max, grad_norm)
        for task, value in losses.items():
            if math.isfinite(value):
                self.task_loss[task] += value
                self.task_steps[task] += 1
        self.weights = dict(weights)

    def metrics(self) -> dict[str, float]:
        """``train_loss`` (mean weighted total over applied steps), ``train/TASK/loss`` (mean over the steps
        that had a target for TASK), ``weight/TASK`` (at the epoch's last step), ``skipped_steps`` and the total
        gradient norm before clipping, mean and largest over the applied steps (``grad_norm``,
        ``grad_norm_max``)."""
        out = {"train_loss": self.loss / self.steps if self.steps else math.nan, "skipped_steps": float(self.skipped),
               "grad_norm": self.grad_norm / self.steps if self.steps else math.nan,
               "grad_norm_max": self.grad_norm_max if self.steps else math.nan}
        for task in self.tasks:
            n = self.task_steps[task]
            out[f"train/{task}/loss"] = self.task_loss[task] / n if n else math.nan
            out[f"weight/{task}"] = self.weights.get(task, math.nan)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "steps": self.steps, "skipped": self.skipped, "task_loss": dict(self.task_loss),
                "task_steps": dict(self.task_steps), "weights": dict(self.weights), "grad_norm": self.grad_norm,
                "grad_norm_max": self.grad_norm_max}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.loss, self.steps, self.skipped = float(state["loss"]), int(state["steps"]), int(state["skipped"])
        self.task_loss = {k: float(v) for k, v in state["task_loss"].items()}
        self.task_steps = {k: int(v) for k, v in state["task_steps"].items()}
        self.weights = {k: float(v) for k, v in state["weights"].items()}
        self.grad_norm = float(state.get("grad_norm", 0.0))  # absent from checkpoints of older versions
        self.grad_norm_max = float(state.get("grad_norm_max", 0.0))
