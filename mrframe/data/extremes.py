"""Extreme values: far outside what a feature's training period makes plausible, found robustly.

A single 1e30 in the training period turns a z-score into a constant (the mean and the standard deviation
follow the one value) and the feature into noise. For each feature ``x`` of a source, on the observed values
of its training rows (:func:`~mrframe.data.transforms.training_rows`, in the source's units)::

    m = median(x)
    S = max(1.4826 MAD(x), IQR(x) / 1.349, (x_(n-1-k) - x_(k)) / 4.653)    (S = max(|m|, 1) when all are 0)
    extreme  <=>  |x - m| > T S                                              (T = data.extreme_threshold)

where ``x_(i)`` are the sorted values and ``k = max(2, floor(n / 100))``: the last term is the 1-99 % range,
but never includes the two largest or smallest values (with few rows, the 99th percentile would be the
extreme itself). The spread is robust (a few extremes cannot widen it) yet follows heavy tails; the
default ``T = 1000`` leaves the real loss counts (at most ~70 spreads from the median, later years included)
alone. The bounds ``m +- T S`` are fitted on the training period only and applied to every row, inputs and
targets, as ``data.extremes`` says: ``mask`` (default: the value becomes missing), ``error`` (stop, naming the
first one) or ``keep`` (only report them). The bounds are part of the fitted preprocessing state, so a resumed
or evaluated run applies exactly the same ones.

A spatial source (values ``[N, R, F]``, :mod:`mrframe.data.spatial`) follows the same contract with each
(period, region) pair as one row (:func:`~mrframe.data.spatial.feature_rows`): one pair of bounds per feature,
pooled over regions, as its scaling is; a finding names the region of its largest value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
import numpy as np
import torch

from mrframe.data.spatial import feature_rows
from mrframe.data.timeline import AlignedSource, Timeline
from mrframe.errors import DataError

__all__ = ["Bounds", "Extreme", "fit_bounds", "ExtremeFilter"]


@attrs.frozen(eq=False)
class Bounds:
    """Per-feature ``low``/``high`` (float64 ``[F]``; infinite where nothing was observed in training)."""

    low: np.ndarray
    high: np.ndarray

    def outside(self, values: np.ndarray) -> np.ndarray:
        """Bool like ``values [N, F]`` (or ``[N, R, F]``): observed and beyond the bounds."""
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & ((values < self.low) | (values > self.high))


def fit_bounds(values: np.ndarray, threshold: float) -> Bounds:
    """The bounds of ``values [rows, F]`` (or ``[rows, R, F]``: every (row, region) pair is a row; NaN =
    missing): ``median +- threshold * spread`` per feature."""
    values = feature_rows(values)
    n_features = values.shape[1]
    low, high = np.full(n_features, -np.inf), np.full(n_features, np.inf)
    for f in range(n_features):
        x = values[:, f].astype(np.float64)
        x = x[np.isfinite(x)]
        if not x.size:
            continue
        q25, median, q75 = np.percentile(x, [25, 50, 75])
        ordered, k = np.sort(x), max(2, x.size // 100)
        tails = (ordered[-1 - k] - ordered[k]) / 4.653 if x.size > 2 * k else 0.0
        spread = max(1.4826 * float(np.median(np.abs(x - median))), (q75 - q25) / 1.349, tails)
        spread = spread if spread > 0 else max(abs(float(median)), 1.0)
        low[f], high[f] = median - threshold * spread, median + threshold * spread
    return Bounds(low, high)


@attrs.frozen
class Extreme:
    """What one feature of one source holds beyond its bounds."""

    source: str
    feature: str
    count: int
    date: str  # of the largest one
    value: float  # the largest in absolute value
    low: float
    high: float
    policy: str
    region: str | None = None  # of the largest one, for a spatial source

    @property
    def where(self) -> str:
        """``source 'S', feature 'F'`` (and ``(region R)`` for a spatial source)."""
        return f"source '{self.source}', feature '{self.feature}'" + (f" (region {self.region})" if self.region else "")

    def text(self) -> str:
        done = {"mask": "masked", "keep": "kept", "error": "refused"}[self.policy]
        region = f" in region {self.region}" if self.region else ""
        return (f"{self.source}.{self.feature}: {self.count:,} value{'s' * (self.count != 1)} beyond "
                f"{self.low:.4g} .. {self.high:.4g} (largest {self.value:.4g} on {self.date}{region}), {done}")


def _dates(source: AlignedSource, timeline: Timeline, rows: np.ndarray) -> list[str]:
    if source.info.resolution == "daily":
        return [str(np.datetime64(timeline.day0 + int(r), "D")) for r in rows]
    return [str(np.datetime64(timeline.month0 + int(r), "M")) for r in rows]


class ExtremeFilter:
    """Fitted bounds per source and the policy (``mask``, ``error``, ``keep``) applied with them."""

    def __init__(self, policies: Mapping[str, tuple[str, float]]):
        self.policies = dict(policies)  # source -> (policy, threshold)
        self.bounds: dict[str, Bounds] = {}

    def fit(self, sources: Mapping[str, AlignedSource], rows: Mapping[str, np.ndarray]) -> ExtremeFilter:
        """Fit each source's bounds on its training ``rows``."""
        for name, source in sources.items():
            self.bounds[name] = fit_bounds(source.values[rows[name]], self.policies[name][1])
        return self

    def findings(self, sources: Mapping[str, AlignedSource], timeline: Timeline) -> list[Extreme]:
        """Every feature with values beyond its bounds, over all rows."""
        found = []
        for name, source in sources.items():
            bounds = self.bounds.get(name)
            if bounds is None or bounds.low.shape != (source.info.n_features,):
                continue
            values = source.values.reshape(source.values.shape[0], -1, source.info.n_features)  # [N, R or 1, F]
            outside = bounds.outside(values)
            for f in np.flatnonzero(outside.any(axis=(0, 1))):
                cells = np.argwhere(outside[:, :, f])  # (row, region) pairs
                row, region = cells[np.argmax(np.abs(values[cells[:, 0], cells[:, 1], f]))]
                regions = source.info.regions
                found.append(Extreme(name, source.info.features[f], len(cells), _dates(source, timeline, [row])[0],
                                     float(values[row, region, f]), float(bounds.low[f]), float(bounds.high[f]),
                                     self.policies.get(name, ("mask", 0.0))[0],
                                     regions.ids[region] if regions is not None else None))
        return found

    def apply(self, sources: Mapping[str, AlignedSource], timeline: Timeline) -> dict[str, AlignedSource]:
        """``sources`` with extremes masked where the policy is ``mask``; a DataError for the first one where
        it is ``error``."""
        out = dict(sources)
        for extreme in self.findings(sources, timeline):
            if extreme.policy == "error":
                raise DataError(
                    f"{extreme.where}: {extreme.value:.4g} on {extreme.date} "
                    f"lies far outside the training period's values (more than data.extreme_threshold robust "
                    f"spreads from their median: beyond {extreme.low:.4g} .. {extreme.high:.4g}; {extreme.count} "
                    "such value(s)); fix the file, declare it in the source's missing_values, or set "
                    "data.extremes = \"mask\""
                )
        for name, source in sources.items():
            if self.policies.get(name, ("keep", 0.0))[0] != "mask" or name not in self.bounds:
                continue
            bounds = self.bounds[name]
            if bounds.low.shape != (source.info.n_features,):
                continue
            outside = bounds.outside(source.values)
            if outside.any():
                out[name] = attrs.evolve(source, values=np.where(outside, np.float32(np.nan), source.values))
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for name, b in self.bounds.items():
            state[f"{name}.low"] = torch.from_numpy(b.low.copy())
            state[f"{name}.high"] = torch.from_numpy(b.high.copy())
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor], names: Iterable[str]) -> None:
        """Bounds from :meth:`state_dict`; a source without any (a state fitted before bounds existed) is
        left unbounded."""
        self.bounds = {
            name: Bounds(state[f"{name}.low"].numpy(), state[f"{name}.high"].numpy())
            for name in names if f"{name}.low" in state
        }
