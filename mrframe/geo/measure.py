"""Areas and lengths on the WGS 84 ellipsoid, for shapely geometries in longitude/latitude degrees (pyproj).

* **Areas** are planar areas after projecting to the global equal-area projection EPSG:6933 (WGS 84 /
  EASE-Grid 2.0, cylindrical equal-area on the ellipsoid): an equal-area projection preserves every area, so
  these are ellipsoidal areas, and intersections and area fractions are computed in the same plane. They agree
  with pyproj's geodesic polygon areas (``Geod.geometry_area_perimeter``) to about 1e-5 for polygons the size
  of a country drawn with short edges (the difference is whether an edge is straight in longitude/latitude,
  as GeoJSON means it, or a geodesic).
  The projection is cylindrical, so a longitude/latitude box stays a box in it.
* **Lengths** are sums of geodesic distances between consecutive vertices (``Geod.inv``, Karney's algorithm).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyproj
import shapely

__all__ = ["GEOD", "area_km2", "buffer_km", "equal_area", "length_km", "row_keys", "simple_parts"]

GEOD = pyproj.Geod(ellps="WGS84")
"""The WGS 84 ellipsoid for geodesic distances."""

MAX_EDGE_DEGREES = 0.05
"""Longer edges get vertices before projecting (an edge straight in degrees is curved in the projection)."""

_COMPOUND = (shapely.GeometryType.MULTIPOINT, shapely.GeometryType.MULTILINESTRING, shapely.GeometryType.MULTIPOLYGON,
             shapely.GeometryType.GEOMETRYCOLLECTION)


@functools.cache
def _to_equal_area() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)


def equal_area(geometries: np.ndarray | shapely.Geometry) -> np.ndarray | shapely.Geometry:
    """``geometries`` (longitude/latitude degrees) projected to EPSG:6933 (metres, equal-area). Edges longer than
    :data:`MAX_EDGE_DEGREES` get vertices first, so they stay the lines that are straight in degrees."""
    transformer = _to_equal_area()
    dense = shapely.segmentize(geometries, MAX_EDGE_DEGREES)
    return shapely.transform(dense, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def area_km2(geometries: np.ndarray | shapely.Geometry) -> np.ndarray:
    """``float64 [n]``: the area of each (multi)polygon in km² (0 for lines and points)."""
    geometries = np.atleast_1d(np.asarray(geometries, dtype=object))
    return shapely.area(equal_area(geometries)) / 1e6


def length_km(geometries: np.ndarray | shapely.Geometry) -> np.ndarray:
    """``float64 [n]``: the geodesic length of each geometry in km: the length of its lines, or of a (multi)polygon's boundary
    (every ring); points count 0. Works on whole arrays at once (one ``Geod.inv`` call)."""
    geometries = np.atleast_1d(np.asarray(geometries, dtype=object))
    lines, owner = simple_parts(geometries)
    polygon = shapely.get_type_id(lines) == shapely.GeometryType.POLYGON
    if polygon.any():
        lines = lines.copy()
        lines[polygon] = shapely.boundary(lines[polygon])
        lines, sub = simple_parts(lines)
        owner = owner[sub]
    xy, line = shapely.get_coordinates(lines, return_index=True)
    joined = line[1:] == line[:-1]  # consecutive vertices of one line
    segments = np.column_stack([xy[:-1][joined], xy[1:][joined]])
    inverse, first = _unique_rows(segments)  # a daily series repeats most segments: measure each once
    unique = segments[first]
    distance = GEOD.inv(unique[:, 0], unique[:, 1], unique[:, 2], unique[:, 3])[2][inverse] if len(first) else 0.0
    per_line = np.bincount(line[1:][joined], weights=np.broadcast_to(distance, len(segments)), minlength=len(lines))
    return np.bincount(owner, weights=per_line, minlength=len(geometries)) / 1000.0


def row_keys(rows: np.ndarray) -> np.ndarray:
    """``uint64 [n]``: a hash of each row's bits (equal rows, equal keys; a collision is possible, so callers
    check rows with equal keys exactly)."""
    bits = np.ascontiguousarray(rows, dtype=np.float64).view(np.uint64).reshape(len(rows), -1)
    key = np.zeros(len(rows), dtype=np.uint64)
    for column in range(bits.shape[1]):
        key = (key ^ bits[:, column]) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(column + 1)
    return key


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inverse, first)`` for the distinct rows of a float array: ``rows[first][inverse] == rows``, found by
    :func:`row_keys` and checked exactly (``numpy.unique``, much slower, is the fallback for a collision)."""
    inverse, keys = pd.factorize(row_keys(rows))
    first = np.empty(len(keys), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(rows))[::-1]
    if not np.array_equal(rows[first][inverse], rows):  # a hash collision
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


def simple_parts(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points, lines and polygons inside ``geometries`` (multi-geometries and collections opened, however
    nested), each with the index of the geometry it came from."""
    parts, owner = geometries, np.arange(len(geometries))
    while np.isin(shapely.get_type_id(parts), _COMPOUND).any():
        parts, sub = shapely.get_parts(parts, return_index=True)
        owner = owner[sub]
    return parts, owner


def buffer_km(geometry: shapely.Geometry, distance_km: float) -> shapely.Geometry:
    """The points within ``distance_km`` of ``geometry`` (degrees in, degrees out), buffered in an azimuthal
    equidistant projection centred on the geometry (distances from its centre are exact; a few hundred km away
    they are within about 1%)."""
    centre = shapely.centroid(geometry)
    local = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m")
    there = pyproj.Transformer.from_crs("EPSG:4326", local, always_xy=True)
    back = pyproj.Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    projected = shapely.transform(geometry, lambda xy: np.column_stack(there.transform(xy[:, 0], xy[:, 1])))
    zone = shapely.buffer(projected, distance_km * 1000.0)
    return shapely.transform(zone, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
