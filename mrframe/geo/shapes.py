"""Regions with their polygons: built from a grid or a GeoJSON file, they place points and measure overlaps.

:class:`RegionShapes` pairs the geometry-free :class:`~mrframe.regions.Regions` table (what a
:class:`~mrframe.interfaces.SourceFrame` carries) with each region's polygon, and answers what a spatial
source asks of it:

* :meth:`RegionShapes.locate`: the region of each point (``-1`` outside every region); a point on an edge two
  regions share belongs to the one listed first. Grid cells are half-open (west and south edges inside).
* :meth:`RegionShapes.cover`: the fraction of each region's area inside a (multi)polygon,
  ``area(region ∩ g) / area(region)``, computed in an equal-area projection (:mod:`mrframe.geo.measure`).
* :meth:`RegionShapes.lengths_km`: the geodesic length of lines inside each region, regions taken closed (a
  stretch along an edge two regions share counts for both).
"""

from __future__ import annotations

import pathlib
from collections import Counter
from collections.abc import Sequence

import attrs
import numpy as np
import shapely

from mrframe.errors import DataError, did_you_mean
from mrframe.geo.config import GridCells, RegionsConfig, grid_cells
from mrframe.geo.geojson import Feature, read_polygons
from mrframe.geo.measure import area_km2, equal_area, length_km
from mrframe.regions import Regions

__all__ = ["RegionShapes", "build_regions", "geojson_regions", "grid_regions"]


@attrs.frozen(eq=False)
class RegionShapes:
    """``regions`` (ids, names, centroids, geodesic areas) and ``polygons[r]``, region ``r``'s (multi)polygon in
    longitude/latitude degrees. ``grid`` is set for grid regions: their points are placed by arithmetic."""

    regions: Regions
    polygons: np.ndarray = attrs.field(converter=lambda p: np.asarray(p, dtype=object))
    grid: GridCells | None = None
    _projected: np.ndarray = attrs.field(init=False, repr=False)  # the polygons in the equal-area plane
    _tree: shapely.STRtree = attrs.field(init=False, repr=False)  # finds the polygons near a geometry

    def __attrs_post_init__(self) -> None:
        if len(self.polygons) != len(self.regions):
            raise ValueError(f"{len(self.regions)} regions need as many polygons, got {len(self.polygons)}")
        shapely.prepare(self.polygons)
        object.__setattr__(self, "_projected", equal_area(self.polygons))
        object.__setattr__(self, "_tree", shapely.STRtree(self.polygons))

    def __len__(self) -> int:
        return len(self.regions)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """``int64 [n]``: the index of the region holding each point (degrees), ``-1`` outside every region."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if self.grid is not None:
            grid = self.grid
            col = np.floor((lon + 180) / grid.cell).astype(np.int64) - grid.col0
            row = np.floor((lat + 90) / grid.cell).astype(np.int64) - grid.row0
            inside = (col >= 0) & (col < grid.cols) & (row >= 0) & (row < grid.rows)
            return np.where(inside, row * grid.cols + col, -1)
        # region by region, in order, over the unplaced points inside its bounding box (sorted by longitude, so a
        # box is a slice): point-in-polygon on the prepared polygon without building point objects
        order = np.argsort(lon, kind="stable")
        x, y = lon[order], lat[order]
        found = np.full(len(x), -1, dtype=np.int64)
        for r, (west, south, east, north) in enumerate(shapely.bounds(self.polygons)):
            start, stop = np.searchsorted(x, west, side="left"), np.searchsorted(x, east, side="right")
            candidates = start + np.flatnonzero((y[start:stop] >= south) & (y[start:stop] <= north)
                                                & (found[start:stop] < 0))
            found[candidates[shapely.intersects_xy(self.polygons[r], x[candidates], y[candidates])]] = r
        located = np.empty_like(found)
        located[order] = found
        return located

    def cover(self, geometry: shapely.Geometry) -> np.ndarray:
        """``float64 [R]``: the fraction of each region's area inside ``geometry`` (degrees), in [0, 1]."""
        fraction = np.zeros(len(self))
        if geometry is None or geometry.is_empty:
            return fraction
        near = self._tree.query(geometry, predicate="intersects")
        if near.size == 0:
            return fraction
        shape = equal_area(geometry)
        shapely.prepare(shape)
        inside = shapely.contains_properly(shape, self._projected[near])
        fraction[near[inside]] = 1.0
        edge = near[~inside]
        fraction[edge] = shapely.area(self._pieces(shape, edge, self._projected)) / shapely.area(self._projected[edge])
        return np.clip(fraction, 0.0, 1.0)

    def lengths_km(self, lines: shapely.Geometry) -> np.ndarray:
        """``float64 [R]``: the geodesic length in km of ``lines`` (degrees; a polygon counts its boundary)
        inside each region."""
        length = np.zeros(len(self))
        if lines is None or lines.is_empty:
            return length
        if shapely.get_dimensions(lines) == 2:
            lines = lines.boundary
        near = self._tree.query(lines, predicate="intersects")
        if near.size:
            length[near] = length_km(self._pieces(lines, near, self.polygons))
        return length

    def _pieces(self, shape: shapely.Geometry, regions: np.ndarray, polygons: np.ndarray) -> np.ndarray:
        """``shape ∩ polygons[r]`` for each ``r`` in ``regions`` (closed regions: a line along an edge is in
        both). ``shape`` is first clipped to the region's bounding box (fast, linear in the vertices; a line on
        the box edge is kept by a margin), so the exact overlay works on a small piece; for the area of a grid
        cell the clip is exact (a cell is its box in degrees and in the cylindrical equal-area plane alike)."""
        boxes = shapely.bounds(polygons[regions])
        areal = shapely.get_dimensions(shape) == 2
        margin = 0.0 if areal else 1e-6 * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
        boxes = boxes + margin * np.array([-1, -1, 1, 1])
        clipped = np.array([shapely.clip_by_rect(shape, *box) for box in boxes], dtype=object)
        if areal and self.grid is not None:
            return clipped
        try:
            return shapely.intersection(shapely.make_valid(clipped) if areal else clipped, polygons[regions])
        except shapely.errors.GEOSException:  # a clipped piece GEOS cannot overlay: use the whole shape
            return shapely.intersection(shape, polygons[regions])


