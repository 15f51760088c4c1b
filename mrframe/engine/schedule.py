"""The learning-rate schedule: linear warmup from a fraction of the base rate, then cosine decay to a minimum.

For optimizer step ``s`` (0-based) of ``S`` in total, with ``W = round(warmup * S)`` warmup steps::

    s <  W:  factor = warmup_start + (1 - warmup_start) * s / W
    s >= W:  p = (s - W) / max(1, S - W - 1)               (0 at the first step after warmup, 1 at the last)
             factor = final + (1 - final) * (1 + cos(pi * p)) / 2      (schedule = "cosine")
             factor = 1                                                (schedule = "constant")

    lr(s) = base_lr * scale * factor(s)

``scale`` starts at 1 and is lowered by the non-finite guard's ``rollback`` policy; it is the schedule's only
state (``state_dict``), the step count lives with the trainer.
"""

from __future__ import annotations

import math

import torch

from mrframe.engine.config import TrainConfig


class LRSchedule:
    """Sets the learning rate of every parameter group for each optimizer step."""

    def __init__(self, config: TrainConfig, total_steps: int):
        self.base_lr = config.lr
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = round(config.warmup * self.total_steps)
        self.warmup_start = config.warmup_start
        self.final = config.final_lr
        self.cosine = config.schedule == "cosine"
        self.scale = 1.0

    def factor(self, step: int) -> float:
        """The multiplier of the base rate at optimizer step ``step`` (0-based), before ``scale``."""
        if step < self.warmup_steps:
            return self.warmup_start + (1.0 - self.warmup_start) * step / self.warmup_steps
        if not self.cosine:
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps - 1))
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def lr(self, step: int) -> float:
        return self.base_lr * self.scale * self.factor(step)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set the learning rate for ``step`` on every group of ``optimizer``; returns it."""
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.scale}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.scale = float(state["scale"])
