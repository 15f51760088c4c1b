"""How a spatial source names its regions in the spec: one table shape shared by every spatial source.

::

    regions = { grid = 0.5, bbox = [22, 44, 41, 53] }                 # a regular latitude/longitude grid
    regions = { geojson = "raions.geojson", id = "code", name = "name" }  # one region per polygon feature

This module needs no geometry library, so specs validate (and the reference documents the table) without the
``mrframe[geo]`` extra; :func:`mrframe.geo.build_regions` turns the config into regions.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterator

import attrs

from mrframe.config import field

__all__ = ["MAX_CELLS", "GridCells", "RegionsConfig", "check_bbox", "check_cell", "grid_cells"]

MAX_CELLS = 100_000
"""The most cells a grid may have (a guard against a cell size or bbox typed wrong)."""


def check_bbox(box: tuple[float, float, float, float]) -> str | None:
    """A problem with a ``[west, south, east, north]`` box in degrees, or None."""
    west, south, east, north = box
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        return f"expected [west, south, east, north] with west < east and south < north in degrees, got {list(box)}"
    return None


def check_cell(cell: float) -> str | None:
    """A problem with a grid cell size in degrees, or None: it must divide 180 (0.25, 0.5, 1, 2.5, ...)."""
    if not 0 < cell <= 90:
        return f"must be a cell size in degrees in (0, 90], got {cell}"
    cells = 180 / cell
    if abs(cells - round(cells)) > 1e-9 * cells:
        return f"must divide 180 degrees into whole cells (0.25, 0.5, 1, 2.5, ...), got {cell}"
    return None


@attrs.frozen
class GridCells:
    """The cells of the global grid of ``cell`` degrees that meet a bbox: columns ``col0 .. col0 + cols - 1``
    (column 0 starts at 180°W) and rows ``row0 .. row0 + rows - 1`` (row 0 starts at 90°S)."""

    cell: float
    col0: int
    cols: int
    row0: int
    rows: int

    @property
    def size(self) -> int:
        return self.cols * self.rows


def grid_cells(cell: float, bbox: tuple[float, float, float, float]) -> GridCells:
    """The cells of size ``cell`` that meet ``bbox`` (a bbox edge on a cell edge does not take the next cell)."""
    west, south, east, north = bbox
    col0, col1 = math.floor((west + 180) / cell + 1e-9), math.ceil((east + 180) / cell - 1e-9)
    row0, row1 = math.floor((south + 90) / cell + 1e-9), math.ceil((north + 90) / cell - 1e-9)
    return GridCells(cell, col0, max(col1 - col0, 1), row0, max(row1 - row0, 1))


@attrs.frozen
class RegionsConfig:
    """The regions of a spatial source: a regular latitude/longitude grid (``grid`` and ``bbox``) or the polygons
    of a GeoJSON file (``geojson``, ``id``, ``name``). Grid cells are the cells of the global grid of that size
    anchored at 180°W, 90°S that meet ``bbox``, numbered like PRIO-GRID (``gid = row * 360 / grid + col + 1``,
    row 0 at 90°S, col 0 at 180°W; with ``grid = 0.5`` the ids are PRIO-GRID gids), in increasing id order."""

    grid: float | None = field(None, "cell size of a regular latitude/longitude grid in degrees (0.5 = PRIO-GRID)",
                               check=check_cell)
    bbox: tuple[float, float, float, float] | None = field(
        None, "[west, south, east, north] in degrees the grid covers (cells that meet it)", check=check_bbox)
    geojson: pathlib.Path | None = field(None, "a GeoJSON FeatureCollection of (Multi)Polygon features, one region each",
                                         exists=True)
    id: str = field("id", "the feature property holding each region's unique id (geojson)")
    name: str | None = field(None, "the feature property holding each region's name (geojson; default: the id)")

    def problems(self) -> Iterator[tuple[str, str]]:
        """Cross-key problems as ``(key, message)``; :func:`mrframe.geo.build_regions` raises the first."""
        if (self.grid is None) == (self.geojson is None):
            yield "", "set either grid (with bbox) or geojson, not both"
            return
        if self.grid is not None:
            if self.bbox is None:
                yield "bbox", "a grid needs bbox = [west, south, east, north] (degrees)"
            elif (cells := grid_cells(self.grid, self.bbox).size) > MAX_CELLS:
                yield "grid", f"makes {cells:,} cells (at most {MAX_CELLS:,}); use larger cells or a smaller bbox"
            for key, default in (("id", "id"), ("name", None)):
                if getattr(self, key) != default:
                    yield key, "applies to geojson regions only"
        elif self.bbox is not None:
            yield "bbox", "applies to grid regions only (a GeoJSON file's polygons are the regions)"
