"""The ``deepstate`` source: the occupied territory of Ukraine per day, from DeepState map files.

Reads the daily GeoJSON files published by cyterat/deepstate-map-data, ``deepstatemap_data_YYYYMMDD.geojson``
(a folder of them, or one file): each is a FeatureCollection whose (Multi)Polygon features together are the
occupied territory as DeepState mapped it, updated daily at about 03:00 UTC. A file's values belong to the day in
its name (the map of that morning, known on that day). Features (areas are ellipsoidal, lengths geodesic; see
:mod:`mrframe.geo.measure`):

National (``regions`` unset), one row per day ``d``::

    occupied_km2          area of the occupied territory, km²
    occupied_change_km2   occupied_km2[d] - occupied_km2[d - 1] (missing when either day is)
    boundary_km           length of its boundary: the front line and the stretches of border and coast it shares
    front_line_km         instead of boundary_km when ``border`` (the country's outline) is given: the boundary
                          farther than ``border_tolerance_km`` from that outline

Spatial (``regions`` set), per day and region ``r``::

    occupied_fraction     area(occupied ∩ r) / area(r), in [0, 1]
    boundary_km or front_line_km   the length of that line inside r, km

A day without a file is missing, never filled. A file that cannot be read (not JSON, not a FeatureCollection of
(Multi)Polygons, an invalid polygon, coordinates that are not degrees) stops the load with an error naming it,
or, with ``bad_files = "missing"``, leaves its day missing and is counted in the data report. A ``.geojson`` file
of the folder whose name is not ``deepstatemap_data_YYYYMMDD.geojson`` is skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from collections import Counter
from typing import Literal

import attrs
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from mrframe.config import field
from mrframe.errors import DataError
from mrframe.geo import RegionsConfig, area_km2, buffer_km, build_regions, length_km, read_polygons
from mrframe.geo.geojson import check_polygon
from mrframe.interfaces import Source, SourceFrame
from mrframe_osint.examples import SyntheticExample
from mrframe_osint.tables import read_error

FILE_NAME = re.compile(r"deepstatemap_data_(\d{8})\.geojson")
NATIONAL = ("occupied_km2", "occupied_change_km2")
SPATIAL = ("occupied_fraction",)


@attrs.frozen
class DeepStateConfig:
    path: pathlib.Path = field(doc="a folder of daily DeepState files (deepstatemap_data_YYYYMMDD.geojson) or one file",
                               exists=True)
    regions: RegionsConfig | None = field(
        None, "spatial mode: features per region, e.g. { grid = 0.5, bbox = [22, 44, 41, 53] } (see `regions` of a "
              "spatial source); unset: national features")
    border: pathlib.Path | None = field(
        None, "GeoJSON outline of the country: adds front_line_km, the boundary away from this outline (border, coast)",
        exists=True)
    border_tolerance_km: float = field(
        2.0, "boundary within this distance of the border outline counts as border or coast, not front line", min=0.0)
    bad_files: Literal["error", "missing"] = field(
        "error", "a file that cannot be read: 'error' stops naming it; 'missing' leaves its day missing and counts "
                 "it in the data report")


@attrs.frozen(eq=False)
class DayFiles:
    """The files to read: ``paths[i]`` holds day ``days[i]`` (``datetime64[D]``, increasing)."""

    days: np.ndarray
    paths: list[pathlib.Path]


def list_files(path: pathlib.Path, rejected: Counter) -> DayFiles:
    """The DeepState files at ``path`` (a folder or one file), by day; other ``.geojson`` files are counted."""
    path = pathlib.Path(path)
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(".geojson"))
    elif path.is_file():
        candidates = [path]
    else:
        raise DataError(f"{path}: file or folder not found; check the source's `path` (relative to the spec file)")
    dated: dict[np.datetime64, pathlib.Path] = {}
    for candidate in candidates:
        day = _day_of(candidate.name)
        if day is None:
            rejected["file not named deepstatemap_data_YYYYMMDD.geojson (skipped)"] += 1
        else:
            dated[day] = candidate
    if not dated:
        raise DataError(f"{path}: no DeepState file (deepstatemap_data_YYYYMMDD.geojson, as published by "
                        "cyterat/deepstate-map-data)")
    days = sorted(dated)
    return DayFiles(np.array(days, dtype="datetime64[D]"), [dated[d] for d in days])


def _day_of(name: str) -> np.datetime64 | None:
    match = FILE_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return np.datetime64(dt.datetime.strptime(match[1], "%Y%m%d").date(), "D")
    except ValueError:
        return None


def read_occupied(path: pathlib.Path) -> shapely.Geometry:
    """The occupied territory of one file: the union of its (Multi)Polygon features, checked (see
    :mod:`mrframe.geo.geojson`). GEOS parses the file in one call; when it cannot, the careful reader names
    the problem. A file that cannot be read at all (permission, I/O error) is a DataError naming it too."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise read_error(path, error, "GeoJSON") from None
    try:
        parsed = shapely.from_geojson(text)
    except (shapely.errors.GEOSException, ValueError):
        parsed = None
    parts = shapely.get_parts(parsed) if parsed is not None else None
    polygonal = parts is not None and len(parts) > 0 and bool(
        np.isin(shapely.get_type_id(parts), (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)).all())
    if not polygonal:
        parts = np.array([f.geometry for f in read_polygons(path, text)], dtype=object)  # raises the precise error
        if len(parts) == 0:
            raise DataError(f"{path}: the file holds no feature; a DeepState file has the occupied territory as "
                            "(Multi)Polygon features")
    for i, part in enumerate(parts):
        check_polygon(part, f"{path}, feature {i + 1}")
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


