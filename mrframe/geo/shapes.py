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
from mrframe.geo.measure import area_km2, equal_area, length_km, row_keys, simple_parts
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

    def cover(self, geometries: shapely.Geometry | Sequence[shapely.Geometry]) -> np.ndarray:
        """The fraction of each region's area inside a (multi)polygon (degrees), in [0, 1]: ``float64 [R]`` for
        one geometry, ``[n, R]`` for a sequence of them (a daily series; None or empty covers nothing).

        In a series, a region the boundary crosses is measured again only where the boundary changed since the
        previous geometry (:meth:`_unchanged`). The boundary inside such a region being the same, its part
        inside could still differ only if rings elsewhere turned it inside out; a day whose covered area
        (``sum_r fraction * area``) then changes by other than the geometry's change of area is measured whole."""
        shapes, single = _as_array(geometries)
        fraction = np.zeros((len(shapes), len(self)))
        areas = shapely.area(self._projected)
        projected_shapes = equal_area(shapes)
        total = shapely.area(projected_shapes)
        for t, (shape, projected) in enumerate(zip(shapes, projected_shapes, strict=True)):
            near = self._near(shape)
            if near.size == 0:
                continue
            shapely.prepare(projected)
            inside = shapely.contains_properly(projected, self._projected[near])
            fraction[t, near[inside]] = 1.0
            edge = near[~inside]
            same = self._unchanged(shapes[t - 1], shape)[edge] if t else np.zeros(len(edge), dtype=bool)
            fraction[t, edge[same]] = fraction[t - 1, edge[same]]
            todo = edge[~same]
            fraction[t, todo] = shapely.area(self._pieces(projected, todo, self._projected)) / areas[todo]
            expected = fraction[t - 1] @ areas + total[t] - total[t - 1] if t else 0.0
            if same.any() and not np.isclose(fraction[t] @ areas, expected, rtol=1e-7):
                fraction[t, edge] = shapely.area(self._pieces(projected, edge, self._projected)) / areas[edge]
        fraction = np.clip(fraction, 0.0, 1.0)
        return fraction[0] if single else fraction

    def lengths_km(self, geometries: shapely.Geometry | Sequence[shapely.Geometry]) -> np.ndarray:
        """The geodesic length in km of lines (degrees; a polygon counts its boundary) inside each region:
        ``float64 [R]`` for one geometry, ``[n, R]`` for a sequence. In a series, a region is measured again
        only where the lines changed since the previous geometry (the rest is the same piece of line)."""
        shapes, single = _as_array(geometries)
        lines = np.array([s.boundary if s is not None and shapely.get_dimensions(s) == 2 else s for s in shapes],
                         dtype=object)
        length = np.zeros((len(lines), len(self)))
        same = np.zeros((len(lines), len(self)), dtype=bool)
        pieces, owner = [], []
        for t, line in enumerate(lines):
            near = self._near(line)
            if t:
                same[t, near] = self._unchanged(lines[t - 1], line)[near]
            todo = near[~same[t, near]]
            if todo.size:
                pieces.append(self._pieces(line, todo, self.polygons))
                owner.append(t * len(self) + todo)
        if pieces:
            length.flat[np.concatenate(owner)] = length_km(np.concatenate(pieces))
        for t in np.flatnonzero(same.any(axis=1)):
            length[t, same[t]] = length[t - 1, same[t]]
        return length[0] if single else length

    def _near(self, shape: shapely.Geometry | None) -> np.ndarray:
        """The regions ``shape`` meets (none for None or an empty geometry)."""
        if shape is None or shape.is_empty:
            return np.zeros(0, dtype=np.int64)
        return self._tree.query(shape, predicate="intersects")

    def _unchanged(self, previous: shapely.Geometry | None, current: shapely.Geometry | None) -> np.ndarray:
        """``bool [R]``: the regions that meet no segment of one geometry's lines (or rings) absent from the
        other's, so the lines inside them are the same. Segments are compared exactly."""
        if previous is None or current is None:
            return np.zeros(len(self), dtype=bool)
        old, new = _segments(previous), _segments(current)
        changed = np.concatenate([old[~_rows_in(old, new)], new[~_rows_in(new, old)]])
        unchanged = np.ones(len(self), dtype=bool)
        if len(changed):
            lines = shapely.linestrings(changed.reshape(-1, 2), indices=np.repeat(np.arange(len(changed)), 2))
            unchanged[self._tree.query(lines, predicate="intersects")[1]] = False
        return unchanged

    def _pieces(self, shape: shapely.Geometry, regions: np.ndarray, polygons: np.ndarray) -> np.ndarray:
        """``shape ∩ polygons[r]`` for each ``r`` in ``regions`` (closed regions: a line along an edge is in
        both). ``shape`` is first clipped to each region's bounding box (fast, linear in the vertices; a line on a
        box edge is kept by a margin of 1e-6 of the box), so the exact overlay works on a small piece. A grid cell is
        its box (in degrees and in the cylindrical equal-area plane alike), so for a grid the clip is the result
        (the margin adds at most 1e-6 of a cell to a line crossing its edge)."""
        boxes = shapely.bounds(polygons[regions])
        areal = shapely.get_dimensions(shape) == 2
        if not areal:
            margin = 1e-6 * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
            boxes = boxes + margin * np.array([-1, -1, 1, 1])
        clipped = np.array([shapely.clip_by_rect(shape, *box) for box in boxes], dtype=object)
        if self.grid is not None:
            return clipped
        try:
            return shapely.intersection(shapely.make_valid(clipped) if areal else clipped, polygons[regions])
        except shapely.errors.GEOSException:  # a clipped piece GEOS cannot overlay: use the whole shape
            return shapely.intersection(shape, polygons[regions])


def _segments(geometry: shapely.Geometry) -> np.ndarray:
    """``[m, 4]``: the segments ``(x0, y0, x1, y1)`` of a geometry's lines, or of a polygon's rings."""
    lines = geometry.boundary if shapely.get_dimensions(geometry) == 2 else geometry
    xy, part = shapely.get_coordinates(simple_parts(np.array([lines], dtype=object))[0], return_index=True)
    joined = part[1:] == part[:-1]
    return np.column_stack([xy[:-1][joined], xy[1:][joined]])


def _rows_in(rows: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``bool [len(rows)]``: which rows of ``rows`` are rows of ``other`` (exactly; a hash finds the candidate)."""
    if len(other) == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    keys = row_keys(other)
    order = np.argsort(keys)
    at = np.minimum(np.searchsorted(keys[order], row_keys(rows)), len(other) - 1)
    return (other[order[at]] == rows).all(axis=1)


def _as_array(geometries: shapely.Geometry | Sequence[shapely.Geometry] | None) -> tuple[np.ndarray, bool]:
    """``geometries`` as a 1-d object array, and whether a single geometry was given."""
    single = geometries is None or isinstance(geometries, shapely.Geometry)
    return np.array([geometries] if single else list(geometries), dtype=object), single


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
