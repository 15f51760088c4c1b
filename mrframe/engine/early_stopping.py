"""Early stopping and the choice of the best epoch, on a smoothed validation value.

For each epoch's monitored value ``x_e`` (see :class:`~mrframe.engine.config.EarlyStoppingConfig`)::

    s_1 = x_1,   s_e = smoothing * s_(e-1) + (1 - smoothing) * x_e
    improved  <=>  s_e < best - min_delta      (mode "min"; "max" mirrors it)

A non-finite ``x_e`` never improves and leaves ``s`` unchanged. Training stops once ``patience`` epochs in a
row have not improved and at least ``min_epochs`` epochs have run.

An epoch that is no *candidate* (the weighting policy's warm-up, :meth:`Weighting.in_warmup
<mrframe.interfaces.Weighting.in_warmup>`, or a non-finite validation loss that the guard let pass, whatever the
monitored metric says) counts towards ``min_epochs`` only: it neither improves, nor enters
``s``, nor counts against ``patience``, and the monitor (``auto``) is chosen on the first candidate epoch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import torch

from mrframe.engine.config import EarlyStoppingConfig
from mrframe.errors import MrframeError, did_you_mean
from mrframe.interfaces import PredictionKind, TargetInfo
from mrframe.units import Units

ANCHORED = "val_anchored"
"""The metric name of the weighting policy's anchored validation score."""

_HIGHER_IS_BETTER = ("auc", "ap", "accuracy", "macro_f1")


def resolve_monitor(config: EarlyStoppingConfig, metrics: Mapping[str, float]) -> tuple[str, str]:
    """``(metric name, "min" | "max")`` for the first epoch's ``metrics``."""
    name = config.monitor
    if name == "auto":
        name = ANCHORED if math.isfinite(metrics.get(ANCHORED, math.nan)) else "val_loss"
    if name not in metrics:
        known = ", ".join(sorted(k for k in metrics if k.startswith("val")))
        raise MrframeError(f"train.early_stopping.monitor: no metric named '{name}'; validation metrics: {known}")
    return name, mode_of(name, config.mode)


EPOCH_METRICS = ("val_loss", ANCHORED, "train_loss", "lr", "grad_norm", "grad_norm_max", "skipped_steps")
"""The metrics of every epoch (``metrics.csv`` columns) that belong to no task."""


def epoch_metric_names(task_kinds: Mapping[str, PredictionKind | None]) -> list[str] | None:
    """Every ``metrics.csv`` column a run whose heads predict ``task_kinds`` (task -> kind) will have, known before
    any data is loaded; None when some kind's metric names cannot be told (:func:`kind_metric_names`)."""
    names = list(EPOCH_METRICS)
    for task, kind in task_kinds.items():
        metrics = kind_metric_names(kind) if kind is not None else None
        if metrics is None:
            return None
        names += [f"train/{task}/loss", f"weight/{task}"]
        names += [f"val/{task}/{name}" for name in ("loss", "count", "dropped", *metrics)]
    return names


def kind_metric_names(kind: PredictionKind) -> list[str] | None:
    """The names ``kind.metrics`` gives an epoch's validation split (the kind's own columns and scores, no
    calibration), from the kind's example prediction; None when the kind gives no example to compute them on."""
    target = TargetInfo("task", "source", "daily", ("x",), horizon=1, span=2, units="raw" if kind.raw_targets
                        else "normalised")
    try:
        prediction, values = kind.example(target, 8, torch.Generator().manual_seed(0))
        units = Units.identity(1)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            columns = kind.columns(prediction, units) | kind.scores(prediction, values, units)
            metrics = kind.metrics(units(values).reshape(-1).numpy(),
                                   {k: v.detach().reshape(-1).numpy() for k, v in columns.items()})
    except Exception:  # noqa: BLE001 - a kind without a usable example: its metric names are not known up front
        return None
    return list(metrics)


def monitor_problem(monitor: str, task_kinds: Mapping[str, PredictionKind | None]) -> str | None:
    """What is wrong with ``train.early_stopping.monitor = monitor`` for a run with these tasks, or None: it must
    be ``auto`` or a metric every epoch will have (:func:`epoch_metric_names`; not checked when those cannot be
    told)."""
    if monitor == "auto":
        return None
    names = epoch_metric_names(task_kinds)
    if names is None or monitor in names:
        return None
    shown = ", ".join(n for n in names if n.startswith("val"))
    return f"no metric named '{monitor}'{did_you_mean(monitor, names)}; validation metrics: {shown} (or auto)"


def mode_of(name: str, mode: str = "auto") -> str:
    """``"min"`` or ``"max"``: ``mode`` unless it is ``auto``, then max for the metrics where higher is better."""
    if mode != "auto":
        return mode
    return "max" if name.rsplit("/", 1)[-1] in _HIGHER_IS_BETTER else "min"


class EarlyStopping:
    """Tracks the smoothed monitored value, the best epoch and the patience counter."""

    def __init__(self, config: EarlyStoppingConfig):
        self.config = config
        self.monitor: str | None = None
        self.mode = "min"
        self.smoothed = math.nan
        self.best = math.nan
        self.best_epoch = -1
        self.bad_epochs = 0
        self.epochs_seen = 0

    def update(self, epoch: int, metrics: Mapping[str, float], candidate: bool = True) -> bool:
        """Record epoch ``epoch``'s metrics; True when it is the best so far (never when it is no candidate)."""
        self.epochs_seen += 1
        if not candidate:
            return False
        if self.monitor is None:
            self.monitor, self.mode = resolve_monitor(self.config, metrics)
        value = metrics.get(self.monitor, math.nan)
        if math.isfinite(value):
            alpha = self.config.smoothing
            self.smoothed = value if not math.isfinite(self.smoothed) else alpha * self.smoothed + (1 - alpha) * value
        improved = math.isfinite(value) and (not math.isfinite(self.best) or self._better(self.smoothed))
        if improved:
            self.best, self.best_epoch, self.bad_epochs = self.smoothed, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.config.min_delta
        return value > self.best + self.config.min_delta

    @property
    def should_stop(self) -> bool:
        patience = self.config.patience
        return patience is not None and self.epochs_seen >= self.config.min_epochs and self.bad_epochs >= patience

    def state_dict(self) -> dict[str, object]:
        return {"monitor": self.monitor, "mode": self.mode, "smoothed": self.smoothed, "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs, "epochs_seen": self.epochs_seen}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        self.monitor = state["monitor"]  # type: ignore[assignment]
        self.mode = str(state["mode"])
        self.smoothed = float(state["smoothed"])  # type: ignore[arg-type]
        self.best = float(state["best"])  # type: ignore[arg-type]
        self.best_epoch = int(state["best_epoch"])  # type: ignore[call-overload]
        self.bad_epochs = int(state["bad_epochs"])  # type: ignore[call-overload]
        self.epochs_seen = int(state["epochs_seen"])  # type: ignore[call-overload]
