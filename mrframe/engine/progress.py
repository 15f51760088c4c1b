"""Built-in hook: a progress bar per epoch showing the running loss; non-finite reports printed above it.

When a run ends (finished, stopped or failed) the bar is closed, so whatever the console prints next, the
non-finite guard's stop message included, starts on a line of its own.
"""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

from mrframe.hooks import EpochRecord, RunInfo, StepRecord, hookimpl


class ProgressBar:
    """``epoch 3/10 |████▌    | 12/25 [00:01<00:01, loss=0.412]`` (optimizer steps); closes with the epoch's
    train/val loss."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.total = 0.0
        self.count = 0

    @hookimpl
    def mrframe_epoch_start(self, run: RunInfo, epoch: int, batches: int) -> None:
        if not run.writes:
            return
        self.total, self.count = 0.0, 0
        self.bar = tqdm(
            total=batches, desc=f"epoch {epoch}/{run.epochs}", file=self.stream, leave=True,
            dynamic_ncols=True, mininterval=0.5,
        )

    @hookimpl
    def mrframe_step_end(self, run: RunInfo, record: StepRecord) -> None:
        if self.bar is None:
            return
        if math.isfinite(record.loss):
            self.total += record.loss
            self.count += 1
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.total / max(self.count, 1):.4g}", refresh=False)

    @hookimpl
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if self.bar is None:
            return
        shown = {k: f"{record.metrics[k]:.4g}" for k in ("train_loss", "val_loss") if k in record.metrics}
        self.bar.set_postfix(shown)
        self.bar.close()
        self.bar = None

    @hookimpl
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    @hookimpl
    def mrframe_nonfinite(self, run: RunInfo, report: Mapping[str, Any]) -> None:
        """Print the guard's paragraph, unless the run stops with it (then it is the run's error message)."""
        if not run.writes or report.get("stops"):
            return
        text = textwrap.fill(report["message"], width=110)
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream)
