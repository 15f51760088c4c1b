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

With ``regions = n`` the generic source is spatial: the same features per cell of an ``n``-cell grid, with
activity that persists and spreads between neighbouring cells (:mod:`mrframe_osint.synthetic_regions`).

With ``format`` set to a real format (``equipment``, ``personnel``, ``firms``, ``sentinel``, ``labels``,
``deepstate``) the source
simulates :mod:`mrframe_osint.world` over ``periods`` days from ``start``, writes that format (see
:mod:`mrframe_osint.writers`; into ``write_to``, or a temporary folder) and reads it back through the real
source's loader, so what it yields is exactly what the real loader makes of such a file.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.config import field
from mrframe.interfaces import Source, SourceFrame
from mrframe_osint.deepstate import DeepStateConfig, DeepStateSource
from mrframe_osint.deepstate_writer import write_deepstate
from mrframe_osint.firms import FirmsConfig, FirmsSource
from mrframe_osint.firms_writer import write_firms
from mrframe_osint.labels import LabelsConfig, LabelsSource
from mrframe_osint.losses import EquipmentConfig, EquipmentSource, PersonnelConfig, PersonnelSource
from mrframe_osint.sentinel import SentinelConfig, SentinelSource
from mrframe_osint.synthetic_regions import generate_spatial
from mrframe_osint.world import EPOCH, simulate
from mrframe_osint.writers import write_equipment, write_labels, write_personnel, write_sentinel

Format = Literal["generic", "equipment", "personnel", "firms", "sentinel", "labels", "deepstate"]
GENERIC_ONLY = ("resolution", "features", "counts", "noise", "regions")
UNUSED = {"firms": ("outage_length",), "deepstate": ("outage_length",),  # their gaps come from `missing`
          "labels": ("outages", "outage_length")}


@attrs.frozen
class SyntheticConfig:
    resolution: Literal["daily", "monthly"] = field("daily", "native resolution of the generated frame")
    start: dt.date = field(dt.date(2022, 1, 1), "first day (monthly: its month is the first month)")
    periods: int = field(730, "number of days (daily) or months (monthly)", min=1)
    features: int = field(4, "number of features, named x0, x1, ...", min=1)
    counts: bool = field(False, "generate non-negative event counts (Poisson) instead of real values")
    missing: float | None = field(
        None, "fraction of values missing (default 0.1; real formats: equipment 0.06, personnel 0.23, firms 0.09, "
        "sentinel 0.33, labels 0, deepstate 0.01)", min=0.0, max=0.95)
    outages: int | None = field(None, "whole-source outages, every feature missing (default 0; real formats 2, "
                                      "sentinel 1, labels 0)", min=0)
    outage_length: int | None = field(None, "length of each outage in periods (default 14; real formats 5 days, "
                                            "sentinel 2 months)", min=1)
    noise: float = field(0.3, "standard deviation of observation noise (real values)", min=0.0)
    regions: int = field(0, "0: one value per feature and period; n: a spatial source, the features of n grid cells "
                            "(daily, generic format)", min=0)
    world: int = field(0, "seed of the latent process shared by every source with the same world", min=0)
    seed: int = field(0, "seed of this source's loadings, noise and missingness", min=0)
    format: Format = field("generic", "generic: features x0, x1, ... in memory; a real format: that file, written "
                                      "and read back through its source's loader (periods = days)")
    write_to: pathlib.Path | None = field(None, "folder a real format is written into and kept (default: a temporary one)")

    def problems(self) -> Iterator[tuple[str, str]]:
        first = EPOCH.astype(dt.date)
        if pd.Timestamp(self.start).to_period("M").to_timestamp().date() < first:
            yield "start", f"synthetic worlds start on {first}, got {self.start}"
        if self.regions and self.resolution != "daily":
            yield "regions", "spatial synthetic sources are daily: set resolution = \"daily\" or regions = 0"
        if self.format == "generic":
            return
        for attribute in attrs.fields(SyntheticConfig):
            if attribute.name in GENERIC_ONLY and getattr(self, attribute.name) != attribute.default:
                yield attribute.name, f"applies to format = \"generic\" only (format is \"{self.format}\")"
            if attribute.name in UNUSED.get(self.format, ()) and getattr(self, attribute.name) is not None:
                yield attribute.name, f"is not used by format = \"{self.format}\""


