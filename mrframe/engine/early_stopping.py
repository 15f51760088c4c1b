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
from collections.abc import Mapping

from mrframe.engine.config import EarlyStoppingConfig
from mrframe.errors import MrframeError

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
