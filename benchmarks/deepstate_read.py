"""How long the ``deepstate`` source takes to read a daily series, national and per region, on one core.

Reads the real files when they are there (``MRFRAME_REAL_DATA``, default ``<repository>/../shared/data/real``:
554 files, 43 MB), else a simulated series of the same length written by ``mrframe_osint.deepstate_writer``.
Prints, side by side in one run, the time of a national load, of a load per 0.5° grid cell and of a load per
district-like polygon, and the part of the national load spent parsing and checking the files.

    python benchmarks/deepstate_read.py [--repeats 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: before numpy is imported

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from mrframe_osint.deepstate import DeepStateConfig, DeepStateSource, list_files, read_occupied  # noqa: E402
from mrframe_osint.deepstate_writer import write_deepstate  # noqa: E402
from mrframe_osint.world import simulate  # noqa: E402

from mrframe.geo import RegionsConfig  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
REAL = pathlib.Path(os.environ.get("MRFRAME_REAL_DATA", ROOT.parent / "shared" / "data" / "real")) / "deepstate" / "data"


def best_of(repeats: int, run) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(folder: pathlib.Path, repeats: int, scratch: pathlib.Path) -> None:
    from collections import Counter

    files = list_files(folder, Counter())
    size = sum(p.stat().st_size for p in files.paths) / 1e6
    print(f"DeepState: {len(files.paths)} files, {size:.0f} MB, {files.days[0]} .. {files.days[-1]} ({folder})")
    parse, _ = best_of(repeats, lambda: [read_occupied(p) for p in files.paths])
    print(f"  parse and check every file (GEOS):      {parse:6.2f} s ({parse / len(files.paths) * 1e3:.1f} ms a file)")
    districts = scratch / "districts.geojson"
    write_districts(districts)
    national = None
    for label, regions in (("national", None),
                           ("per 0.5 degree cell", RegionsConfig(grid=0.5, bbox=(22, 44, 41, 53))),
                           ("per district (140)", RegionsConfig(geojson=districts))):
        seconds, loaded = best_of(repeats, DeepStateSource(DeepStateConfig(folder, regions=regions)).load)
        national = national or seconds
        width = len(loaded.regions) if loaded.regions is not None else 1
        print(f"  {label:<22} load: {seconds:6.2f} s ({seconds / national:.2f}x national), {width} region(s), "
              f"{loaded.frame.shape[1]} columns")


def write_districts(path: pathlib.Path) -> None:
    """140 district-like polygons (Voronoi cells of random points) over the south-east of Ukraine."""
    import json

    import shapely

    rng = np.random.default_rng(1)
    box = shapely.box(30.0, 44.0, 41.0, 52.0)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(30, 41, 140), rng.uniform(44, 52, 140)]))
    cells = shapely.segmentize(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)),
                                                    box), 0.02)
    features = [{"type": "Feature", "properties": {"id": f"d{i}"}, "geometry": shapely.geometry.mapping(c)}
                for i, c in enumerate(cells)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def main() -> None:
    parser = argparse.ArgumentParser(description="deepstate reading benchmark")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many loads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = pathlib.Path(folder)
        if REAL.is_dir():
            measure(REAL, args.repeats, scratch)
        else:
            print(f"{REAL} not found: a simulated series of 554 days instead")
            series = write_deepstate(simulate(0, dt.date(2024, 7, 8), 560), scratch / "deepstate",
                                     np.random.default_rng(0))
            measure(series, args.repeats, scratch)


if __name__ == "__main__":
    main()
