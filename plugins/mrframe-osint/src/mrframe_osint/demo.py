"""The demo dataset: every real format written for one simulated world, in the layout of ``examples/data``."""

from __future__ import annotations

import pathlib

import numpy as np

from mrframe_osint.firms_writer import write_firms
from mrframe_osint.world import World
from mrframe_osint.writers import write_equipment, write_labels, write_personnel, write_sentinel


def write_dataset(folder: pathlib.Path, world: World, seed: int = 0) -> dict[str, pathlib.Path]:
    """Every format for one world in ``folder`` (the demo dataset layout); returns the paths by source."""
    folder = pathlib.Path(folder)

    def rng(code: int) -> np.random.Generator:
        return np.random.default_rng([seed, code])

    return {
        "equipment": write_equipment(world, folder / "russia_losses_equipment.json", rng(1)),
        "personnel": write_personnel(world, folder / "russia_losses_personnel.json", rng(2)),
        "firms": write_firms(world, folder / "firms_viirs", rng(3), "VIIRS"),
        "firms_modis": write_firms(world, folder / "firms_modis", rng(4), "MODIS", nrt_days=0),
        "sentinel": write_sentinel(world, folder / "sentinel_monthly.csv", rng(5)),
        "labels": write_labels(world, folder / "intensity_regimes.csv", rng(6)),
    }

