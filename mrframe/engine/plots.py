"""Built-in hook: PNG plots of the run, drawn from the :class:`RunLog` at the end of the run and, while it trains,
after any epoch that ends once drawing them costs at most :data:`PLOT_SHARE` of the time since they were last
drawn (a short run draws them once; a long one keeps them current without slowing down).

* ``plots/loss.png``: weighted train/validation loss, and each task's train and validation loss, per epoch;
* ``plots/weights.png``: each task's weight (what the gradient sees) per optimizer step;
* ``plots/lr.png``: the learning rate per optimizer step.
"""

from __future__ import annotations

import functools
import math
import pathlib
import time
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from mrframe.engine.files import atomic_write
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import RunLog
from mrframe.hooks import EpochRecord, RunInfo, hookimpl


@functools.cache
def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the file-only Agg backend, imported when the first plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot

    return matplotlib.pyplot


PLOT_SHARE = 0.05
"""Drawing the plots after an epoch may take at most this share of the time since they were last drawn."""

FIRST_DRAW_SECONDS = 1.0
"""What drawing is assumed to cost before it was first measured (matplotlib's import included)."""


class RunPlots:
    """Draws the three plots (rank 0 only): at the run's end, and after epochs as the module docstring says."""

    def __init__(self, directory: RunDirectory, log: RunLog):
        self.directory = directory
        self.log = log
        self.cost = FIRST_DRAW_SECONDS
        self.since = time.perf_counter()
        self.drawn = 0  # epochs in the log when the plots were last drawn

    @hookimpl
    def mrframe_run_start(self, run: RunInfo) -> None:
        self.since = time.perf_counter()

    @hookimpl
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if run.writes and time.perf_counter() - self.since >= self.cost / PLOT_SHARE:
            self.draw(run.name)

    @hookimpl
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if run.writes and self.drawn < len(self.log.epochs):
            self.draw(run.name)

    def draw(self, title: str) -> None:
        started = time.perf_counter()
        plot_losses(self.log.epochs, self.directory.plots / "loss.png", title)
        plot_steps(self.log.steps, "weight/", self.directory.plots / "weights.png", "task weight", title)
        plot_steps(self.log.steps, "lr", self.directory.plots / "lr.png", "learning rate", title)
        self.since = time.perf_counter()
        self.cost = self.since - started
        self.drawn = len(self.log.epochs)


def plot_losses(history: Sequence[Mapping[str, Any]], path: pathlib.Path, title: str) -> None:
    """``train_loss``/``val_loss`` and, per task, ``train/TASK/loss`` and ``val/TASK/loss`` against the epoch."""
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    tasks = sorted({k.split("/")[1] for row in history for k in row if k.startswith("val/") and k.endswith("/loss")})
    fig, axes = pyplot().subplots(1, 1 + len(tasks), figsize=(5 * (1 + len(tasks)), 4), squeeze=False)
    panels = [("weighted total", "train_loss", "val_loss")]
    panels += [(task, f"train/{task}/loss", f"val/{task}/loss") for task in tasks]
    for ax, (name, train, val) in zip(axes[0], panels, strict=True):
        ax.plot(epochs, [_value(h, train) for h in history], "-o", label="train", markersize=3)
        ax.plot(epochs, [_value(h, val) for h in history], "-s", label="validation", markersize=3)
        ax.set(xlabel="epoch", ylabel="loss", title=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_steps(trace: Sequence[Mapping[str, float]], key: str, path: pathlib.Path, label: str, title: str) -> None:
    """Every series of ``trace`` whose name is ``key`` or starts with it, against the optimizer step."""
    names = sorted({k for row in trace for k in row if k == key or (key.endswith("/") and k.startswith(key))})
    fig, ax = pyplot().subplots(figsize=(6, 4))
    steps = [row["step"] for row in trace]
    for name in names:
        ax.plot(steps, [_value(row, name) for row in trace], label=name.removeprefix(key) or name)
    ax.set(xlabel="optimizer step", ylabel=label, title=title)
    if len(names) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_figure(fig: Any, path: pathlib.Path) -> None:
    """Lay out, write ``fig`` to ``path`` as PNG atomically and close it."""
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    pyplot().close(fig)


def _value(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key, math.nan)
    return float(value) if value is not None else math.nan
