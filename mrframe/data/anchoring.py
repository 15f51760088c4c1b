"""Anchors: the trivial forecast a head's prediction is a correction to.

``heads.NAME.target.anchor`` names a baseline computed from the sample's own observed window of the target's
source (at the target's features, with the source's publication lag, exactly what the model could see):

====================  ===========================================================================================
anchor                baseline of each target step
====================  ===========================================================================================
``persistence``       the last observed value of each feature in the window
``seasonal_naive``    the value one season (7 days, 12 months) before the step, as many seasons back as needed
                      to land inside the window
``moving_average:K``  the mean of the observed values among the window's last ``K`` steps
====================  ===========================================================================================

Daily targets are ``k = horizon - span + 1 .. horizon`` days after the anchor day (the window's last step);
monthly targets ``k`` months after the anchor's month, whose window ends on the month before it.

Baselines are computed in the source's units (the 7-day moving average of daily counts is their mean count,
not the exponential of the mean of their logs), so an anchored head that predicts a zero correction forecasts
exactly the baseline the evaluation compares it with. A baseline is NaN where it is undefined (nothing observed
in the steps it reads); :mod:`mrframe.data.frames` then masks the target.

Windows are ``[samples, steps, features]`` float arrays, NaN = missing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import attrs
import numpy as np

from mrframe.interfaces import TargetInfo

SEASON = {"daily": 7, "monthly": 12}
ANCHORS = ("persistence", "seasonal_naive", "moving_average:K")
_MOVING = re.compile(r"^moving_average:([1-9][0-9]*)$")


def target_offsets(target: TargetInfo) -> np.ndarray:
    """Steps after the anchor (days) or after the anchor's month (months) of each target step."""
    return np.arange(target.horizon - target.span + 1, target.horizon + 1)


def persistence(window: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, F]``: the last observed value of each feature in the window (NaN if none)."""
    observed = np.isfinite(window)
    length = window.shape[1]
    last = length - 1 - np.argmax(observed[:, ::-1, :], axis=1)  # [B, F]: last observed position
    picked = np.take_along_axis(window, last[:, None, :], axis=1)[:, 0, :]
    picked = np.where(observed.any(axis=1), picked, np.nan)
    return np.repeat(picked[:, None, :], target.span, axis=1)


def seasonal_lookback(target: TargetInfo, k: int) -> int:
    """Where seasonal naive reads the target step ``k`` after the anchor: so many steps from the window's end
    (1 = its last step)."""
    season = SEASON[target.resolution]
    if target.resolution == "daily":  # the window ends on the anchor day (offset 0)
        return 1 + -(-k // season) * season - k
    return (k // season + 1) * season - k  # the window ends on the month before the anchor's month (offset -1)


def seasonal_naive(window: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, F]``: the value one (or more) seasons before each target step (NaN if unobserved or outside
    the window)."""
    length = window.shape[1]
    out = np.full((window.shape[0], target.span, window.shape[2]), np.nan)
    for s, k in enumerate(target_offsets(target)):
        back = seasonal_lookback(target, int(k))
        if back <= length:
            out[:, s, :] = window[:, length - back, :]
    return out


def moving_average(window: np.ndarray, target: TargetInfo, steps: int) -> np.ndarray:
    """``[B, span, F]``: the mean of the observed values among the window's last ``steps`` steps (NaN if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing observed: NaN, as documented
        mean = np.nanmean(window[:, -steps:, :], axis=1)
    return np.repeat(mean[:, None, :], target.span, axis=1)


@attrs.frozen
class Anchor:
    """A parsed ``target.anchor``: the baseline's ``name`` and, for a moving average, its ``steps``."""

    name: str
    steps: int = 0

    @classmethod
    def parse(cls, text: str) -> Anchor:
        match = _MOVING.match(text)
        if match:
            return cls("moving_average", int(match.group(1)))
        if text in ("persistence", "seasonal_naive"):
            return cls(text)
        raise ValueError(problem(text))

    def __str__(self) -> str:
        return f"{self.name}:{self.steps}" if self.steps else self.name

    def reach(self, target: TargetInfo) -> int:
        """How many of the window's last steps the baseline reads (the window must be at least this long)."""
        if self.name == "moving_average":
            return self.steps
        if self.name == "seasonal_naive":
            return int(max(seasonal_lookback(target, k) for k in target_offsets(target)))
        return 1

    def baseline(self) -> Callable[[np.ndarray, TargetInfo], np.ndarray]:
        """The baseline function ``(window [B, T, F], target) -> [B, span, F]``."""
        if self.name == "moving_average":
            return lambda window, target: moving_average(window, target, self.steps)
        return {"persistence": persistence, "seasonal_naive": seasonal_naive}[self.name]


def problem(text: str) -> str | None:
    """Why ``text`` is not an anchor (None if it is one)."""
    if text in ("persistence", "seasonal_naive") or _MOVING.match(text):
        return None
    return f"unknown anchor {text!r}; expected one of {', '.join(ANCHORS)} (K: a number of steps, e.g. moving_average:7)"
