"""Life-cycle hooks of a run (pluggy), the way progress bars, writers and plots attach to training.

The built-in progress bar, metrics writer and plotter are ordinary implementations of these hooks. A third
party adds one by registering a module or object under the ``mrframe.hooks`` entry-point group and naming it
in the spec (``[run] hooks = ["my-hooks"]``)::

    from mrframe.hooks import hookimpl

    @hookimpl
    def mrframe_epoch_end(run, record):
        print(record.epoch, record.metrics["val_loss"])

Every hook receives the :class:`RunInfo`; hooks that write files check ``run.writes`` (only rank 0 of a
distributed run writes to the run directory).

Numbering is the same in hooks, the console, ``metrics.csv`` and the non-finite reports, and counts from 1:
**epoch** ``e`` is the e-th pass over the training split (``epoch 3/10`` on the progress bar); **step** ``n`` is
the n-th optimizer step of the run (across epochs; a skipped non-finite step gets no number, a report names the
step it would have been); **batch** ``b`` is the b-th optimizer step of its epoch (the progress bar's position;
with ``train.accumulate > 1`` one such batch is several micro-batches). Plugin contracts that take a position
(``StepContext``, ``Weighting.end_epoch``) use 0-based indices instead, as documented there.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from mrframe import registry

hookspec = pluggy.HookspecMarker("mrframe")
hookimpl = pluggy.HookimplMarker("mrframe")


@attrs.frozen
class RunInfo:
    """The run every hook is told about."""

    name: str
    directory: pathlib.Path | None  # None when nothing is written (tests, rank > 0)
    spec: Any  # mrframe.spec.Spec
    writes: bool  # True on the process that owns the run directory
    epochs: int
    parameters: Mapping[str, int]  # parameter count per block ("encoders.equipment", ..., "total")


@attrs.frozen
class StepRecord:
    """One optimizer step: ``loss`` is the weighted total, ``losses`` the per-task values, ``grad_norm`` the
    total gradient norm before clipping."""

    epoch: int  # 1-based
    step: int  # this step's number in the run (1-based, across epochs)
    batch: int  # this step's number within its epoch (1-based)
    loss: float
    losses: Mapping[str, float]
    weights: Mapping[str, float]
    lr: float
    grad_norm: float = math.nan


@attrs.frozen
class EpochRecord:
    """The end of an epoch: ``metrics`` maps a metric name (``train_loss``, ``val_loss``, ``val/<task>/mae``,
    ``weight/<task>``, ``lr``, ...) to a float; missing or undefined metrics are NaN."""

    epoch: int  # 1-based
    step: int  # optimizer steps taken so far
    metrics: Mapping[str, float]


class RunHooks:
    """The hook specification (implement any subset; the names are the contract)."""

    @hookspec
    def mrframe_run_start(self, run: RunInfo) -> None:
        """The model is built and training is about to start (or resume)."""

    @hookspec
    def mrframe_epoch_start(self, run: RunInfo, epoch: int, batches: int) -> None:
        """Epoch ``epoch`` (1-based) with ``batches`` optimizer steps starts (training batches /
        ``train.accumulate``, rounded up)."""

    @hookspec
    def mrframe_step_end(self, run: RunInfo, record: StepRecord) -> None:
        """An optimizer step finished (called once per step: keep it cheap)."""

    @hookspec
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        """An epoch finished and was evaluated."""

    @hookspec
    def mrframe_nonfinite(self, run: RunInfo, report: Mapping[str, Any]) -> None:
        """A non-finite loss or gradient was found; ``report`` is what the guard wrote to the run directory."""

    @hookspec
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        """Training ended (finished, stopped early or interrupted); ``summary`` is written as summary.json."""


def plugin_manager(builtin: Iterable[Any] = (), named: Iterable[str] = ()) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the given built-in implementations and the named hook plugins."""
    manager = pluggy.PluginManager("mrframe")
    manager.add_hookspecs(RunHooks)
    for plugin in builtin:
        manager.register(plugin)
    for name in named:
        manager.register(registry.load_hook(name), name=name)
    return manager
