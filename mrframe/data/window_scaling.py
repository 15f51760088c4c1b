"""Window-level scaling: every sample's window of a source, relative to its own observed values.

The training-period scaling (:mod:`mrframe.data.transforms`) puts a feature on one fixed scale; when the world
moves (daily drone losses of 32 in training, 1,600 two years later) the test period lands dozens of training
standard deviations away, where no network extrapolates. Window scaling (the idea behind RevIN and
NeuralForecast's per-window scalers) rescales each sample by statistics of its own input window instead, so
a model sees and predicts values relative to the recent past whatever the level.

For one sample, source and feature, with ``x_t`` the feature's values in the sample's input window (already on
the training-period scale, so count features are on ``log1p``) and ``O`` the steps where it is observed::

    zscore:   center = mean(x_O)     spread = std(x_O)
    robust:   center = median(x_O)   spread = IQR(x_O) / 1.349, or std(x_O) where the IQR is 0
    spread    = max(spread, min_spread)
    x'_t      = (x_t - center) / spread

The statistics read nothing but the observed values of the sample's own input window (so they cannot leak a
later value, and the values at masked places change nothing). A feature with no observed value in the window
gets ``center = 0, spread = 1`` and stays masked; a flat window (zero spread) is divided by ``min_spread``. The
same map, applied to a target (:mod:`mrframe.data.frames`), is inverted exactly for forecasts and metrics.

Arrays are ``[samples, steps, ...]`` with NaN = missing; statistics reduce the steps axis (axis 1) only, so a
spatial source's window ``[samples, steps, regions, features]`` gets statistics per sample, region and feature.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

WindowScaling = Literal["none", "zscore", "robust"]

IQR_TO_STD = 1.349
"""The interquartile range of a normal distribution in standard deviations."""


def window_statistics(values: np.ndarray, method: WindowScaling, min_spread: float) -> tuple[np.ndarray, np.ndarray]:
    """``(center, spread)`` of each sample's observed values along the steps axis, shaped like ``values`` with
    one step (float64; ``method = "none"``: 0 and 1)."""
    shape = (values.shape[0], 1, *values.shape[2:])
    if method == "none":
        return np.zeros(shape), np.ones(shape)
    x = values.astype(np.float64)
    observed = np.isfinite(x).any(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows, handled below
        std = np.nanstd(x, axis=1, keepdims=True)
        if method == "zscore":
            center, spread = np.nanmean(x, axis=1, keepdims=True), std
        else:
            low, center, high = quantiles(x, (0.25, 0.5, 0.75))
            spread = (high - low) / IQR_TO_STD
            spread = np.where(spread > 0, spread, std)
    center = np.where(observed, center, 0.0)
    spread = np.where(observed, np.maximum(spread, min_spread), 1.0)
    return center, spread


def quantiles(x: np.ndarray, levels: tuple[float, ...]) -> list[np.ndarray]:
    """The ``levels`` quantiles of the finite values along axis 1 (linear interpolation, as ``np.nanquantile``;
    NaN where nothing is finite), each with axis 1 kept. Sorting once puts NaN last, so this is many times
    faster than ``np.nanquantile``, which loops over the other axes."""
    ordered = np.sort(x, axis=1)
    count = np.isfinite(x).sum(axis=1, keepdims=True)
    out = []
    for level in levels:
        position = level * np.maximum(count - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(count - 1, 0))
        low = np.take_along_axis(ordered, below, axis=1)
        high = np.take_along_axis(ordered, above, axis=1)
        out.append(np.where(count > 0, low + (position - below) * (high - low), np.nan))
    return out


def scale_window(values: np.ndarray, center: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """``(values - center) / spread`` in ``values``' dtype (NaN stays NaN)."""
    return ((values - center) / spread).astype(values.dtype)
