"""The demo dataset: every real format written for one simulated world, in the layout of ``examples/data``."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from mrframe_osint.firms_writer import write_firms
from mrframe_osint.world import World
from mrframe_osint.writers import write_equipment, write_labels, write_personnel, write_sentinel

FORMS = ("equipment", "personnel", "firms", "firms_modis", "sentinel", "labels")


def write_dataset(folder: pathlib.Path, world: World, seed: int = 0,
                  forms: Sequence[str] = FORMS) -> dict[str, pathlib.Path | list[pathlib.Path]]:
    """The ``forms`` of one world in ``folder`` (the demo dataset layout); returns the written paths by form.
    Each form draws from its own random stream, so its files do not depend on which other forms are written."""
    folder = pathlib.Path(folder)

    def rng(code: int) -> np.random.Generator:
        return np.random.default_rng([seed, code])

    writers = {
        "equipment": lambda: write_equipment(world, folder / "russia_losses_equipment.json", rng(1)),
        "personnel": lambda: write_personnel(world, folder / "russia_losses_personnel.json", rng(2)),
        "firms": lambda: write_firms(world, folder / "firms_viirs", rng(3), "VIIRS"),
        "firms_modis": lambda: write_firms(world, folder / "firms_modis", rng(4), "MODIS", nrt_days=0),
        "sentinel": lambda: write_sentinel(world, folder / "sentinel_monthly.csv", rng(5)),
        "labels": lambda: write_labels(world, folder / "intensity_regimes.csv", rng(6)),
    }
    return {form: writers[form]() for form in forms}
