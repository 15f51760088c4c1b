"""Life-cycle hooks of a run (pluggy), the way progress bars, writers and plots attach to training.

The built-in progress bar, metrics writer and plotter are ordinary implementations of these hooks. A hook
plugin is registered under the ``mrframe.hooks`` entry-point group and enabled by name in the spec
(``[run] hooks = ["my-hooks"]``). It is one of

* a module (or any object) whose functions are marked ``@hookimpl``; it takes no options::

      from mrframe.hooks import hookimpl

      @hookimpl
      def mrframe_epoch_end(run, record):
          print(record.epoch, record.metrics["val_loss"])

* a class whose methods are marked ``@hookimpl``, instantiated once per run. When it declares an attrs class
  ``Config`` (fields from :func:`mrframe.config.field`), the spec's ``[hooks.NAME]`` table is validated into it
  like any plugin's options and the class is built as ``Hook(config)``; without one, as ``Hook()``.

Every hook receives the :class:`RunInfo`; hooks that write files check ``run.writes`` (only rank 0 of a
distributed run writes to the run directory). A hook that decides the run should end (a pruned trial of
``mrframe tune``) raises :class:`StopTraining` from ``mrframe_epoch_end``, marked ``@hookimpl(trylast=True)``
so that every other hook sees the epoch first (the built-in metrics writer records it before any other hook in
any case: ``tryfirst``). Implementations are otherwise called last-registered first: a hook plugin that reads
what the built-in writers wrote at the same call marks its implementation ``@hookimpl(trylast=True)``.

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

from mrframe.errors import did_you_mean

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


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raised by a hook implementation to end the run on purpose: the trainer stops with the checkpoints it has
    written, skips the final evaluation, and the summary's status is ``"stopped: " + str(exception)``. In a
    distributed run every process must raise it at the same epoch."""


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


def contract_problem(plugin: Any) -> str | None:
    """Why ``plugin`` cannot serve as a hook plugin (None when it can): every ``@hookimpl`` must name a hook of
    :class:`RunHooks` and take only its arguments, at least one must be there, and a ``Config`` must be an attrs
    class declared on a class (a module or an instance cannot be given options)."""
    manager = pluggy.PluginManager("mrframe")
    manager.add_hookspecs(RunHooks)
    try:
        manager.register(plugin)
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        known = [name for name in dir(RunHooks) if name.startswith("mrframe_")]
        unknown = [name for name in dir(plugin) if name.startswith("mrframe_") and name not in known]
        hint = did_you_mean(unknown[0], known) if unknown else ""
        detail = "; ".join(str(error).splitlines())
        return f"is not a valid hook implementation: {detail}{hint}"
    if not manager.get_hookcallers(plugin):
        return ("implements none of the hooks of mrframe.hooks.RunHooks (mark its functions with "
                "@mrframe.hooks.hookimpl)")
    config = getattr(plugin, "Config", None)
    if config is not None and not isinstance(plugin, type):
        return "declares a Config but is not a class: make it a class built as Hook(config) to take options"
    if config is not None and not (isinstance(config, type) and attrs.has(config)):
        return "must declare its options as an attrs class `Config` (see mrframe.config.field)"
    return None


def instantiate(plugin: Any, config: Any) -> Any:
    """What a run registers for a hook plugin: a class is built (``Hook(config)`` when it declares a ``Config``,
    else ``Hook()``); a module or object is used as it is."""
    if not isinstance(plugin, type):
        return plugin
    return plugin(config) if hasattr(plugin, "Config") else plugin()


def plugin_manager(builtin: Iterable[Any] = (), named: Mapping[str, Any] = {}) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the given built-in implementations and the spec's hook plugins
    (``named``: :attr:`mrframe.spec.Spec.hooks`, name -> the resolved plugin and its config)."""
    manager = pluggy.PluginManager("mrframe")
    manager.add_hookspecs(RunHooks)
    for plugin in builtin:
        manager.register(plugin)
    for name, component in named.items():
        manager.register(instantiate(component.cls, component.config), name=name)
    return manager
