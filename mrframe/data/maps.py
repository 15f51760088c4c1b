"""Maps of one value per region: the region centroids on longitude/latitude axes, coloured by the value.

Regions carry centroids, not geometry, so a map is a scatter of squares at the centroids (their area grows
with the region's area when the table has areas). Used for the observed fraction per region of ``mrframe data`` and for the
error per region of a spatial task's evaluation.
"""

from __future__ import annotations

import math
import pathlib

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402

from mrframe.regions import EARTH_RADIUS_KM, Regions  # noqa: E402

KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180.0


def plot_region_map(regions: Regions, values: np.ndarray, path: pathlib.Path, title: str, label: str,
                    ratio: bool = False, limits: tuple[float, float] | None = None) -> None:
    """Write a PNG map of ``values [R]`` (NaN: a grey cross) at the region centroids, one square per region
    as wide as the typical distance between neighbouring centroids (scaled by area when the table has areas).

    ``ratio = True`` colours on a log scale centred on 1 (blue below, red above: e.g. model error over a
    baseline's; ``+inf`` is drawn at the top of the scale); otherwise on a linear scale over ``limits`` (default:
    the smallest to the largest value)."""
    values = np.asarray(values, dtype=np.float64)
    known = (np.isfinite(values) | (values == np.inf)) & (values > 0) if ratio else np.isfinite(values)
    spacing = _spacing_degrees(regions)
    stretch = 1 / max(math.cos(math.radians(float(np.mean(regions.lat)))), 0.1)  # degrees of longitude per km
    lon_range = float(np.ptp(regions.lon)) + spacing * stretch
    lat_range = float(np.ptp(regions.lat)) + spacing
    width = 9.0
    height = float(np.clip(width * 0.85 * lat_range / (lon_range / stretch), 2.5, 11.0)) + 1.0
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_aspect(stretch)
    ax.set_xlim(regions.lon.min() - spacing * stretch, regions.lon.max() + spacing * stretch)
    ax.set_ylim(regions.lat.min() - spacing, regions.lat.max() + spacing)
    if ratio:
        finite = known & np.isfinite(values)
        extreme = float(np.max(np.abs(np.log(values[finite])))) if finite.any() else 1.0
        bound = math.exp(max(extreme, 0.05))
        values = np.clip(values, 1 / bound, bound)
        norm, cmap = LogNorm(1 / bound, bound), "RdBu_r"
    else:
        low, high = limits or ((float(values[known].min()), float(values[known].max())) if known.any() else (0.0, 1.0))
        norm, cmap = Normalize(low, high if high > low else low + 1e-9), "viridis"
    points = ax.scatter(regions.lon[known], regions.lat[known], c=values[known], cmap=cmap, norm=norm, marker="s",
                        edgecolors="none")
    missing = ax.scatter(regions.lon[~known], regions.lat[~known], c="#9e9e9e", marker="x", linewidths=0.8,
                         label="no value") if (~known).any() else None
    fig.colorbar(points, ax=ax, label=label, shrink=0.85)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    fig.canvas.draw()  # the axes' final size: one square per region spans `spacing` degrees of latitude
    y0, y1 = ax.transData.transform([(0.0, 0.0), (0.0, spacing)])[:, 1]
    side = abs(y1 - y0) * 72.0 / fig.dpi * 0.92
    scale = _area_scale(regions)
    points.set_sizes((side**2) * scale[known])
    if missing is not None:
        missing.set_sizes((side**2) * 0.4 * scale[~known])
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _spacing_degrees(regions: Regions) -> float:
    """The median distance from a region's centroid to its nearest neighbour's, in degrees of latitude."""
    if len(regions) < 2:
        return 0.5
    return float(np.median(regions.nearest_distance_km())) / KM_PER_DEGREE


def _area_scale(regions: Regions) -> np.ndarray:
    """Marker area factors: 1, or each region's area over the median area (within 0.2 .. 4)."""
    areas = regions.area_km2
    if areas is None or not np.isfinite(areas).all() or not (areas > 0).any():
        return np.ones(len(regions))
    return np.clip(areas / np.median(areas[areas > 0]), 0.2, 4.0)
