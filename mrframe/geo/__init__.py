"""Geometry for spatial sources: regions from a grid or GeoJSON polygons, and geodesic areas and lengths.

Needs the optional extra ``mrframe[geo]`` (shapely, pyproj), except :class:`RegionsConfig`, the spec table of a
spatial source's regions, which imports without it. The rest is imported on first use:

==========================  =====================================================================
name                        what it is
==========================  =====================================================================
``RegionsConfig``           ``regions = { grid = 0.5, bbox = [...] }`` or ``{ geojson = "...", id = "..." }``
``build_regions(config)``   -> :class:`RegionShapes` (the :class:`~mrframe.regions.Regions` table + polygons)
``grid_regions``            the cells of a regular latitude/longitude grid (PRIO-GRID ids for 0.5°)
``geojson_regions``         one region per polygon feature of a GeoJSON file
``RegionShapes``            ``.locate(lon, lat)``, ``.cover(polygon)``, ``.lengths_km(lines)``
``read_polygons``           the (Multi)Polygon features of a GeoJSON file, checked
``area_km2``, ``length_km``  ellipsoidal areas and geodesic lengths (pyproj)
``buffer_km``               the points within a distance in km of a geometry
==========================  =====================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

from mrframe.geo.config import RegionsConfig

__all__ = ["RegionsConfig", "RegionShapes", "build_regions", "grid_regions", "geojson_regions", "read_polygons",
           "Feature", "area_km2", "buffer_km", "length_km"]

_MODULES = {
    "RegionShapes": "shapes", "build_regions": "shapes", "grid_regions": "shapes", "geojson_regions": "shapes",
    "read_polygons": "geojson", "Feature": "geojson", "area_km2": "measure", "buffer_km": "measure", "length_km": "measure",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'mrframe.geo' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(f"mrframe.geo.{module}"), name)
    except ModuleNotFoundError as error:
        if error.name not in ("shapely", "pyproj"):
            raise
        raise ImportError(f"mrframe.geo.{name} needs {error.name}: install the extra with "
                          "pip install 'mrframe[geo]'") from error
