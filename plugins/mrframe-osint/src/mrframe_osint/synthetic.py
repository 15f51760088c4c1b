"""A synthetic source with planted, learnable structure and controllable missingness.

Every synthetic source with the same ``world`` observes one shared latent process ``z`` (3 factors, daily,
defined from 2000-01-01 so sources with different date ranges agree):

* ``z1``: AR(1), phi = 0.97, plus a weekly cycle: forecastable days ahead from recent days;
* ``z2``: AR(1), phi = 0.90;
* ``z3``: a slow regime (AR(1), phi = 0.995) plus a yearly cycle: best seen through monthly sources.

A daily feature is ``x[t, f] = a_f . z[t] + noise`` (or a Poisson count with log-rate ``1.5 + 0.6 a_f . z[t]``
when ``counts = true``); a monthly feature is ``a_f`` times the month's mean of ``z`` plus noise. Loadings
``a_f``, noise and missingness come from ``seed``. Each value is missing with probability ``missing``;
``outages`` whole-source gaps of ``outage_length`` periods are missing entirely.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.config import field
from mrframe.interfaces import Source, SourceFrame

EPOCH = np.datetime64("2000-01-01", "D")
_PHI = np.array([0.97, 0.90, 0.995])


@attrs.frozen
class SyntheticConfig:
    resolution: Literal["daily", "monthly"] = field("daily", "native resolution of the generated frame")
    start: dt.date = field(dt.date(2022, 1, 1), "first day (monthly: its month is the first month)")
    periods: int = field(730, "number of days (daily) or months (monthly)", min=1)
    features: int = field(4, "number of features, named x0, x1, ...", min=1)
    counts: bool = field(False, "generate non-negative event counts (Poisson) instead of real values")
    missing: float = field(0.1, "probability that any single value is missing", min=0.0, max=1.0)
    outages: int = field(0, "number of whole-source outages (every feature missing)", min=0)
    outage_length: int = field(14, "length of each outage in periods", min=1)
    noise: float = field(0.3, "standard deviation of observation noise (real values)", min=0.0)
    world: int = field(0, "seed of the latent process shared by every source with the same world", min=0)
    seed: int = field(0, "seed of this source's loadings, noise and missingness", min=0)


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


def generate(config: SyntheticConfig) -> SourceFrame:
    """The frame this config describes (deterministic in ``world`` and ``seed``)."""
    rng = np.random.default_rng([config.world, config.seed, 1])
    if config.resolution == "daily":
        index = pd.date_range(config.start, periods=config.periods, freq="D")
        last = np.datetime64(index[-1].date(), "D")
        z_all = latent(config.world, last)
        offsets = (index.values.astype("datetime64[D]") - EPOCH).astype(np.int64)
        z = z_all[offsets]
    else:
        index = pd.date_range(pd.Timestamp(config.start).to_period("M").to_timestamp(), periods=config.periods, freq="MS")
        last = np.datetime64((index[-1] + pd.offsets.MonthEnd(0)).date(), "D")
        z_all = latent(config.world, last)
        day_offsets = (pd.date_range(index[0], last, freq="D").values.astype("datetime64[D]") - EPOCH).astype(np.int64)
        months = pd.date_range(index[0], last, freq="D").to_period("M")
        z = pd.DataFrame(z_all[day_offsets]).groupby(months.astype(str)).mean().to_numpy()
    loadings = rng.normal(0.0, 1.0, (config.features, 3))
    signal = z @ loadings.T
    if config.counts:
        values = rng.poisson(np.exp(np.clip(1.5 + 0.6 * signal, -10, 8))).astype(np.float64)
    else:
        values = signal + config.noise * rng.standard_normal(signal.shape)
    values[rng.random(values.shape) < config.missing] = np.nan
    for _ in range(config.outages):
        start = int(rng.integers(0, max(1, len(index) - config.outage_length)))
        values[start : start + config.outage_length] = np.nan
    names = [f"x{i}" for i in range(config.features)]
    frame = pd.DataFrame(values, index=index, columns=names)
    return SourceFrame(frame, config.resolution, counts=tuple(names) if config.counts else ())


class SyntheticSource(Source):
    """Synthetic daily or monthly data with planted, learnable structure and feature-level missingness."""

    Config = SyntheticConfig

    def load(self) -> SourceFrame:
        return generate(self.config)
