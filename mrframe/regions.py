"""The regions of a spatial source: ids, names, centroids and optional areas (no geometry library needed).

A spatial source (see :class:`mrframe.interfaces.SourceFrame`) describes its values per (period, region,
feature); :class:`Regions` is its region table. Building regions from a grid or polygons lives elsewhere (it
needs shapely); this module only holds the table and the distances every spatial block uses.

Distances are great-circle distances on a sphere of radius :data:`EARTH_RADIUS_KM` (haversine):

    d = 2 R asin( sqrt( sin^2((phi2 - phi1) / 2) + cos phi1 cos phi2 sin^2((lambda2 - lambda1) / 2) ) )
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

__all__ = ["EARTH_RADIUS_KM", "Regions", "haversine_km"]

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), in km."""


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (broadcasting)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi, dlam = phi2 - phi1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _tuple_of_str(values: Sequence[object]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _float_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _optional_float_array(values: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    return None if values is None else _float_array(values)


@attrs.frozen(eq=False)
class Regions:
    """``R`` regions in a fixed order: the order of the region axis of every tensor built from them.

    ``ids`` are unique strings (a grid cell's id, a district's code); ``lat``/``lon`` are centroid coordinates
    in degrees (WGS 84); ``area_km2`` is optional (geodesic area of each region).
    """

    ids: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    names: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    lat: np.ndarray = attrs.field(converter=_float_array)
    lon: np.ndarray = attrs.field(converter=_float_array)
    area_km2: np.ndarray | None = attrs.field(default=None, converter=_optional_float_array)

    def __attrs_post_init__(self) -> None:
        n = len(self.ids)
        if n == 0:
            raise ValueError("a region table needs at least one region")
        sizes = {"names": len(self.names), "lat": len(self.lat), "lon": len(self.lon)}
        if self.area_km2 is not None:
            sizes["area_km2"] = len(self.area_km2)
        wrong = {k: v for k, v in sizes.items() if v != n}
        if wrong:
            raise ValueError(f"a region table of {n} ids has {', '.join(f'{v} {k}' for k, v in wrong.items())}")
        if len(set(self.ids)) != n:
            seen: set[str] = set()
            repeated = next(i for i in self.ids if i in seen or seen.add(i))
            raise ValueError(f"region id '{repeated}' appears more than once")
        if not (np.isfinite(self.lat).all() and np.isfinite(self.lon).all()):
            raise ValueError("region centroids must be finite")
        if (np.abs(self.lat) > 90).any() or (np.abs(self.lon) > 180).any():
            raise ValueError("region centroids must be latitude in [-90, 90] and longitude in [-180, 180] degrees")

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, region_id: str) -> int:
        """Position of ``region_id`` on the region axis."""
        try:
            return self.ids.index(region_id)
        except ValueError:
            raise KeyError(f"no region with id '{region_id}'") from None

    def distances_km(self) -> np.ndarray:
        """``[R, R]`` great-circle distances between the centroids, in km."""
        return haversine_km(self.lat[:, None], self.lon[:, None], self.lat[None, :], self.lon[None, :])

    def nearest_distance_km(self) -> np.ndarray:
        """``[R]`` great-circle distance from each centroid to the nearest other one, in km (inf for a single
        region), in ``O(R log R)``: the nearest by chord (a k-d tree over unit vectors; chords grow with arcs) is
        the nearest by arc, and the distance is then the haversine between the pair."""
        if len(self) < 2:
            return np.full(len(self), np.inf)
        from scipy.spatial import cKDTree  # scipy comes with scikit-learn, a base dependency

        phi, lam = np.radians(self.lat), np.radians(self.lon)
        unit = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
        _, pair = cKDTree(unit).query(unit, k=2)
        own = np.arange(len(self))
        other = np.where(pair[:, 0] == own, pair[:, 1], pair[:, 0])  # a twin at distance 0 may come first
        return haversine_km(self.lat, self.lon, self.lat[other], self.lon[other])

    def nearest(self, k: int) -> np.ndarray:
        """``[R, min(k, R)]`` indices of each region's ``k`` nearest regions (itself first), by centroid."""
        k = min(k, len(self))
        return np.argsort(self.distances_km(), axis=1, kind="stable")[:, :k]
