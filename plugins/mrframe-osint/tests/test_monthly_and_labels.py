"""The sentinel (monthly CSV) and labels (class ids) loaders."""

from __future__ import annotations

import math

import pytest
from mrframe_osint.labels import LabelsConfig, LabelsSource
from mrframe_osint.sentinel import SentinelConfig, SentinelSource

from mrframe.errors import DataError

SENTINEL = """\
date,s2_scenes,s1_scenes,cloud_cover_mean,tile
2023-01-01,112,64,71.5,35UQR
2023-02-01,98,,64.0,35UQR
2023-04-01,120,60,40.2,35UQR
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def sentinel(path, **options):
    return SentinelSource(SentinelConfig(path=path, **options)).load()


def test_monthly_rows_columns_and_gaps(tmp_path):
    path = write(tmp_path, "s.csv", SENTINEL)
    source = sentinel(path, columns=("s2_scenes", "s1_scenes", "cloud_cover_mean"), counts=("s2_scenes", "s1_scenes"))
    frame = source.frame
    assert source.resolution == "monthly" and source.counts == ("s2_scenes", "s1_scenes")
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2023-01-01", "2023-02-01", "2023-03-01", "2023-04-01"]
    assert math.isnan(frame.loc["2023-02-01", "s1_scenes"])  # empty cell
    assert frame.loc["2023-03-01"].isna().all()  # no row for March: missing, not zero
    assert frame.loc["2023-04-01", "cloud_cover_mean"] == 40.2


def test_year_month_dates_and_other_date_column(tmp_path):
    path = write(tmp_path, "s.csv", "month,scenes\n2023-01,10\n2023-02,11\n")
    frame = sentinel(path, date_column="month").frame
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2023-01-01", "2023-02-01"]


def test_sentinel_bad_input(tmp_path):
    path = write(tmp_path, "s.csv", SENTINEL)
    with pytest.raises(DataError, match=r"s\.csv, line 2, column 'tile': '35UQR' is not a number.*list only numeric"):
        sentinel(path)
    with pytest.raises(DataError, match=r"no column 'cloud_cover_maen' \(did you mean 'cloud_cover_mean'\?\)"):
        sentinel(path, columns=("cloud_cover_maen",))
    with pytest.raises(DataError, match="counts names 'x', which is not in columns"):
        sentinel(path, columns=("s2_scenes",), counts=("x",))
    twice = write(tmp_path, "t.csv", "date,a\n2023-01-01,1\n2023-01-15,2\n")
    with pytest.raises(DataError, match="two rows fall in month 2023-01; keep one row per month"):
        sentinel(twice)
    with pytest.raises(DataError, match=r"no date column 'date'"):
        sentinel(write(tmp_path, "n.csv", "day,a\n2023-01-01,1\n"))
    with pytest.raises(DataError, match="unknown file format; expected a file ending in .csv, .csv.gz"):
        sentinel(write(tmp_path, "s.json", "[]"))


def labels(path, **options):
    return LabelsSource(LabelsConfig(path=path, **options)).load()


def test_daily_labels(tmp_path):
    path = write(tmp_path, "l.csv", "date,regime\n2022-02-25,2\n2022-02-26,\n2022-02-28,0\n")
    source = labels(path, classes=4)
    assert source.resolution == "daily"
    values = source.frame["regime"].tolist()
    assert values[0] == 2 and math.isnan(values[1]) and math.isnan(values[2]) and values[3] == 0


def test_monthly_labels(tmp_path):
    frame = labels(write(tmp_path, "l.csv", "date,regime\n2022-02,1\n2022-04,3\n"), resolution="monthly").frame
    assert frame["regime"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize("value, message", [
    ("2.5", r"class id 2.5 is not 0 \.\. 3"),
    ("-1", r"class id -1 is not 0 \.\. 3"),
    ("4", r"class id 4 is not 0 \.\. 3"),
    ("high", "'high' is not a number"),
])
def test_bad_labels(tmp_path, value, message):
    path = write(tmp_path, "l.csv", f"date,regime\n2022-02-25,1\n2022-02-26,{value}\n")
    with pytest.raises(DataError, match=message):
        labels(path, classes=4)


@pytest.mark.parametrize("text, message", [
    ("date,a\n2023-02-01,1\n2023-01-01,2\n", r"line 3: date 2023-01-01 comes after 2023-02-01 .*sort the file by date"),
    ("date,a\n2023-01-01,1\nJan 2023,2\n", r"line 3, column 'date': 'Jan 2023' is not a date"),
    ("date,a\n2023-01-01,1\n2023-01-01,3\n", r"line 3: date 2023-01-01 appears again \(line 2\) with different values"),
    ("", "the file is empty"),
    ("date,a\n", "holds no rows"),
])
def test_sentinel_and_labels_share_the_date_checks(tmp_path, text, message):
    path = write(tmp_path, "m.csv", text)
    with pytest.raises(DataError, match=message):
        sentinel(path)
    with pytest.raises(DataError, match=message):
        labels(path)
