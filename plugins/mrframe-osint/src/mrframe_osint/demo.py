"""The demo dataset: every real format written for one simulated world, in the layout of ``examples/data``."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np

from mrframe_osint.deepstate_writer import FRONT_LATITUDES, front_longitudes, write_border, write_deepstate
from mrframe_osint.firms_writer import Front, write_firms
from mrframe_osint.world import World
from mrframe_osint.writers import write_equipment, write_labels, write_personnel, write_sentinel

DEEPSTATE_SINCE = "2024-07-08"
"""The first day of the public DeepState archive (cyterat/deepstate-map-data): the demo has files from then on."""

FORMS = ("equipment", "personnel", "firms", "firms_modis", "sentinel", "labels", "deepstate", "border")


def write_dataset(folder: pathlib.Path, world: World, seed: int = 0,
                  forms: Sequence[str] = FORMS) -> dict[str, pathlib.Path | list[pathlib.Path]]:
    """The ``forms`` of one world in ``folder`` (the demo dataset layout); returns the written paths by form.
    Each form draws from its own random stream, so its files do not depend on which other forms are written.

    Fire detections cluster along the simulated front line that the DeepState files map (from
    :data:`DEEPSTATE_SINCE`, the line through every fifth vertex to keep the files small), so per grid cell the
    fires follow the front."""
    folder = pathlib.Path(folder)

    def rng(code: int) -> np.random.Generator:
        return np.random.default_rng([seed, code])

    line = front_longitudes(world)
    writers = {
        "equipment": lambda: write_equipment(world, folder / "russia_losses_equipment.json", rng(1)),
        "personnel": lambda: write_personnel(world, folder / "russia_losses_personnel.json", rng(2)),
        "firms": lambda: write_firms(world, folder / "firms_viirs", rng(3), "VIIRS",
                                     front=Front(FRONT_LATITUDES, line, rng(7))),
        "firms_modis": lambda: write_firms(world, folder / "firms_modis", rng(4), "MODIS", nrt_days=0,
                                           front=Front(FRONT_LATITUDES, line, rng(8))),
        "sentinel": lambda: write_sentinel(world, folder / "sentinel_monthly.csv", rng(5)),
        "labels": lambda: write_labels(world, folder / "intensity_regimes.csv", rng(6)),
        "deepstate": lambda: write_deepstate(world, folder / "deepstate", rng(9), since=DEEPSTATE_SINCE, every=5),
        "border": lambda: write_border(folder / "border.geojson"),
    }
    return {form: writers[form]() for form in forms}
