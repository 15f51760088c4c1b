"""Per-feature scaling fitted on the training period's observed values only.

For each feature ``x``: optionally ``x <- sign(x) * log1p(|x|)`` (count features), then
``x <- (x - center) / scale`` with ``center, scale`` = mean, std (``zscore``) or median, IQR/1.349
(``robust``), computed over observed (finite) values of the rows a training sample can see as input
(:func:`training_rows`: nothing dated on or after ``val_from``, nor published after it). A spatial source's
statistics are pooled over its regions: each (period, region) pair is one row (see docs/architecture.md).
A feature never observed in training keeps center 0, scale 1; a constant one keeps scale 1. Missing values
stay NaN. The fitted state is a dict of plain tensors, saved in checkpoints and re-applied from them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import attrs
import numpy as np
import torch

from mrframe.data.spatial import feature_rows
from mrframe.data.timeline import AlignedSource, Timeline


@attrs.frozen(eq=False)
class Scaling:
    """The fitted transform of one source: ``log1p``, ``center``, ``scale`` per feature (float64 arrays)."""

    log1p: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    def apply(self, values: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """To the scaled units (float32); ``columns`` selects the features ``values`` holds (last axis)."""
        cols = slice(None) if columns is None else columns
        out = np.where(self.log1p[cols], np.sign(values) * np.log1p(np.abs(values)), values)
        return ((out - self.center[cols]) / self.scale[cols]).astype(np.float32)

    def invert(self, values: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Back to the source's units; ``columns`` selects the features ``values`` holds (last axis)."""
        cols = slice(None) if columns is None else columns
        out = values * self.scale[cols] + self.center[cols]
        if not self.log1p[cols].any():
            return out
        with np.errstate(over="ignore"):  # beyond float range is inf (and features without log1p discard it)
            expanded = np.sign(out) * np.expm1(np.abs(out))
        return np.where(self.log1p[cols], expanded, out)


def training_rows(source: AlignedSource, timeline: Timeline, fit_until_day: int) -> np.ndarray:
    """Rows of ``source`` that some sample anchored before day index ``fit_until_day`` can see as input: day
    ``d`` if ``d + lag < fit_until_day``; a month if its last day ``e`` has ``e + lag < fit_until_day - 1``
    (anchor ``a`` sees a month only when ``e + lag < a``, see :mod:`mrframe.data.dataset`)."""
    n = source.values.shape[0]
    if source.info.resolution == "daily":
        return np.arange(min(max(fit_until_day - source.lag_days, 0), n))
    ends = timeline.month_end_day_index(np.arange(n))
    return np.flatnonzero(ends + source.lag_days < fit_until_day - 1)


def fit_scaling(values: np.ndarray, log1p: np.ndarray, method: str) -> Scaling:
    """Fit one source's scaling on ``values [rows, F]`` (NaN = missing)."""
    x = np.where(log1p, np.sign(values) * np.log1p(np.abs(values)), values).astype(np.float64)
    n_features = x.shape[1]
    center, scale = np.zeros(n_features), np.ones(n_features)
    if method != "none" and x.shape[0]:
        observed = np.isfinite(x).any(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
            if method == "zscore":
                c, s = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
            else:
                q25, c, q75 = np.nanpercentile(x, [25, 50, 75], axis=0)
                s = (q75 - q25) / 1.349
                s = np.where(s > 0, s, np.nanstd(x, axis=0))
        center = np.where(observed, c, 0.0)
        scale = np.where(observed & np.isfinite(s) & (s > 1e-12), s, 1.0)
    return Scaling(log1p=log1p.astype(bool), center=center, scale=scale)


class Normaliser:
    """Fits and applies a :class:`Scaling` per source; ``per_source`` maps a source name to its own
    ``(method, log1p_counts)`` where it differs from the defaults."""

    def __init__(self, method: str = "zscore", log1p_counts: bool = True,
                 per_source: Mapping[str, tuple[str, bool]] | None = None):
        self.method = method
        self.log1p_counts = log1p_counts
        self.per_source = dict(per_source or {})
        self.scalings: dict[str, Scaling] = {}

    def fit(self, sources: Mapping[str, AlignedSource], timeline: Timeline, fit_until_day: int) -> Normaliser:
        for name, source in sources.items():
            method, log1p_counts = self.per_source.get(name, (self.method, self.log1p_counts))
            rows = training_rows(source, timeline, fit_until_day)
            counts = set(source.info.counts) if log1p_counts else set()
            log1p = np.array([f in counts for f in source.info.features], dtype=bool)
            self.scalings[name] = fit_scaling(feature_rows(source.values[rows]), log1p, method)
        return self

    def transform(self, sources: Mapping[str, AlignedSource]) -> dict[str, AlignedSource]:
        return {
            name: attrs.evolve(source, values=self.scalings[name].apply(source.values))
            for name, source in sources.items()
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors only (``torch.load(weights_only=True)`` reads them back)."""
        state = {}
        for name, s in self.scalings.items():
            state[f"{name}.log1p"] = torch.from_numpy(s.log1p.copy())
            state[f"{name}.center"] = torch.from_numpy(s.center.copy())
            state[f"{name}.scale"] = torch.from_numpy(s.scale.copy())
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        names = {key.rsplit(".", 1)[0] for key in state}
        self.scalings = {
            name: Scaling(
                log1p=state[f"{name}.log1p"].numpy().astype(bool),
                center=state[f"{name}.center"].numpy(),
                scale=state[f"{name}.scale"].numpy(),
            )
            for name in names
        }
