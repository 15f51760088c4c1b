"""The spatial mode of the synthetic source: generic features per grid cell, with planted spatial structure.

``n`` regions are the first ``n`` PRIO-GRID cells (0.5 degrees, :func:`mrframe.geo.grid_regions`) of a
near-square block whose south-west corner is (46 N, 33 E), row by row from the south. Each cell has an
*activity* ``a[t, r]`` that persists and spreads to its
grid neighbours (4-neighbourhood, ``N(r)``)::

    a[t, r] = 0.9 a[t-1, r] + 0.08 mean_{n in N(r)} a[t-1, n] + 0.3 e[t, r]          e ~ N(0, 1)

so a cell's future is forecastable from its own and its neighbours' past. A feature is
``x[t, r, f] = 0.5 (l_f . z[t]) + b_f a[t, r] + c_r + noise`` with the shared world latent ``z`` (see
:mod:`mrframe_osint.synthetic`), loadings ``l_f, b_f`` and a level ``c_r`` per cell (or a Poisson count with
log-rate ``1.0 + 0.6 x``). Values are missing at random with probability ``missing``, and ``outages`` gaps
hide every cell and feature.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mrframe.geo import grid_regions
from mrframe.interfaces import SourceFrame
from mrframe.regions import Regions
from mrframe_osint.world import simulate

CELL = 0.5
SOUTH_WEST = (46.0, 33.0)  # latitude, longitude of the block's corner


def block_regions(n: int) -> tuple[Regions, np.ndarray]:
    """The first ``n`` cells of the block and their ``[n, 2]`` (row, column) positions in it."""
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    inset = CELL / 10  # a box strictly inside the block's cells: exactly rows x columns cells meet it
    south, west = SOUTH_WEST
    table = grid_regions(CELL, (west + inset, south + inset, west + columns * CELL - inset,
                                south + rows * CELL - inset)).regions
    area = None if table.area_km2 is None else table.area_km2[:n]
    regions = Regions(table.ids[:n], table.names[:n], table.lat[:n], table.lon[:n], area)
    return regions, np.stack(np.divmod(np.arange(n), columns), axis=1)


def _neighbour_mean(position: np.ndarray) -> np.ndarray:
    """``[n, n]`` row-stochastic matrix averaging each cell's grid neighbours (itself if it has none)."""
    distance = np.abs(position[:, None, :] - position[None, :, :]).sum(-1)
    adjacent = (distance == 1).astype(np.float64)
    alone = adjacent.sum(1) == 0
    adjacent[alone, alone] = 1.0
    return adjacent / adjacent.sum(1, keepdims=True)


def activity(days: int, position: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[days, n]`` activity of the cells (see the module docstring), started from its stationary scale."""
    spread = _neighbour_mean(position)
    shocks = 0.3 * rng.standard_normal((days, len(position)))
    a = np.empty_like(shocks)
    a[0] = shocks[0] / 0.3
    for t in range(1, days):
        a[t] = 0.9 * a[t - 1] + 0.08 * spread @ a[t - 1] + shocks[t]
    return a


def generate_spatial(config: Any) -> SourceFrame:
    """The spatial frame a :class:`~mrframe_osint.synthetic.SyntheticConfig` with ``regions > 0`` describes
    (daily; deterministic in ``world`` and ``seed``)."""
    rng = np.random.default_rng([config.world, config.seed, 7])
    regions, position = block_regions(config.regions)
    world = simulate(config.world, config.start, config.periods)
    n, r, f = config.periods, config.regions, config.features
    global_loadings, local_loadings = rng.normal(0.0, 1.0, (f, 3)), rng.normal(1.0, 0.3, f)
    levels = rng.normal(0.0, 0.5, r)
    signal = (0.5 * (world.z @ global_loadings.T)[:, None, :] + activity(n, position, rng)[:, :, None] * local_loadings
              + levels[None, :, None])
    if config.counts:
        values = rng.poisson(np.exp(np.clip(1.0 + 0.6 * signal, -10, 8))).astype(np.float64)
    else:
        values = signal + config.noise * rng.standard_normal(signal.shape)
    values[rng.random(values.shape) < (0.1 if config.missing is None else config.missing)] = np.nan
    length = 14 if config.outage_length is None else config.outage_length
    for _ in range(config.outages or 0):
        start = int(rng.integers(0, max(1, n - length)))
        values[start : start + length] = np.nan
    names = [f"x{i}" for i in range(f)]
    columns = pd.MultiIndex.from_product([list(regions.ids), names], names=["region", "feature"])
    frame = pd.DataFrame(values.reshape(n, r * f), index=world.days.rename(None), columns=columns)
    return SourceFrame(frame, "daily", counts=tuple(names) if config.counts else (), regions=regions)