class DeepStateSource(SyntheticExample, Source):
    """The occupied territory per day from DeepState map files: its area, daily change and boundary or front-line
    length, nationally or per region. A day without a file is missing."""

    Config = DeepStateConfig
    example_format = "deepstate"

    def load(self) -> SourceFrame:
        config: DeepStateConfig = self.config
        shapes = build_regions(config.regions) if config.regions is not None else None
        rejected: Counter = Counter()
        files = list_files(config.path, rejected)
        occupied = np.array([self._read(p, rejected) for p in tqdm(
            files.paths, desc=f"reading {config.path.name}", unit="file", leave=False, disable=None)], dtype=object)
        read = np.array([g is not None for g in occupied])
        if not read.any():
            raise DataError(f"{config.path}: none of the {len(occupied)} DeepState files could be read")
        line, line_name = self._lines(occupied[read])
        days = pd.date_range(files.days[0], files.days[-1], freq="D", name="date")
        position = (files.days[read] - files.days[0]).astype(np.int64)
        if shapes is None:
            values = np.full((len(days), 3), np.nan)
            values[position, 0] = area_km2(occupied[read])
            values[position, 2] = length_km(line)
            values[1:, 1] = values[1:, 0] - values[:-1, 0]
            frame = pd.DataFrame(values, index=days, columns=[*NATIONAL, line_name])
            return SourceFrame(frame, "daily", rejected=dict(rejected))
        values = np.full((len(days), len(shapes), 2), np.nan)
        values[position, :, 0] = shapes.cover(occupied[read])
        values[position, :, 1] = shapes.lengths_km(line)
        columns = pd.MultiIndex.from_product([shapes.regions.ids, [*SPATIAL, line_name]], names=["region", "feature"])
        frame = pd.DataFrame(values.reshape(len(days), -1), index=days, columns=columns)
        return SourceFrame(frame, "daily", rejected=dict(rejected), regions=shapes.regions)

    def _read(self, path: pathlib.Path, rejected: Counter) -> shapely.Geometry | None:
        try:
            return read_occupied(path)
        except DataError:
            if self.config.bad_files == "error":
                raise
            rejected["unreadable file (day missing)"] += 1
            return None

    def _lines(self, occupied: np.ndarray) -> tuple[np.ndarray, str]:
        """The line each day measures: the boundary, or the front line (the boundary away from the border)."""
        config: DeepStateConfig = self.config
        boundary = shapely.boundary(occupied)
        if config.border is None:
            return boundary, "boundary_km"
        outline = shapely.union_all([f.geometry for f in read_polygons(config.border)]).boundary
        zone = buffer_km(outline, config.border_tolerance_km)
        shapely.prepare(zone)
        return shapely.difference(boundary, zone), "front_line_km"
