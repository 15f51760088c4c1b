"""Which micro-batches make up each optimizer step of an epoch, and how much each one weighs.

An epoch's shuffled sample order is cut into micro-batches of ``batch_size`` (the last one may be smaller);
consecutive micro-batches are grouped ``accumulate`` at a time into optimizer steps (the last group may hold
fewer). Within a group, micro-batch ``b`` with ``n_b`` samples contributes ``n_b / sum(n)`` of its loss to
the step's gradient::

    g = sum_b (n_b / N) * grad L_b          N = sum_b n_b over the group

When each ``L_b`` is a mean over its samples, ``g`` is exactly the gradient of the mean loss over the group's
``N`` samples, i.e. the large-batch step, also for a last partial group or a smaller last micro-batch.
"""

from __future__ import annotations

import numpy as np


class EpochPlan:
    """The micro-batches (as sample positions) and optimizer steps of one epoch."""

    def __init__(self, order: np.ndarray, batch_size: int, accumulate: int):
        self.order = np.asarray(order, dtype=np.int64)
        self.batch_size = batch_size
        self.accumulate = accumulate

    @property
    def n_batches(self) -> int:
        return -(-len(self.order) // self.batch_size)

    @property
    def n_steps(self) -> int:
        return -(-self.n_batches // self.accumulate)

    def steps_done(self, batches_done: int) -> int:
        """Optimizer steps of the epoch completed once its first ``batches_done`` micro-batches have been used:
        ``ceil(batches_done / accumulate)``, since only the last step may hold fewer than ``accumulate``
        micro-batches (a training position is always the end of a step)."""
        return -(-batches_done // self.accumulate)

    def batch(self, index: int) -> np.ndarray:
        """Sample positions of micro-batch ``index``."""
        return self.order[index * self.batch_size : (index + 1) * self.batch_size]

    def step_batches(self, step: int) -> range:
        """Micro-batch indices of the epoch's optimizer step ``step``."""
        return range(step * self.accumulate, min((step + 1) * self.accumulate, self.n_batches))

    def step_weights(self, step: int) -> list[float]:
        """``n_b / N`` for each micro-batch of optimizer step ``step``."""
        sizes = [len(self.batch(b)) for b in self.step_batches(step)]
        total = sum(sizes)
        return [n / total for n in sizes]
