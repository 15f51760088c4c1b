"""Writing a simulated front line as DeepState map files (``deepstatemap_data_YYYYMMDD.geojson``).

The simulated country is the box :data:`MAINLAND` plus the island :data:`ISLAND` off its south coast. The occupied
territory is the island and the part of the mainland east of a front line that runs south to north,

    lon_front(lat, t) = 36 + 0.4 sin(3 lat) - s[t],   s[t] = 0.004 * sum over t' <= t of max(u[t'], 0)

so it grows while the fighting is intense (``u``: the world's intensity), with an unoccupied enclave
(:data:`ENCLAVE`, a hole) behind the line. Each file is what cyterat/deepstate-map-data publishes: a
FeatureCollection named after the file, CRS84, one MultiPolygon feature without properties, coordinates
rounded to 6 decimals. A fraction ``missing`` of the days has no file, in ``outages`` gaps.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from mrframe_osint.world import World
from mrframe_osint.writers import outage_days

MAINLAND = (30.0, 46.0, 40.0, 52.0)  # west, south, east, north
ISLAND = ((33.0, 45.0), (35.0, 44.6), (36.2, 45.3), (34.8, 45.8), (33.4, 45.7))
ENCLAVE = ((38.4, 48.9), (38.7, 48.9), (38.7, 49.1), (38.4, 49.1))
FRONT_LATITUDES = np.round(np.arange(46.0, 52.0001, 0.05), 6)
MAX_ADVANCE = 4.0  # degrees the front may move west


def front_longitudes(world: World) -> np.ndarray:
    """``[days, points]``: the front line's longitude at each of :data:`FRONT_LATITUDES` on each day."""
    advance = np.minimum(0.004 * np.cumsum(np.maximum(world.intensity, 0.0)), MAX_ADVANCE)
    return 36.0 + 0.4 * np.sin(3.0 * FRONT_LATITUDES)[None, :] - advance[:, None]


def occupied_coordinates(front: np.ndarray, latitudes: np.ndarray = FRONT_LATITUDES) -> list:
    """GeoJSON MultiPolygon coordinates of the occupied territory east of ``front`` (longitudes at ``latitudes``,
    by default :data:`FRONT_LATITUDES`) plus the island; rings closed, shells counter-clockwise, the hole clockwise."""
    east, south, north = MAINLAND[2], MAINLAND[1], MAINLAND[3]
    shell = [(east, south), (east, north)] + [(x, y) for x, y in zip(front[::-1], latitudes[::-1], strict=True)]
    shell = [*shell, shell[0]]
    hole = [*ENCLAVE[::-1], ENCLAVE[-1]]
    island = [*ISLAND, ISLAND[0]]
    return [[np.round(np.asarray(ring, dtype=np.float64), 6).tolist() for ring in polygon]
            for polygon in ([shell, hole], [island])]


def write_border(path: pathlib.Path) -> pathlib.Path:
    """The simulated country's outline (mainland and island) as a GeoJSON FeatureCollection."""
    west, south, east, north = MAINLAND
    mainland = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    island = [*ISLAND, ISLAND[0]]
    geometry = {"type": "MultiPolygon", "coordinates": [[[list(p) for p in mainland]], [[list(p) for p in island]]]}
    document = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "country"},
                                                           "geometry": geometry}]}
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def write_deepstate(world: World, folder: pathlib.Path, rng: np.random.Generator, missing: float = 0.01,
                    outages: int = 2, since: str | None = None, every: int = 1) -> pathlib.Path:
    """One DeepState file per day of ``world`` into ``folder`` (a fraction ``missing`` of the days left out, in
    ``outages`` gaps; no file before ``since``, as the public archive starts on 2024-07-08; the front line through
    every ``every``-th of its vertices, for smaller files); returns the folder."""
    if (len(FRONT_LATITUDES) - 1) % every:
        raise ValueError(f"every must divide {len(FRONT_LATITUDES) - 1} (so the line keeps both ends), got {every}")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = np.ones(world.n, dtype=bool) if since is None else np.asarray(world.days >= np.datetime64(since))
    n = int(written.sum())
    gaps = outages if missing > 0 else 0
    absent = ~written
    absent[written] = outage_days(n, gaps, max(1, round(missing * n / max(gaps, 1))), rng)
    for day, front, skip in zip(world.days, front_longitudes(world), absent, strict=True):
        if skip:
            continue
        name = f"deepstatemap_data_{day:%Y%m%d}"
        document = {
            "type": "FeatureCollection", "name": name,
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
            "features": [{"type": "Feature", "properties": {},
                          "geometry": {"type": "MultiPolygon",
                                       "coordinates": occupied_coordinates(front[::every], FRONT_LATITUDES[::every])}}],
        }
        (folder / f"{name}.geojson").write_text(json.dumps(document))
    return folder
