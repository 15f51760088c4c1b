"""Reading GeoJSON files of polygons (RFC 7946: longitude/latitude degrees, WGS 84) with errors that name the place.

A file is a ``FeatureCollection`` (or a single ``Feature``, or a bare ``Polygon`` / ``MultiPolygon`` geometry).
Every feature must carry a ``Polygon`` or ``MultiPolygon`` geometry that is valid (OGC rules, checked by GEOS:
closed rings, no self-intersection, holes inside their shell) and whose coordinates are degrees. Anything else
raises a :class:`~mrframe.errors.DataError` naming the file, the feature and what is wrong, never a silent skip.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import shapely
import shapely.geometry

from mrframe.errors import DataError

__all__ = ["Feature", "read_polygons"]

POLYGON_TYPES = ("Polygon", "MultiPolygon")


@attrs.frozen(eq=False)
class Feature:
    """One polygon feature of a GeoJSON file: ``geometry`` (shapely, longitude/latitude), its ``properties``,
    the feature's own ``id`` member if it has one, and ``place`` ("feature 3") for messages."""

    geometry: shapely.Polygon | shapely.MultiPolygon
    properties: Mapping[str, Any]
    id: Any
    place: str


def read_polygons(path: pathlib.Path, text: bytes | str | None = None) -> list[Feature]:
    """The polygon features of the GeoJSON file ``path`` (``text``: its content, when already read)."""
    path = pathlib.Path(path)
    if text is None:
        if not path.is_file():
            raise DataError(f"{path}: file not found; check the path (relative to the spec file)")
        text = path.read_bytes()
    try:
        document = json.loads(text)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; expected GeoJSON") from None
    except RecursionError:  # a broken or hostile file: arrays nested past Python's recursion limit
        raise DataError(f"{path}: nested too deeply to read (arrays within arrays past the recursion limit); "
                        "expected a GeoJSON FeatureCollection of Polygon or MultiPolygon features") from None
    except json.JSONDecodeError as error:
        if not error.doc.strip():
            raise DataError(f"{path}: the file is empty; expected a GeoJSON FeatureCollection") from None
        raise DataError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                        "expected a GeoJSON FeatureCollection") from None
    kind = document.get("type") if isinstance(document, dict) else None
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise DataError(f"{path}: a FeatureCollection needs a list of \"features\"")
    elif kind == "Feature":
        features = [document]
    elif kind in POLYGON_TYPES:
        features = [{"type": "Feature", "geometry": document, "properties": {}}]
    else:
        shown = f"a JSON {type(document).__name__}" if kind is None else f"type {kind!r}"
        raise DataError(f"{path}: expected a GeoJSON FeatureCollection of Polygon or MultiPolygon features, got {shown}")
    out = []
    for i, item in enumerate(features):
        try:
            out.append(_feature(path, item, f"feature {i + 1}"))
        except RecursionError:  # nesting json accepts but a recursive reader of it (shapely, repr) does not
            raise DataError(f"{path}, feature {i + 1}: nested too deeply to read; expected a GeoJSON "
                            "FeatureCollection of Polygon or MultiPolygon features") from None
    return out


def _feature(path: pathlib.Path, item: Any, place: str) -> Feature:
    where = f"{path}, {place}"
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise DataError(f"{where}: expected a GeoJSON Feature object, got {str(item)[:60]!r}")
    geometry = item.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in POLYGON_TYPES:
        shown = "no geometry" if geometry is None else f"a {kind} geometry" if kind else f"geometry {str(geometry)[:40]!r}"
        raise DataError(f"{where}: has {shown}; expected Polygon or MultiPolygon")
    try:
        shape = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError) as error:
        raise DataError(f"{where}: unreadable {kind} coordinates ({' '.join(str(error).split())}); expected "
                        "[[[longitude, latitude], ...], ...] rings") from None
    check_polygon(shape, where)
    properties = item.get("properties") or {}
    if not isinstance(properties, dict):
        raise DataError(f"{where}: \"properties\" must be a JSON object, got {str(properties)[:40]!r}")
    return Feature(shape, properties, item.get("id"), place)


def check_polygon(shape: shapely.Geometry, where: str) -> None:
    """Raise a :class:`DataError` at ``where`` unless ``shape`` is a non-empty, valid (multi)polygon in degrees."""
    if shape.is_empty:
        raise DataError(f"{where}: the geometry is empty; give each feature at least one polygon")
    xy = shapely.get_coordinates(shape)
    if not np.isfinite(xy).all():
        raise DataError(f"{where}: a coordinate is not a finite number")
    if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        x, y = xy[(np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)][0]
        raise DataError(f"{where}: coordinate ({x:g}, {y:g}) is not longitude/latitude in degrees; GeoJSON is WGS 84 "
                        "degrees (RFC 7946): reproject the file to EPSG:4326")
    if not shapely.is_valid(shape):
        raise DataError(f"{where}: invalid geometry ({shapely.is_valid_reason(shape)}); repair it (for example "
                        "shapely.make_valid, or 'Fix geometries' in QGIS)")
