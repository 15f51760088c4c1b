"""Regions from a grid or GeoJSON polygons (mrframe.geo): ids, areas, point location, overlaps, bad files."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

shapely = pytest.importorskip("shapely", reason="mrframe.geo needs the extra mrframe[geo]")
pyproj = pytest.importorskip("pyproj", reason="mrframe.geo needs the extra mrframe[geo]")

from mrframe.config import structure  # noqa: E402
from mrframe.errors import DataError, SpecError  # noqa: E402
from mrframe.geo import (  # noqa: E402
    RegionsConfig,
    area_km2,
    buffer_km,
    build_regions,
    geojson_regions,
    grid_regions,
    length_km,
)

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_area_km2(polygon) -> float:
    """pyproj's geodesic area of ``polygon`` with its edges densified, so they follow the lines the
    equal-area computation takes as straight in longitude/latitude (holes turned against the shell, as pyproj
    needs)."""
    oriented = shapely.geometry.polygon.orient(polygon) if polygon.geom_type == "Polygon" else polygon
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(oriented, 0.005))[0]) / 1e6


def write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def feature(coordinates, kind="Polygon", **properties):
    return {"type": "Feature", "properties": properties, "geometry": {"type": kind, "coordinates": coordinates}}


def square(west, south, size=1.0):
    return [[[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]]


# ----------------------------------------------------------------------------------------------------- grid


def test_grid_cells_are_prio_grid_cells_in_id_order():
    shapes = grid_regions(0.5, (22.2, 44.1, 23.0, 44.5))  # snapped outward to whole cells; 23.0 is an edge
    regions = shapes.regions
    # gid = row * 720 + col + 1, row 0 at 90S, col 0 at 180W: the cell 44.0-44.5N, 22.0-22.5E is row 268, col 404
    assert regions.ids == ("193365", "193366")
    assert regions.names == ("44.25N 22.25E", "44.25N 22.75E")
    assert regions.lat.tolist() == [44.25, 44.25] and regions.lon.tolist() == [22.25, 22.75]
    assert len(grid_regions(0.5, (22, 44, 41, 53))) == 38 * 18


def test_grid_cell_areas_agree_with_pyproj_geodesic_areas():
    shapes = grid_regions(0.5, (30, 44, 31, 53))
    expected = [geodesic_area_km2(p) for p in shapes.polygons]
    assert shapes.regions.area_km2 == pytest.approx(expected, rel=1e-5)
    assert shapes.regions.area_km2[0] == pytest.approx(2218.7, abs=0.1)  # 0.5 degree at 44.25N


def test_grid_locates_points_in_half_open_cells_and_outside():
    shapes = grid_regions(0.5, (22, 44, 23, 45))  # 2 x 2 cells, row-major from the south-west
    lon = np.array([22.0, 22.49, 22.5, 22.7, 23.0, 21.99, 22.1])
    lat = np.array([44.0, 44.2, 44.0, 44.9, 44.0, 44.0, 45.0])
    assert shapes.locate(lon, lat).tolist() == [0, 0, 1, 3, -1, -1, -1]


def test_cover_and_lengths_on_a_grid():
    shapes = grid_regions(1.0, (30, 48, 32, 49))
    half = shapely.box(30.0, 48.0, 30.5, 49.0)  # the western half of the first cell: half its area (cylindrical)
    assert shapes.cover(half).tolist() == pytest.approx([0.5, 0.0])
    whole = shapely.box(29.0, 47.0, 31.5, 50.0)
    assert shapes.cover(whole).tolist() == pytest.approx([1.0, 0.5])
    line = shapely.LineString([(30.5, 48.5), (31.5, 48.5)])  # half in each cell
    lengths = shapes.lengths_km(line)
    assert lengths == pytest.approx([length_km(line)[0] / 2] * 2, rel=1e-4)
    inner = shapely.box(30.2, 48.2, 31.6, 48.9)
    assert shapes.lengths_km(inner).sum() == pytest.approx(length_km(inner)[0], rel=1e-5)  # a polygon: its boundary


# ----------------------------------------------------------------------------------------------- GeoJSON


@pytest.fixture
def districts(tmp_path):
    return write_geojson(tmp_path / "districts.geojson", [
        feature(square(30, 48), code="A1", label="Alpha"),
        feature([square(31, 48), square(33, 48)], "MultiPolygon", code="B2", label="Beta"),
        feature(square(30, 49), code=7, label="Gamma"),
    ])


def test_geojson_regions_take_ids_names_centroids_and_areas(districts):
    shapes = geojson_regions(districts, "code", "label")
    regions = shapes.regions
    assert regions.ids == ("A1", "B2", "7") and regions.names == ("Alpha", "Beta", "Gamma")
    assert regions.lon.tolist() == pytest.approx([30.5, 32.5, 30.5]) and regions.lat[2] == pytest.approx(49.5)
    expected = [geodesic_area_km2(p) for p in shapes.polygons]
    assert regions.area_km2 == pytest.approx(expected, rel=1e-5)
    assert build_regions(RegionsConfig(geojson=districts, id="code")).regions.names == ("A1", "B2", "7")


def test_geojson_regions_locate_points_shared_edges_go_to_the_first(districts):
    shapes = geojson_regions(districts, "code")
    lon = np.array([30.5, 33.5, 31.0, 32.5, 30.5, 30.0])
    lat = np.array([48.5, 48.5, 48.5, 48.5, 49.0, 48.0])
    # (31, 48.5) is on the edge of A1 and B2; (30.5, 49) on A1 and 7; (32.5, 48.5) between B2's two squares
    assert shapes.locate(lon, lat).tolist() == [0, 1, 0, -1, 0, 0]


def test_geojson_cover_and_lengths(districts):
    shapes = geojson_regions(districts, "code")
    occupied = shapely.box(30.5, 48.0, 33.5, 49.0)
    assert shapes.cover(occupied).tolist() == pytest.approx([0.5, 0.75, 0.0], abs=1e-3)
    front = shapely.LineString([(30.5, 48.5), (33.5, 48.5)])
    lengths = shapes.lengths_km(front)
    assert lengths[0] == pytest.approx(length_km(front)[0] / 6, rel=1e-3) and lengths[2] == 0
    assert lengths[1] == pytest.approx(3 * lengths[0], rel=1e-3)  # 31-32 and 33-33.5 against 30.5-31


def test_feature_id_member_is_the_id_when_the_property_is_absent(tmp_path):
    item = feature(square(30, 48))
    item["id"] = "x"
    path = write_geojson(tmp_path / "one.geojson", [item])
    assert geojson_regions(path).regions.ids == ("x",)


@pytest.mark.parametrize(("features", "message"), [
    ([feature(square(30, 48), kode="A")], r"feature 1: no region id in property 'code' \(did you mean 'kode'\?\)"),
    ([feature(square(30, 48), code="A"), feature(square(31, 48), code="A")],
     "region id 'A' .* appears in feature 1 and feature 2"),
    ([feature([[[30, 48], [31, 49], [31, 48], [30, 49], [30, 48]]], code="A")], r"feature 1: invalid geometry \(Self-"),
    ([feature([[30, 48], [31, 49]], "LineString", code="A")], "has a LineString geometry; expected Polygon or"),
    ([feature(square(3.3e6, 5.5e6, 1000.0), code="A")], "not longitude/latitude in degrees.*EPSG:4326"),
    ([feature([[[30, 48], [31]]], code="A")], "feature 1: unreadable Polygon coordinates"),
    ([], "holds no feature"),
])
def test_bad_region_files_are_errors_that_name_the_feature(tmp_path, features, message):
    path = write_geojson(tmp_path / "bad.geojson", features)
    with pytest.raises(DataError, match=message):
        geojson_regions(path, "code")


def test_unreadable_region_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        geojson_regions(tmp_path / "absent.geojson")
    (tmp_path / "broken.geojson").write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(DataError, match="not valid JSON"):
        geojson_regions(tmp_path / "broken.geojson")
    (tmp_path / "list.geojson").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a GeoJSON FeatureCollection .* got a JSON list"):
        geojson_regions(tmp_path / "list.geojson")


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(("table", "message"), [  # geojson: any existing file (it must exist)
    ({"grid": 0.5}, "regions.bbox: a grid needs bbox"),
    ({"grid": 0.5, "bbox": [22, 44, 41, 53], "geojson": __file__}, "set either grid .* or geojson, not both"),
    ({}, "set either grid"),
    ({"geojson": __file__, "bbox": [22, 44, 41, 53]}, "regions.bbox: applies to grid regions only"),
    ({"grid": 0.5, "bbox": [22, 44, 41, 53], "id": "code"}, "regions.id: applies to geojson regions only"),
    ({"grid": 0.7, "bbox": [22, 44, 41, 53]}, "regions.grid: must divide 180 degrees"),
    ({"grid": 0.01, "bbox": [-180, -90, 180, 90]}, "regions.grid: makes 648,000,000 cells"),
    ({"grid": 0.5, "bbox": [41, 44, 22, 53]}, "regions.bbox: expected .west, south, east, north. with west < east"),
    ({"grid": 0.5, "bbox": [22, 44, 41, 53], "cell": 1}, "regions.cell: unknown key"),
])
def test_regions_config_problems_name_the_key(table, message):
    with pytest.raises(SpecError, match=message):
        structure(RegionsConfig, table, "regions")


def test_build_regions_refuses_a_config_with_problems():
    with pytest.raises(ValueError, match="regions.bbox: a grid needs bbox"):
        build_regions(RegionsConfig(grid=0.5))


# --------------------------------------------------------------------------------------------- measures


def test_area_and_length_agree_with_pyproj_geodesics():
    polygon = shapely.Polygon([(22, 44), (41, 45), (38, 53), (24, 51)], holes=[[(30, 48), (31, 48), (31, 49)]])
    assert area_km2(polygon)[0] == pytest.approx(geodesic_area_km2(polygon), rel=1e-5)
    ring = shapely.segmentize(polygon, 0.005)
    assert length_km(ring)[0] == pytest.approx(GEOD.geometry_length(ring.boundary) / 1000, rel=1e-9)  # every ring
    meridian = shapely.LineString([(30, 0), (30, 1)])
    assert length_km([meridian, shapely.Point(1, 1)]).tolist() == pytest.approx([110.574, 0.0], abs=1e-3)


def test_buffer_km_is_a_distance_in_km():
    point = shapely.Point(35.0, 48.0)
    zone = buffer_km(point, 10.0)
    edge = shapely.get_coordinates(zone.exterior)
    distances = GEOD.inv(np.full(len(edge), 35.0), np.full(len(edge), 48.0), edge[:, 0], edge[:, 1])[2] / 1000
    assert distances == pytest.approx(10.0, rel=1e-3)


def test_missing_extra_gives_the_install_command(monkeypatch):
    import mrframe.geo

    for name in [m for m in sys.modules if m.startswith("mrframe.geo.") and m != "mrframe.geo.config"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "shapely", None)
    with pytest.raises(ImportError, match=r"pip install 'mrframe\[geo\]'"):
        mrframe.geo.build_regions  # noqa: B018


def test_a_series_is_measured_as_each_geometry_alone(districts):
    base = shapely.Polygon([(30.1, 46.1), (33.7, 46.3), (33.2, 49.6), (30.4, 48.9)])
    moved = shapely.Polygon([(30.1, 46.1), (33.7, 46.3), (33.2, 49.6), (31.0, 49.2), (30.4, 48.9)])  # one corner
    ring = shapely.box(30.3, 46.6, 31.8, 47.9)
    inside_out = shapely.box(29.6, 45.6, 34.1, 50.1).difference(ring)  # the ring's cells turn inside out
    days = [base, moved, moved, None, moved, ring, inside_out, ring]
    for shapes in (grid_regions(0.5, (29, 45, 35, 51)), geojson_regions(districts, "code")):
        alone = np.array([shapes.cover(g) for g in days])
        assert shapes.cover(days) == pytest.approx(alone, abs=1e-9)
        lengths = np.array([shapes.lengths_km(g) for g in days])
        assert shapes.lengths_km(days) == pytest.approx(lengths, rel=1e-9, abs=1e-9)
    assert grid_regions(0.5, (29, 45, 35, 51)).cover(days)[5:7].max(axis=1).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("inside", "depth", "place"), [
    (False, 100_000, ""),  # past what json reads
    (True, 100_000, ""),
    (True, 900, ", feature 1"),  # json reads it, the geometry reader (shapely) recurses past the limit
])
def test_a_deeply_nested_region_file_is_a_one_line_error_naming_it(tmp_path, inside, depth, place):
    nested = "[" * depth + "]" * depth
    text = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "A"}, '
            f'"geometry": {{"type": "Polygon", "coordinates": {nested}}}}}]}}') if inside else nested
    path = tmp_path / "deep.geojson"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"deep\.geojson{place}: nested too deeply .*expected a GeoJSON Feature"):
        geojson_regions(path, "code")