def generate(config: SyntheticConfig) -> SourceFrame:
    """The frame this config describes (deterministic in ``world`` and ``seed``)."""
    if config.regions:
        return generate_spatial(config)
    rng = np.random.default_rng([config.world, config.seed, 1])
    if config.resolution == "daily":
        world = simulate(config.world, config.start, config.periods)
        index, z = world.days.rename(None), world.z
    else:
        index = pd.date_range(pd.Timestamp(config.start).to_period("M").to_timestamp(), periods=config.periods, freq="MS")
        days = (index[-1] + pd.offsets.MonthEnd(0) - index[0]).days + 1
        world = simulate(config.world, index[0].date(), days)
        z = pd.DataFrame(world.z, index=world.days).groupby(world.days.to_period("M")).mean().to_numpy()
    loadings = rng.normal(0.0, 1.0, (config.features, 3))
    signal = z @ loadings.T
    if config.counts:
        values = rng.poisson(np.exp(np.clip(1.5 + 0.6 * signal, -10, 8))).astype(np.float64)
    else:
        values = signal + config.noise * rng.standard_normal(signal.shape)
    missing = 0.1 if config.missing is None else config.missing
    outage_length = 14 if config.outage_length is None else config.outage_length
    values[rng.random(values.shape) < missing] = np.nan
    for _ in range(config.outages or 0):
        start = int(rng.integers(0, max(1, len(index) - outage_length)))
        values[start : start + outage_length] = np.nan
    names = [f"x{i}" for i in range(config.features)]
    frame = pd.DataFrame(values, index=index, columns=names)
    return SourceFrame(frame, config.resolution, counts=tuple(names) if config.counts else ())


def write_format(config: SyntheticConfig, folder: pathlib.Path) -> Source:
    """Write ``config.format`` into ``folder``; returns the real source that reads what was written."""
    world = simulate(config.world, config.start, config.periods)
    code = ("equipment", "personnel", "firms", "sentinel", "labels", "deepstate").index(config.format) + 1
    rng = np.random.default_rng([config.world, config.seed, code])
    gaps = {k: v for k, v in (("missing", config.missing), ("outages", config.outages)) if v is not None}
    lengths = {"outage_length": config.outage_length} if config.outage_length is not None else {}
    if config.format == "equipment":
        return EquipmentSource(EquipmentConfig(write_equipment(world, folder / "russia_losses_equipment.json",
                                                               rng, **gaps, **lengths)))
    if config.format == "personnel":
        return PersonnelSource(PersonnelConfig(write_personnel(world, folder / "russia_losses_personnel.json",
                                                               rng, **gaps, **lengths)))
    if config.format == "firms":
        write_firms(world, folder / "firms", rng, "VIIRS", **gaps)
        return FirmsSource(FirmsConfig(folder / "firms"))
    if config.format == "deepstate":
        return DeepStateSource(DeepStateConfig(write_deepstate(world, folder / "deepstate", rng, **gaps)))
    if config.format == "sentinel":
        path = write_sentinel(world, folder / "sentinel_monthly.csv", rng, **gaps, **lengths)
        return SentinelSource(SentinelConfig(path, counts=("s2_scenes", "s1_scenes")))
    path = write_labels(world, folder / "intensity_regimes.csv", rng, **gaps)  # outages are refused for labels
    return LabelsSource(LabelsConfig(path, classes=4))


def example_config(format: Format, directory: pathlib.Path, days: int = 150) -> Any:  # noqa: A002
    """A config of the real source of ``format`` that reads a small synthetic file written into ``directory``
    (what each real source's ``example_config`` returns, for the conformance kit)."""
    return write_format(SyntheticConfig(format=format, periods=days), pathlib.Path(directory)).config


class SyntheticSource(Source):
    """Synthetic data with planted, learnable structure and feature-level missingness: generic daily or
    monthly features in memory, or any of the real file formats written and read back by its real loader."""

    Config = SyntheticConfig

    def load(self) -> SourceFrame:
        config: SyntheticConfig = self.config
        if config.format == "generic":
            return generate(config)
        if config.write_to is not None:
            return write_format(config, config.write_to).load()
        with tempfile.TemporaryDirectory(prefix="mrframe-synthetic-") as folder:
            return write_format(config, pathlib.Path(folder)).load()
