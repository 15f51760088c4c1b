"""Trivial baselines, built from exactly what the model could see, so a model's metric has a yardstick.

Forecasts (read from the sample's own window of the target's source, so the source's publication lag is
respected; the rules live in :mod:`mrframe.data.anchoring`, which anchored heads share):

* ``persistence``: every target step gets the last observed value of its feature in the window;
* ``seasonal_naive``: a target ``k`` steps after the anchor gets the value one season earlier, as many
  seasons back as needed to land inside the window (season: 7 days for daily sources, 12 months for monthly
  ones); missing when that step is unobserved or outside the window.

Daily targets are ``k = horizon - span + 1 .. horizon`` days after the anchor day; monthly targets ``k`` months
after the anchor's month (0 = the anchor's own month, which has not ended and is not in the window).

Classification: ``majority`` predicts the most frequent class of the **training** split's observed targets,
with the training class frequencies as its probabilities.
"""

from __future__ import annotations

import numpy as np

from mrframe.data import anchoring
from mrframe.data.anchoring import SEASON, target_offsets
from mrframe.interfaces import TargetInfo
from mrframe.observed import Observed

__all__ = ["SEASON", "target_offsets", "persistence", "seasonal_naive", "MajorityClass"]


def _window(observed: Observed, columns: np.ndarray) -> np.ndarray:
    """``[B, T, len(columns)]`` float64, NaN where unobserved."""
    values = observed.values.detach().double().cpu().numpy()[:, :, columns]
    return np.where(observed.mask.cpu().numpy()[:, :, columns], values, np.nan)


def persistence(observed: Observed, columns: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, F]``: the last observed value of each feature in the window (NaN if none)."""
    return anchoring.persistence(_window(observed, columns), target)


def seasonal_naive(observed: Observed, columns: np.ndarray, target: TargetInfo) -> np.ndarray:
    """``[B, span, F]``: the value one (or more) seasons before each target step (NaN if unobserved)."""
    return anchoring.seasonal_naive(_window(observed, columns), target)


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

