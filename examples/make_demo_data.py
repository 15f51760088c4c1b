"""Write the demo dataset of examples/ in the real public formats, from one simulated world.

    python examples/make_demo_data.py            # writes examples/data/
    python examples/make_demo_data.py --out DIR

The files (see mrframe_osint.writers for what they contain and how they relate):

    russia_losses_equipment.json   cumulative equipment losses (JSON list of daily records)
    russia_losses_personnel.json   cumulative personnel losses
    firms_viirs/                   NASA FIRMS VIIRS downloads: archive .csv.gz files and one NRT .csv
    firms_modis/                   NASA FIRMS MODIS archive downloads
    sentinel_monthly.csv           monthly Sentinel scene statistics
    intensity_regimes.csv          daily intensity regime 0..3 (labels for classification heads)
    deepstate/                     DeepState map files of the occupied territory behind a simulated front line
                                   (deepstatemap_data_YYYYMMDD.geojson, from 2024-07-08 as the public archive)
    border.geojson                 the simulated country's outline (for the front line's length)

Fire detections cluster along the simulated front, so FIRMS per grid cell follows it (examples/spatial.toml).
The days are those of the public snapshot (2022-02-25 .. 2026-08-08); the output is the same on every run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import shutil

from mrframe_osint.demo import write_dataset
from mrframe_osint.world import simulate

START, DAYS, WORLD, SEED = dt.date(2022, 2, 25), 1626, 0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / "data")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        if not (args.out / "russia_losses_equipment.json").is_file():  # only ever replace a demo dataset
            parser.error(f"{args.out} is not empty and holds no demo dataset; choose an empty or new folder")
        shutil.rmtree(args.out)
    paths = write_dataset(args.out, simulate(WORLD, START, DAYS), seed=SEED)
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files ({total / 1e6:.2f} MB) for {', '.join(paths)} into {args.out}")


if __name__ == "__main__":
    main()