def build_regions(config: RegionsConfig) -> RegionShapes:
    """The regions ``config`` describes (the same config always gives the same regions, in the same order)."""
    problem = next(iter(config.problems()), None)
    if problem is not None:
        key, message = problem
        raise ValueError(f"regions{'.' + key if key else ''}: {message}")
    if config.grid is not None:
        return grid_regions(config.grid, config.bbox)
    return geojson_regions(config.geojson, config.id, config.name)


def grid_regions(cell: float, bbox: Sequence[float]) -> RegionShapes:
    """The cells of the global ``cell``-degree grid that meet ``bbox`` = [west, south, east, north], ordered by
    id (south to north, west to east in a row). Ids are ``row * (360 / cell) + col + 1`` (PRIO-GRID gids for
    0.5°); names are the cell centres ("48.25N 37.75E")."""
    grid = grid_cells(cell, tuple(bbox))
    rows, cols = np.meshgrid(np.arange(grid.row0, grid.row0 + grid.rows), np.arange(grid.col0, grid.col0 + grid.cols),
                             indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    west, south = -180 + cols * cell, -90 + rows * cell
    polygons = shapely.box(west, south, west + cell, south + cell)
    lat, lon = south + cell / 2, west + cell / 2
    ids = rows * round(360 / cell) + cols + 1
    names = [f"{abs(y):g}{'N' if y >= 0 else 'S'} {abs(x):g}{'E' if x >= 0 else 'W'}" for y, x in zip(lat, lon, strict=True)]
    regions = Regions(ids, names, lat, lon, area_km2(polygons))
    return RegionShapes(regions, polygons, grid)


def geojson_regions(path: pathlib.Path, id_property: str = "id", name_property: str | None = None) -> RegionShapes:
    """One region per (Multi)Polygon feature of the GeoJSON file ``path``, in file order: its id from the
    property ``id_property`` (or the feature's own ``id`` member when the property is absent and
    ``id_property == "id"``), its name from ``name_property`` (default: the id), its centroid and area from its
    polygon. A missing or repeated id is an error naming the features."""
    features = read_polygons(path)
    if not features:
        raise DataError(f"{path}: the file holds no feature; a region file needs one polygon feature per region")
    ids = [_property(path, f, id_property, "id") for f in features]
    repeated = [k for k, n in Counter(ids).items() if n > 1]
    if repeated:
        places = [f.place for f, i in zip(features, ids, strict=True) if i == repeated[0]]
        raise DataError(f"{path}: region id {repeated[0]!r} (property {id_property!r}) appears in {' and '.join(places)}; "
                        "region ids must be unique: choose another id property or merge the features")
    names = ids if name_property is None else [_property(path, f, name_property, "name") for f in features]
    polygons = np.array([f.geometry for f in features], dtype=object)
    centroids = shapely.centroid(polygons)
    regions = Regions(ids, names, shapely.get_y(centroids), shapely.get_x(centroids), area_km2(polygons))
    return RegionShapes(regions, polygons)


def _property(path: pathlib.Path, feature: Feature, key: str, what: str) -> str:
    value = feature.properties.get(key)
    if value is None and key == "id":
        value = feature.id
    if value is None or str(value).strip() == "":
        found = ", ".join(map(repr, list(feature.properties)[:12])) or "none"
        hint = did_you_mean(key, map(str, feature.properties))
        raise DataError(f"{path}, {feature.place}: no region {what} in property {key!r}{hint} (its properties: "
                        f"{found}); set regions.{what} to the property that holds it")
    return str(value)
