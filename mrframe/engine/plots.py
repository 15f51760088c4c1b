"""Built-in hook: PNG plots of the run (loss curves), refreshed after every epoch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

from mrframe.engine.rundir import RunDirectory  # noqa: E402
from mrframe.hooks import EpochRecord, RunInfo, hookimpl  # noqa: E402


class LossPlot:
    """``plots/loss.png``: total train/val loss and each task's validation loss per epoch."""

    def __init__(self, directory: RunDirectory, history: Sequence[Mapping[str, Any]] = ()):
        self.directory = directory
        self.history: list[Mapping[str, float]] = [dict(h) for h in history]

    @hookimpl
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if not run.writes:
            return
        self.history.append(dict(record.metrics))
        plot_losses(self.history, self.directory.plots / "loss.png", run.name)


def plot_losses(history: Sequence[Mapping[str, float]], path: Any, title: str) -> None:
    """Plot ``train_loss``, ``val_loss`` and ``val/<task>/loss`` against the epoch number."""
    epochs = list(range(1, len(history) + 1))
    task_keys = sorted({k for h in history for k in h if k.startswith("val/") and k.endswith("/loss")})
    fig, axes = plt.subplots(1, 2 if task_keys else 1, figsize=(11 if task_keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    for key, style in (("train_loss", "-o"), ("val_loss", "-s")):
        ax.plot(epochs, [_value(h, key) for h in history], style, label=key.replace("_", " "), markersize=3)
    ax.set(xlabel="epoch", ylabel="weighted loss", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    if task_keys:
        ax = axes[0][1]
        for key in task_keys:
            ax.plot(epochs, [_value(h, key) for h in history], "-o", label=key.split("/")[1], markersize=3)
        ax.set(xlabel="epoch", ylabel="loss", title="validation loss per task")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def _value(history: Mapping[str, float], key: str) -> float:
    value = history.get(key, math.nan)
    return value if value is not None else math.nan
