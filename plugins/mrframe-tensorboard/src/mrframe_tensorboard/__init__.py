"""The ``tensorboard`` hook plugin: a run as TensorBoard event files (``[run] hooks = ["tensorboard"]``).

Each run gets one event-file folder, by default ``RUN_DIR/tensorboard``, so ``tensorboard --logdir runs`` shows
every run of a runs folder side by side, named after its run directory. What is written:

* ``spec`` (text): the resolved spec, as ``spec.toml`` in the run directory holds it;
* every finite metric of each epoch (``train_loss``, ``val_loss``, ``val/TASK/mae``, ``weight/TASK``, ``lr``...)
  as a scalar at step = the epoch number of :class:`mrframe.hooks.EpochRecord`;
* when training ends: the run's PNG plots (``plots/NAME``) as images and ``summary`` (text) with the run summary.

TensorBoard has no artifact store: the rest of the run directory stays where it is, beside the event files.
Only the process that owns the run directory writes (rank 0 of a distributed run).
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping
from typing import Any

import attrs

from mrframe.config import field
from mrframe.hooks import EpochRecord, RunInfo, hookimpl


@attrs.frozen
class TensorBoardConfig:
    log_dir: pathlib.Path | None = field(
        None, "folder holding one event-file folder per run, named after its run directory (relative to the "
              "spec file; default: each run directory's tensorboard/ folder)")
    plots: bool = field(True, "add the run's PNG plots as images when training ends")


class TensorBoardHook:
    """Logs the run to TensorBoard event files: the spec, every epoch's metrics, the plots and the summary."""

    Config = TensorBoardConfig

    def __init__(self, config: TensorBoardConfig):
        self.config = config
        self.writer: Any = None  # torch.utils.tensorboard.SummaryWriter, on the process that writes
        self.epoch = 0

    def folder(self, run_directory: pathlib.Path) -> pathlib.Path:
        """Where this run's event files go."""
        if self.config.log_dir is None:
            return run_directory / "tensorboard"
        return self.config.log_dir / run_directory.name

    @hookimpl
    def mrframe_run_start(self, run: RunInfo) -> None:
        if not run.writes or run.directory is None:
            return
        # imported by the runs that use the hook, not by `mrframe plugins`
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.folder(run.directory)))
        self.writer.add_text("spec", _code_block(run.spec.to_toml()))
        self.writer.flush()

    @hookimpl(trylast=True)  # after the built-in writers of the same epoch
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if self.writer is None:
            return
        for name, value in record.metrics.items():
            if not math.isnan(value):  # NaN means missing or undefined at this epoch
                self.writer.add_scalar(name, value, global_step=record.epoch)
        self.epoch = record.epoch
        self.writer.flush()

    @hookimpl(trylast=True)  # after the built-in writers have drawn the plots and written summary.json
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if self.writer is None:
            return
        try:
            if self.config.plots and run.directory is not None:
                from matplotlib.image import imread

                for path in sorted((run.directory / "plots").glob("*.png")):
                    image = imread(path)
                    image, layout = (image[..., :3], "HWC") if image.ndim == 3 else (image, "HW")  # drop alpha
                    self.writer.add_image(f"plots/{path.stem}", image, global_step=self.epoch, dataformats=layout)
            self.writer.add_text("summary", _code_block(json.dumps(summary, indent=2, default=str)),
                                 global_step=self.epoch)
        finally:
            self.writer.close()
            self.writer = None


def _code_block(text: str) -> str:
    """``text`` shown verbatim by TensorBoard's Markdown text dashboard."""
    return "\n".join("    " + line for line in text.splitlines())
