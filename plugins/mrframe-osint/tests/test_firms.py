"""The FIRMS loader on small VIIRS and MODIS files in the formats FIRMS serves (archive .csv.gz, NRT .csv)."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
from mrframe_osint.firms import FEATURES, FirmsConfig, FirmsSource

from mrframe.errors import DataError
from mrframe.geo import RegionsConfig

VIIRS_ARCHIVE = """\
latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_ti5,frp,daynight,type
48.1,37.5,330.5,0.4,0.37,2023-01-01,1030,N,VIIRS,n,2,290.1,10.0,D,0
48.2,37.6,340.0,0.4,0.37,2023-01-01,2350,N,VIIRS,h,2,291.0,30.0,N,0
48.3,37.7,310.0,0.4,0.37,2023-01-03,1031,N,VIIRS,l,2,285.0,2.0,D,0
47.0,31.0,320.0,0.4,0.37,2023-01-04,1032,N,VIIRS,n,2,288.0,6.0,D,0
"""
# NRT repeats 2023-01-04 (the archive covers it) and adds 2023-01-05 and 2023-01-06
VIIRS_NRT = """\
latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,confidence,version,bright_ti5,frp,daynight
47.01,31.01,321.0,0.4,0.37,2023-01-04,1032,N,nominal,2.0NRT,288.5,6.5,D
48.5,37.0,350.0,0.4,0.37,2023-01-05,0110,N,high,2.0NRT,295.0,40.0,N
48.5,37.1,300.0,0.4,0.37,2023-01-06,1100,N,low,2.0NRT,280.0,1.0,D
"""
MODIS = """\
latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,bright_t31,frp,daynight,type
48.1,37.5,320.0,1.0,1.0,2023-01-01,850,Terra,MODIS,85,6.1,290.0,20.0,D,0
48.2,37.6,310.0,1.0,1.0,2023-01-03,1120,Aqua,MODIS,40,6.1,288.0,8.0,D,0
"""


def write(path, text):
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def load(path, **options):
    return FirmsSource(FirmsConfig(path=path, **options)).load()


@pytest.fixture
def viirs(tmp_path):
    folder = tmp_path / "firms"
    folder.mkdir()
    write(folder / "fire_archive_SV-C2_1.csv.gz", VIIRS_ARCHIVE)
    write(folder / "fire_nrt_SV-C2_2.csv", VIIRS_NRT)
    return folder


def test_viirs_daily_aggregates_and_observed_zero_days(viirs):
    source = load(viirs)
    frame = source.frame
    assert list(frame.columns) == list(FEATURES)
    assert list(frame.index.strftime("%m-%d")) == ["01-01", "01-02", "01-03", "01-04", "01-05", "01-06"]
    assert frame["detections"].tolist() == [2, 0, 1, 1, 1, 1]  # 01-02 is covered and has no fire: observed zero
    day1 = frame.loc["2023-01-01"]
    assert day1["high_confidence"] == 1 and day1["day_detections"] == 1 and day1["night_detections"] == 1
    assert day1["frp_sum"] == 40 and day1["frp_mean"] == 20 and day1["frp_max"] == 30
    assert day1["brightness_mean"] == pytest.approx(335.25) and day1["brightness_max"] == 340
    assert day1["brightness2_mean"] == pytest.approx(290.55)
    empty = frame.loc["2023-01-02"]
    assert empty["frp_sum"] == 0 and math.isnan(empty["frp_mean"]) and math.isnan(empty["frp_max"])
    assert frame.loc["2023-01-05", "high_confidence"] == 1  # "high" (NRT) and "h" (archive) are the same class
    assert frame.loc["2023-01-04", "frp_sum"] == 6.0  # the archive row, not the NRT one
    assert source.rejected == {"NRT detection on a day an archive file covers": 1}
    assert source.counts == ("detections", "high_confidence", "day_detections", "night_detections")


def test_days_outside_coverage_are_missing(viirs, tmp_path):
    write(viirs / "fire_archive_SV-C2_3.csv", VIIRS_ARCHIVE.replace("2023-01-0", "2023-01-1"))
    frame = load(viirs).frame
    assert frame.index[-1].strftime("%m-%d") == "01-14"
    assert frame.loc["2023-01-07":"2023-01-10"].isna().all().all()  # no file covers these days
    assert frame.loc["2023-01-12", "detections"] == 0  # inside the third file's coverage


def test_repeated_downloads_and_bbox_are_counted(viirs):
    write(viirs / "fire_archive_SV-C2_copy.csv", VIIRS_ARCHIVE)
    source = load(viirs, bbox=(33.0, 46.0, 40.0, 50.5))
    assert source.rejected == {
        "NRT detection on a day an archive file covers": 1,
        "repeated detection (overlapping files)": 4,
        "outside bbox": 1,
    }
    assert source.frame.loc["2023-01-04", "detections"] == 0  # its only detection lies outside the box


def test_explicit_coverage(viirs):
    import datetime as dt

    source = load(viirs, coverage=((dt.date(2022, 12, 30), dt.date(2023, 1, 5)),))
    frame = source.frame
    assert frame.index[0].strftime("%m-%d") == "12-30" and frame.loc["2022-12-30", "detections"] == 0
    assert frame.index[-1].strftime("%m-%d") == "01-05"
    assert source.rejected["detection outside coverage"] == 1


def test_modis_columns_and_numeric_confidence(tmp_path):
    path = write(tmp_path / "modis.csv", MODIS)
    frame = load(path).frame
    assert frame["detections"].tolist() == [1, 0, 1]
    assert frame["high_confidence"].tolist() == [1, 0, 0]
    assert frame.loc["2023-01-01", "brightness_mean"] == 320 and frame.loc["2023-01-01", "brightness2_mean"] == 290
    assert load(path, high_confidence=30.0).frame["high_confidence"].tolist() == [1, 0, 1]


def test_mixed_instruments(viirs):
    write(viirs / "modis.csv", MODIS)
    with pytest.raises(DataError, match='both VIIRS and MODIS files; set instrument = "VIIRS" or "MODIS"'):
        load(viirs)
    source = load(viirs, instrument="MODIS")
    assert source.frame["detections"].tolist() == [1, 0, 1]
    assert source.rejected == {"VIIRS file skipped (instrument = MODIS)": 2}


# ------------------------------------------------------------------------------------------- bad input


def test_bad_cells_name_file_line_and_column(tmp_path):
    cases = {
        "frp": VIIRS_ARCHIVE.replace(",10.0,D,0", ",ten,D,0"),
        "acq_date": VIIRS_ARCHIVE.replace("2023-01-03", "2023-13-03"),
        "confidence": VIIRS_ARCHIVE.replace(",VIIRS,h,", ",VIIRS,x,"),
        "daynight": VIIRS_ARCHIVE.replace(",30.0,N,0", ",30.0,Q,0"),
        "latitude": VIIRS_ARCHIVE.replace("48.3,", ","),
    }
    lines = {"frp": 2, "acq_date": 4, "confidence": 3, "daynight": 3, "latitude": 4}
    for column, text in cases.items():
        path = write(tmp_path / f"{column}.csv", text)
        with pytest.raises(DataError, match=rf"{column}\.csv, line {lines[column]}, column '{column}': .*bad_values"):
            load(path)
        source = load(path, bad_values="missing")
        assert source.rejected == {"unreadable row": 1}, column
        assert source.frame["detections"].sum() == 3


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="file or folder not found"):
        load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no FIRMS file"):
        load(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown file format; FIRMS files are .csv or .csv.gz"):
        load(write(tmp_path / "fires.json", "[]"))
    with pytest.raises(DataError, match="the file is empty"):
        load(write(tmp_path / "blank.csv", ""))
    with pytest.raises(DataError, match=r"not a FIRMS file: the header needs bright_ti4 .* it has date, tank"):
        load(write(tmp_path / "equipment.csv", "date,tank\n2022-02-25,3\n"))
    no_frp = VIIRS_ARCHIVE.replace(",frp,", ",power,")
    with pytest.raises(DataError, match=r"FIRMS VIIRS file without column\(s\) frp"):
        load(write(tmp_path / "nofrp.csv", no_frp))
    header_only = write(tmp_path / "header.csv", VIIRS_ARCHIVE.splitlines()[0] + "\n")
    with pytest.raises(DataError, match="no FIRMS detection in any file"):
        load(header_only)


def test_aggregates_match_a_plain_groupby(tmp_path):
    import pandas as pd
    from mrframe_osint.firms import FEATURES, daily_aggregates

    rng = np.random.default_rng(0)
    n, days = 5000, 40
    rows = pd.DataFrame({"frp": rng.gamma(1, 5, n), "b1": rng.uniform(300, 360, n), "b2": rng.uniform(280, 300, n),
                         "high": rng.random(n) < 0.2, "daytime": rng.random(n) < 0.5})
    day = rng.integers(0, days, n)
    day[day == 7] = 8  # day 7 has no detection
    out = pd.DataFrame(daily_aggregates(day, rows, days), columns=list(FEATURES))
    grouped = rows.groupby(day)
    assert np.allclose(out["frp_max"].dropna().to_numpy(), grouped["frp"].max().to_numpy())
    assert np.allclose(out["brightness_mean"].dropna().to_numpy(), grouped["b1"].mean().to_numpy())
    assert out.loc[7, "detections"] == 0 and math.isnan(out.loc[7, "frp_max"])


# ----------------------------------------------------------------------------------------------- per region


def test_per_region_aggregates_add_up_to_the_national_ones(viirs):
    national = load(viirs).frame
    source = load(viirs, regions=RegionsConfig(grid=0.5, bbox=(30, 46, 39, 49)))
    frame, regions = source.frame, source.regions
    assert frame.columns.names == ["region", "feature"] and len(frame.columns) == len(regions) * len(FEATURES)
    assert list(frame.columns[: len(FEATURES)]) == [(regions.ids[0], f) for f in FEATURES]  # region-major
    counts = frame.xs("detections", axis=1, level="feature")
    assert counts.sum(axis=1).tolist() == national["detections"].tolist()
    assert source.rejected == {"NRT detection on a day an archive file covers": 1}  # every detection is in a cell
    cell = regions.index("199156")  # 48.0-48.5N, 37.5-38.0E (row 276, col 435): 2023-01-01 has two detections
    day1 = frame.loc["2023-01-01", regions.ids[cell]]
    assert day1["detections"] == 2 and day1["frp_sum"] == 40 and day1["frp_max"] == 30 and day1["high_confidence"] == 1
    assert frame.loc["2023-01-02"].xs("detections", level="feature").eq(0).all()  # covered, no fire: observed zero
    assert np.isnan(frame.loc["2023-01-02", (regions.ids[cell], "frp_mean")])
    other = frame.loc["2023-01-01"].xs("detections", level="feature").drop(regions.ids[cell])
    assert other.sum() == 0


def test_detections_outside_every_region_are_counted(viirs, tmp_path):
    regions = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "east"},
        "geometry": {"type": "Polygon", "coordinates": [[[36, 47.5], [38, 47.5], [38, 49], [36, 49], [36, 47.5]]]}}]}
    path = tmp_path / "east.geojson"
    path.write_text(json.dumps(regions))
    source = load(viirs, regions=RegionsConfig(geojson=path))
    assert source.regions.ids == ("east",)
    assert source.frame[("east", "detections")].tolist() == [2, 0, 1, 0, 1, 1]  # 47.0N 31.0E is outside
    assert source.rejected == {"NRT detection on a day an archive file covers": 1, "outside every region": 1}
