"""Trivial baselines, built from exactly what the model could see, so a model's metric has a yardstick.

Forecasts (a head whose target source is also an input, read from the sample's own input window, so the
source's publication lag is respected):

* ``persistence``: every target step gets the last observed value of its feature in the window;
* ``seasonal_naive``: a target ``k`` steps after the anchor gets the value one season earlier, as many
  seasons back as needed to land inside the window (season: 7 days for daily sources, 12 months for monthly
  ones); missing when that step is unobserved or outside the window.

Daily targets are ``k = horizon - span + 1 .. horizon`` days after the anchor day; monthly targets ``k`` months
after the anchor's month (0 = the anchor's own month, which has not ended and is not in the window). A spatial
target's baselines are per region (windows ``[B, T, R, F]``, forecasts ``[B, span, R, F]``).

Classification: ``majority`` predicts the most frequent class of the **training** split's observed targets,
with the training class frequencies as its probabilities.
"""

from __future__ import annotations

import numpy as np

from mrframe.interfaces import TargetInfo
from mrframe.observed import Observed

SEASON = {"daily": 7, "monthly": 12}


def target_offsets(target: TargetInfo) -> np.ndarray:
    """Steps after the anchor (days) or after the anchor's month (months) of each target step."""
    return np.arange(target.horizon - target.span + 1, target.horizon + 1)


def _window(observed: Observed, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = observed.values.detach().float().cpu().numpy()[..., columns]
    mask = observed.mask.cpu().numpy()[..., columns]
    return values, mask


def persistence(observed: Observed, columns: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, (R,) F]``: the last observed value of each feature (of each region) in the window (NaN if none)."""
    values, mask = _window(observed, columns)
    length = values.shape[1]
    last = length - 1 - np.argmax(mask[:, ::-1], axis=1)  # [B, (R,) F]: last observed position
    picked = np.take_along_axis(values, last[:, None], axis=1)[:, 0]
    picked = np.where(mask.any(axis=1), picked, np.nan)
    return np.repeat(picked[:, None], target.span, axis=1)


def seasonal_naive(observed: Observed, columns: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, (R,) F]``: the value one (or more) seasons before each target step (NaN if unobserved)."""
    values, mask = _window(observed, columns)
    length = values.shape[1]
    season = SEASON[target.resolution]
    out = np.full((values.shape[0], target.span, *values.shape[2:]), np.nan)
    for s, k in enumerate(target_offsets(target)):
        if target.resolution == "daily":  # window ends on the anchor day: index length - 1 is offset 0
            back = -(-k // season) * season
            index = length - 1 + k - back
        else:  # window ends on the month before the anchor's month: index length - 1 is offset -1
            back = (k // season + 1) * season
            index = length + k - back
        if 0 <= index < length:
            out[:, s] = np.where(mask[:, index], values[:, index], np.nan)
    return out


class MajorityClass:
    """The training split's class frequencies for one classification task."""

    def __init__(self, n_classes: int):
        self.counts = np.zeros(n_classes, dtype=np.int64)

    def add(self, target: Observed) -> None:
        values = target.values[target.mask].detach().cpu().numpy().astype(np.int64)
        values = values[(values >= 0) & (values < len(self.counts))]
        self.counts += np.bincount(values, minlength=len(self.counts))

    @property
    def prior(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.full(len(self.counts), 1.0 / len(self.counts))

    @property
    def majority(self) -> int:
        return int(np.argmax(self.counts))

