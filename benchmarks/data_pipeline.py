"""Data-pipeline measurements, side by side in one run:

1. FIRMS rows aggregated per second on one core: the full ``firms`` source (read the CSV, detect the
   instrument, de-duplicate, aggregate per day) and the daily aggregation alone (target: >= 1 million rows/s);
   then the same source per region (a 0.5 degree grid, and ~140 district-like polygons), side by side with the
   national one (target: as fast).
2. Dataset memory for 10 and for 1,000 samples over the same data (windows are strided views, so the ratio
   should be ~1), next to what materialised windows would take.

    python benchmarks/data_pipeline.py [--rows 2000000]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from mrframe_osint.firms import FirmsConfig, FirmsSource, daily_aggregates  # noqa: E402
from mrframe_osint.firms_writer import detections  # noqa: E402
from mrframe_osint.world import simulate  # noqa: E402

from mrframe.data.dataset import WindowDataset  # noqa: E402
from mrframe.data.pipeline import prepare  # noqa: E402
from mrframe.geo import RegionsConfig  # noqa: E402
from mrframe.spec import build_spec  # noqa: E402


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def firms_throughput(rows: int, folder: pathlib.Path) -> None:
    world = simulate(0, dt.date(2022, 2, 25), 1600)
    per_day = np.full(world.n, rows // world.n)
    frame = detections(world, np.arange(world.n), per_day, "VIIRS", False, np.random.default_rng(0))
    path = folder / "fire_archive_SV-C2_benchmark.csv"
    frame.to_csv(path, index=False)
    n = len(frame)
    print(f"FIRMS: {n:,} VIIRS rows, {path.stat().st_size / 1e6:.0f} MB CSV, {world.n} days")
    source = FirmsSource(FirmsConfig(path))
    loaded = source.load()
    assert int(loaded.frame["detections"].sum()) == n
    full = best_of(3, source.load)
    day = np.repeat(np.arange(world.n), per_day)
    table = frame.rename(columns={"bright_ti4": "b1", "bright_ti5": "b2"})
    table["high"] = table["confidence"].eq("h")
    table["daytime"] = table["daynight"].eq("D")
    aggregate = best_of(5, lambda: daily_aggregates(day, table, world.n))
    print(f"  full source (read + check + de-duplicate + aggregate): {n / full / 1e6:6.2f} M rows/s ({full:.2f} s)")
    print(f"  daily aggregation alone:                               {n / aggregate / 1e6:6.2f} M rows/s "
          f"({aggregate * 1e3:.0f} ms)")
    print(f"  ratio aggregation / full: {full / aggregate:.1f}x   target: >= 1 M rows/s on one core")
    districts = write_districts(folder / "districts.geojson", 140)
    for label, regions in (("0.5 degree grid", RegionsConfig(grid=0.5, bbox=(22, 44, 41, 53))),
                           ("140 polygons", RegionsConfig(geojson=districts))):
        spatial = FirmsSource(FirmsConfig(path, regions=regions))
        frame = spatial.load()
        placed = int(frame.frame.xs("detections", axis=1, level="feature").to_numpy().sum())
        seconds = best_of(3, spatial.load)
        print(f"  per region, {label:<15} ({len(frame.regions):>3} regions): {n / seconds / 1e6:6.2f} M rows/s "
              f"({seconds:.2f} s), {seconds / full:.2f}x the national source's time; {placed:,} rows placed, "
              f"{sum(frame.rejected.values()):,} outside every region")


def write_districts(path: pathlib.Path, count: int) -> pathlib.Path:
    """A GeoJSON file of ``count`` district-like polygons tiling WIDE_BOX (Voronoi cells of random points)."""
    import json

    from mrframe_osint.firms_writer import WIDE_BOX

    west, south, east, north = WIDE_BOX
    rng = np.random.default_rng(1)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(west, east, count), rng.uniform(south, north, count)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(*WIDE_BOX)))
    cells = shapely.segmentize(shapely.intersection(cells, shapely.box(*WIDE_BOX)), 0.02)  # district-like vertex counts
    features = [{"type": "Feature", "properties": {"id": f"d{i}"}, "geometry": shapely.geometry.mapping(cell)}
                for i, cell in enumerate(cells)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def dataset_memory() -> None:
    document = {
        "version": 1,
        "data": {"daily_window": 365, "monthly_window": 12, "split": {"val_from": "2026-01-01"}},
        "sources": {
            "daily": {"plugin": "synthetic", "start": "2020-01-01", "periods": 2400, "features": 16},
            "monthly": {"plugin": "synthetic", "resolution": "monthly", "start": "2020-01-01", "periods": 80,
                        "features": 6},
        },
        "encoders": {"daily": {"plugin": "recurrent"}, "monthly": {"plugin": "recurrent"}},
        "heads": {"h": {"plugin": "regression", "target": {"source": "daily", "horizon": 7, "span": 7},
                        "loss": {"plugin": "masked-mse"}}},
    }
    spec = build_spec(document)
    data = prepare(spec)
    train = data.datasets["train"]
    reduced = {name: train.sources[name] for name in train.inputs}
    sizes = {}
    for samples in (10, 1000):
        tracemalloc.start()
        dataset = WindowDataset(data.timeline, reduced, train.inputs, data.targets, train.anchors[:samples],
                                spec.data.daily_window, spec.data.monthly_window)
        allocated = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        materialised = samples * sum(
            (spec.data.daily_window if s.info.resolution == "daily" else spec.data.monthly_window) * s.info.n_features * 4
            for s in reduced.values())
        sizes[samples] = (dataset.nbytes, allocated, materialised)
        print(f"dataset with {samples:>5,} samples: nbytes {dataset.nbytes / 1e6:7.3f} MB, allocated while building "
              f"{allocated / 1e6:7.3f} MB (materialised windows would take {materialised / 1e6:8.2f} MB)")
    print(f"  memory ratio 1000 / 10 samples: nbytes {sizes[1000][0] / sizes[10][0]:.4f}, "
          f"allocated {sizes[1000][1] / sizes[10][1]:.4f} (should be ~1)")


def main() -> None:
    parser = argparse.ArgumentParser(description="data pipeline benchmark")
    parser.add_argument("--rows", type=int, default=2_000_000, help="FIRMS rows to aggregate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        firms_throughput(args.rows, pathlib.Path(folder))
    dataset_memory()


if __name__ == "__main__":
    main()
