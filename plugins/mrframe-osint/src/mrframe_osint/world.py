"""The simulated world behind the synthetic files: one latent process every written source observes.

Days ``t`` carry the shared latent ``z[t]`` of :func:`latent` (``z1``: AR(1) 0.97 + weekly cycle, ``z2``:
AR(1) 0.90, ``z3``: slow regime + yearly cycle; defined from 2000-01-01) and an *intensity*::

    u[t] = 0.8 z1[t] + 0.6 z3[t]

The planted, learnable relationships between the written sources:

=====================  ==================================================================================
source                 how it depends on the latent
=====================  ==================================================================================
FIRMS detections       Poisson, log-rate ``1.5 + 0.7 u[t] + 0.25 z2[t]`` (same day); FRP grows with ``u[t]``
equipment losses       Poisson per type, log-rate ``b_f + c_f u[t - 2] + 0.2 z2[t]``: fires lead losses
personnel losses       Poisson, log-rate ``6.3 + 0.5 u[t - 1]``
Sentinel (monthly)     scene counts, cloud cover (yearly cycle) and a burn-scar index ``0.5 + 0.25 mean z3
                       + 0.15 mean u`` of the month
labels                 four intensity regimes: the trailing 7-day mean of ``u`` cut at its long-run quartiles
=====================  ==================================================================================
"""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np
import pandas as pd

EPOCH = np.datetime64("2000-01-01", "D")
_PHI = np.array([0.97, 0.90, 0.995])
REGIME_EDGES = np.array([-0.7, 0.0, 0.7])


def latent(world: int, last_day: np.datetime64) -> np.ndarray:
    """The shared latent process ``[days since 2000-01-01 up to last_day, 3]``."""
    n = int((np.datetime64(last_day, "D") - EPOCH).astype(np.int64)) + 1
    rng = np.random.default_rng([world, 20000101])
    shocks = rng.standard_normal((n, 3)) * np.sqrt(1 - _PHI**2)
    z = np.empty((n, 3))
    z[0] = shocks[0] / np.sqrt(1 - _PHI**2)
    for t in range(1, n):
        z[t] = _PHI * z[t - 1] + shocks[t]
    days = np.arange(n)
    z[:, 0] += 0.8 * np.sin(2 * np.pi * days / 7.0)
    z[:, 2] += 0.8 * np.sin(2 * np.pi * days / 365.25)
    return z


@attrs.frozen(eq=False)
class World:
    """The latent state of every simulated day (``days``), shared by all sources of one ``world`` seed."""

    days: pd.DatetimeIndex
    z: np.ndarray  # [n, 3]
    intensity: np.ndarray  # [n]

    @property
    def n(self) -> int:
        return len(self.days)

    def lagged(self, values: np.ndarray, lag: int) -> np.ndarray:
        """``values[t - lag]`` (the first ``lag`` days repeat day 0)."""
        return values[np.maximum(np.arange(self.n) - lag, 0)]

    def monthly_mean(self, values: np.ndarray) -> pd.Series:
        """Mean of a daily series per calendar month (indexed by the month's first day)."""
        months = self.days.to_period("M").to_timestamp()
        return pd.Series(values, index=self.days).groupby(months).mean()

    def regimes(self) -> np.ndarray:
        """Intensity regime of each day, 0 (calm) .. 3 (intense): the trailing 7-day mean of ``u`` cut at
        ``REGIME_EDGES`` (its quartiles in the long run, so a day's regime does not depend on the range)."""
        trailing = pd.Series(self.intensity).rolling(7, min_periods=1).mean().to_numpy()
        return np.searchsorted(REGIME_EDGES, trailing, side="right")


def simulate(world: int, start: dt.date, days: int) -> World:
    """The world of seed ``world`` from ``start`` for ``days`` days (identical wherever the ranges overlap)."""
    index = pd.date_range(start, periods=days, freq="D", name="date")
    first = int((np.datetime64(index[0].date(), "D") - EPOCH).astype(np.int64))
    if first < 0:
        raise ValueError(f"synthetic worlds start on {EPOCH}; got start {start}")
    z = latent(world, np.datetime64(index[-1].date(), "D"))[first:]
    return World(index, z, 0.8 * z[:, 0] + 0.6 * z[:, 2])
