"""The deepstate source on DeepState-format files written here (simulated front line; never the GPL originals)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import shapely
from mrframe_osint.deepstate import DeepStateConfig, DeepStateSource
from mrframe_osint.deepstate_writer import (
    FRONT_LATITUDES,
    ISLAND,
    MAINLAND,
    front_longitudes,
    write_border,
    write_deepstate,
)
from mrframe_osint.world import simulate
from pyproj import Geod

from mrframe.errors import DataError
from mrframe.geo import RegionsConfig

GEOD = Geod(ellps="WGS84")
START = dt.date(2024, 7, 8)


@pytest.fixture(scope="module")
def world():
    return simulate(1, START, 40)


@pytest.fixture(scope="module")
def files(world, tmp_path_factory):
    return write_deepstate(world, tmp_path_factory.mktemp("deepstate"), np.random.default_rng(0), missing=0.1, outages=2)


@pytest.fixture(scope="module")
def national(files):
    return DeepStateSource(DeepStateConfig(files)).load()


def load(path, **options):
    return DeepStateSource(DeepStateConfig(path, **options)).load()


def geodesic_area_km2(path) -> float:
    """pyproj's geodesic area of a file's MultiPolygon (an independent computation: geodesic edges)."""
    geometry = json.loads(path.read_text())["features"][0]["geometry"]
    return abs(GEOD.geometry_area_perimeter(shapely.geometry.shape(geometry))[0]) / 1e6


def test_national_features_and_missing_days(national, files, world):
    frame = national.frame
    written = sorted(files.iterdir())
    assert national.resolution == "daily" and national.regions is None and national.rejected == {}
    assert list(frame.columns) == ["occupied_km2", "occupied_change_km2", "boundary_km"]
    assert frame.index[0] == pd.Timestamp(START) and len(frame) == world.n  # the writer never drops the ends
    absent = frame["occupied_km2"].isna()
    assert absent.sum() == world.n - len(written) > 0  # a day without a file is missing, not filled
    assert frame[absent].isna().all().all()
    first = written[0]
    assert frame["occupied_km2"].iloc[0] == pytest.approx(geodesic_area_km2(first), rel=1e-4)
    change = frame["occupied_change_km2"]
    assert change.iloc[1:].to_numpy() == pytest.approx(np.diff(frame["occupied_km2"].to_numpy()), nan_ok=True)
    after_gap = np.flatnonzero(absent.to_numpy()[:-1] & ~absent.to_numpy()[1:]) + 1
    assert change.iloc[after_gap].isna().all()  # no change across a missing day
    front = front_longitudes(world)[0]
    shell = shapely.Polygon([(MAINLAND[2], MAINLAND[1]), (MAINLAND[2], MAINLAND[3]),
                             *zip(front[::-1], FRONT_LATITUDES[::-1], strict=True)])
    island = shapely.Polygon(ISLAND)
    expected = (GEOD.geometry_length(shell) + GEOD.geometry_length(island)) / 1000
    assert frame["boundary_km"].iloc[0] > expected  # plus the enclave's ring
    assert frame["boundary_km"].iloc[0] == pytest.approx(expected, rel=0.05)


def test_front_line_leaves_out_the_border_and_coast(files, world, tmp_path):
    border = write_border(tmp_path / "country.geojson")
    frame = load(files, border=border, border_tolerance_km=2.0).frame
    assert list(frame.columns) == ["occupied_km2", "occupied_change_km2", "front_line_km"]
    front = shapely.LineString(np.column_stack([front_longitudes(world)[0], FRONT_LATITUDES]))
    enclave = shapely.get_exterior_ring(shapely.polygons(np.array([[38.4, 48.9], [38.7, 48.9], [38.7, 49.1], [38.4, 49.1]])))
    expected = (GEOD.geometry_length(front) + GEOD.geometry_length(enclave)) / 1000
    # the front meets the north and south edges: 2 km at each end lie within the tolerance of the border
    assert frame["front_line_km"].iloc[0] == pytest.approx(expected - 4.0, abs=1.0)


def test_spatial_fractions_and_lengths_add_up_to_the_national_features(files, national, world):
    grid = load(files, regions=RegionsConfig(grid=1.0, bbox=(30, 44, 40, 52)))
    regions = grid.regions
    assert len(regions) == 80 and grid.frame.columns.names == ["region", "feature"]
    assert list(grid.frame.columns[:2]) == [(regions.ids[0], "occupied_fraction"), (regions.ids[0], "boundary_km")]
    fraction = grid.frame.xs("occupied_fraction", axis=1, level="feature")
    assert list(fraction.columns) == list(regions.ids)
    area = fraction.to_numpy() @ regions.area_km2
    observed = national.frame["occupied_km2"].notna().to_numpy()
    assert area[observed] == pytest.approx(national.frame["occupied_km2"].to_numpy()[observed], rel=1e-6)
    assert fraction[~observed].isna().all().all() and fraction[observed].notna().all().all()
    assert ((fraction.to_numpy()[observed] >= 0) & (fraction.to_numpy()[observed] <= 1)).all()
    lengths = grid.frame.xs("boundary_km", axis=1, level="feature").sum(axis=1, min_count=1)
    # regions are closed: the mainland's south edge (46N, from the front to 40E) lies on the edge between two
    # rows of cells and counts in both (the grid ends at 40E and 52N, so those edges count once)
    south_edge = GEOD.line_length([front_longitudes(world)[0][0], 40.0], [46.0, 46.0]) / 1000
    assert lengths.iloc[0] == pytest.approx(national.frame["boundary_km"].iloc[0] + south_edge, rel=1e-4)
    inside = load(files, regions=RegionsConfig(grid=0.75, bbox=(30, 44, 40.5, 52.5)))  # no edge on a cell edge
    once = inside.frame.xs("boundary_km", axis=1, level="feature").sum(axis=1, min_count=1).to_numpy()[observed]
    assert once == pytest.approx(national.frame["boundary_km"].to_numpy()[observed], rel=1e-4)


def test_spatial_with_geojson_regions(files, national, tmp_path):
    halves = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code},
         "geometry": {"type": "Polygon", "coordinates": [[[w, 44], [e, 44], [e, 52.5], [w, 52.5], [w, 44]]]}}
        for code, w, e in (("west", 29.5, 35.0), ("east", 35.0, 40.5))]}
    path = tmp_path / "halves.geojson"
    path.write_text(json.dumps(halves))
    spatial = load(files, regions=RegionsConfig(geojson=path, id="code"))
    assert spatial.regions.ids == ("west", "east")
    fraction = spatial.frame.xs("occupied_fraction", axis=1, level="feature").iloc[0]
    area = (fraction.to_numpy() * spatial.regions.area_km2).sum()
    assert area == pytest.approx(national.frame["occupied_km2"].iloc[0], rel=1e-6)
    assert 0 < fraction["west"] < fraction["east"] < 1


def write_day(folder, day, text):
    path = folder / f"deepstatemap_data_{day}.geojson"
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return path


def collection(geometry):
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": geometry}]}


GOOD = collection({"type": "Polygon", "coordinates": [[[36, 47], [38, 47], [38, 49], [36, 49], [36, 47]]]})
BOWTIE = collection({"type": "Polygon", "coordinates": [[[36, 47], [38, 49], [38, 47], [36, 49], [36, 47]]]})
POINT = collection({"type": "Point", "coordinates": [36, 47]})


@pytest.mark.parametrize(("text", "message"), [
    (BOWTIE, r"deepstatemap_data_20240710.geojson, feature 1: invalid geometry \(Self-intersection"),
    (POINT, "feature 1: has a Point geometry; expected Polygon or MultiPolygon"),
    ("{not json", "not valid JSON"),
    ({"type": "FeatureCollection", "features": []}, "the file holds no feature"),
    (collection({"type": "Polygon", "coordinates": [[[3.9e6, 5.9e6], [4e6, 5.9e6], [4e6, 6e6], [3.9e6, 5.9e6]]]}),
     "not longitude/latitude in degrees"),
])
def test_a_bad_file_is_an_error_or_a_counted_missing_day(tmp_path, text, message):
    write_day(tmp_path, "20240708", GOOD)
    write_day(tmp_path, "20240710", text)
    write_day(tmp_path, "20240711", GOOD)
    with pytest.raises(DataError, match=message):
        load(tmp_path)
    source = load(tmp_path, bad_files="missing")
    assert source.rejected == {"unreadable file (day missing)": 1}
    assert source.frame["occupied_km2"].isna().tolist() == [False, True, True, False]


def test_files_named_otherwise_are_counted_and_a_single_file_reads(tmp_path):
    write_day(tmp_path, "20240708", GOOD)
    (tmp_path / "deepstatemap_data_2024-07-09.geojson").write_text(json.dumps(GOOD))
    (tmp_path / "deepstatemap_data_20241340.geojson").write_text(json.dumps(GOOD))
    (tmp_path / "README.md").write_text("not data")
    source = load(tmp_path)
    assert len(source.frame) == 1
    assert source.rejected == {"file not named deepstatemap_data_YYYYMMDD.geojson (skipped)": 2}
    one = load(tmp_path / "deepstatemap_data_20240708.geojson").frame
    assert one["occupied_km2"].iloc[0] == pytest.approx(geodesic_area_km2(tmp_path / "deepstatemap_data_20240708.geojson"),
                                                        rel=1e-4)


def test_no_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no DeepState file"):
        load(tmp_path)
    with pytest.raises(DataError, match="file or folder not found"):
        load(tmp_path / "absent")


def test_validate_names_every_missing_input_path_of_the_file_sources(tmp_path, capsys):
    import pathlib

    from mrframe.cli import main

    example = pathlib.Path(__file__).resolve().parents[3] / "examples" / "spatial.toml"
    text = example.read_text().replace(
        "regions = { grid = 0.5, bbox = [31, 46, 37, 52] }   # the same table",
        'regions = { geojson = "data/districts.geojson" }   # the same table')
    spec = tmp_path / "spatial.toml"  # beside no data folder: every input path is missing
    spec.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(spec)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    for key, path in [("sources.fires_cells.path", "data/firms_viirs"), ("sources.front_cells.path", "data/deepstate"),
                      ("sources.front_cells.border", "data/border.geojson"),
                      ("sources.front_cells.regions.geojson", "data/districts.geojson")]:
        assert f"{key}: no such file or folder: \"{tmp_path / path}\"" in err, (key, err)
