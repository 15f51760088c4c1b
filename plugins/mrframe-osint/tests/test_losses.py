"""The equipment and personnel loaders on small files in the public formats (JSON and CSV)."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
from mrframe_osint.losses import EquipmentConfig, EquipmentSource, PersonnelConfig, PersonnelSource

from mrframe.errors import DataError

RECORDS = [
    {"date": "2022-02-25", "day": 2, "tank": 80, "military auto": 100, "greatest losses direction": "Izyum"},
    {"date": "2022-02-26", "day": 3, "tank": 146, "military auto": 130},
    {"date": "2022-02-27", "day": 4, "tank": 150, "military auto": 150, "field artillery": 49},
    # 2022-02-28 has no record at all
    {"date": "2022-03-01", "day": 6, "tank": 198, "field artillery": 77},
    {"date": "2022-03-02", "day": 6, "tank": 190, "field artillery": 80},  # same day number; tank corrected down
    {"date": "2022-03-03", "day": 7, "field artillery": 85},  # tank cell absent
]


def write_json(path, records):
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def write_json_gz(path, records):
    path.write_bytes(gzip.compress(json.dumps(records).encode("utf-8")))
    return path


def write_csv(path, records):
    pd.DataFrame.from_records(records).to_csv(path, index=False)
    return path


def load(path, **options):
    return EquipmentSource(EquipmentConfig(path=path, **options)).load()


@pytest.fixture(params=["json", "json.gz", "csv"])
def equipment_file(request, tmp_path):
    writer = {"json": write_json, "json.gz": write_json_gz, "csv": write_csv}[request.param]
    return writer(tmp_path / f"russia_losses_equipment.{request.param}", RECORDS)


def test_daily_losses_from_cumulative_counts_never_fill(equipment_file):
    source = load(equipment_file)
    frame = source.frame
    assert source.resolution == "daily"
    assert list(frame.columns) == ["tank", "military auto", "field artillery"]  # text column and `day` dropped
    assert list(frame.index.strftime("%Y-%m-%d")) == [
        "2022-02-25", "2022-02-26", "2022-02-27", "2022-02-28", "2022-03-01", "2022-03-02", "2022-03-03"]
    tank = frame["tank"].tolist()
    assert math.isnan(tank[0])  # the first record has no previous day
    assert tank[1:3] == [66, 4]
    assert math.isnan(tank[3]) and math.isnan(tank[4])  # no record on 02-28: that day and the next are unknown
    assert tank[5] == -8  # a correction: kept as an observed negative loss
    assert math.isnan(tank[6])  # cell absent
    auto = frame["military auto"].tolist()
    assert auto[1:3] == [30, 20] and all(math.isnan(v) for v in auto[3:])  # outside its life: missing, not zero
    artillery = frame["field artillery"].tolist()
    assert all(math.isnan(v) for v in artillery[:5]) and artillery[5:] == [3, 5]  # first day of its life unknown
    assert source.counts == ("tank", "military auto", "field artillery")
    assert source.rejected == {}


def test_json_and_csv_forms_load_the_same(tmp_path):
    a = load(write_json(tmp_path / "e.json", RECORDS)).frame
    b = load(write_csv(tmp_path / "e.csv", RECORDS)).frame
    pd.testing.assert_frame_equal(a, b)


def test_negative_losses_can_be_masked_and_are_counted(equipment_file):
    source = load(equipment_file, negative="mask")
    assert math.isnan(source.frame.loc["2022-03-02", "tank"])
    assert source.rejected == {"negative daily loss (cell set missing)": 1}


def test_cumulative_values_and_feature_selection(equipment_file):
    frame = load(equipment_file, values="cumulative", features=("tank",)).frame
    assert list(frame.columns) == ["tank"]
    assert frame["tank"].iloc[:3].tolist() == [80, 146, 150]
    with pytest.raises(DataError, match=r"'tnak'.*did you mean 'tank'"):
        load(equipment_file, features=("tnak",))
    with pytest.raises(DataError, match="not a count column"):
        load(equipment_file, features=("greatest losses direction",))


def test_personnel_ignores_the_qualifier_and_pow_stops(tmp_path):
    records = [
        {"date": "2022-02-25", "day": 2, "personnel": 2800, "personnel*": "about", "POW": 0},
        {"date": "2022-02-26", "day": 3, "personnel": 3500, "personnel*": "about", "POW": 0},
        {"date": "2022-02-27", "day": 4, "personnel": 4300, "personnel*": "more", "POW": 200},
        {"date": "2022-02-28", "day": 5, "personnel": 4500, "personnel*": "about"},
    ]
    frame = PersonnelSource(PersonnelConfig(path=write_json(tmp_path / "p.json", records))).load().frame
    assert list(frame.columns) == ["personnel", "POW"]
    assert frame["personnel"].tolist()[1:] == [700, 800, 200]
    assert frame["POW"].tolist()[1:3] == [0, 200] and math.isnan(frame["POW"].iloc[3])


# ------------------------------------------------------------------------------------------- bad input


def bad(records, tmp_path, kind="json"):
    writer = write_json if kind == "json" else write_csv
    return writer(tmp_path / f"bad.{kind}", records)


def test_unparsable_date_names_file_row_and_what_to_do(tmp_path):
    records = [dict(RECORDS[0]), dict(RECORDS[1], date="2022-02-31"), dict(RECORDS[2])]
    path = bad(records, tmp_path)
    with pytest.raises(DataError, match=r"bad\.json, record 2, column 'date': '2022-02-31' is not a date.*bad_values"):
        load(path)
    source = load(path, bad_values="missing")
    assert source.rejected == {"row without a readable date": 1}
    assert np.isnan(source.frame.loc["2022-02-26"]).all()  # the day is missing, not invented
    csv = bad(records, tmp_path, "csv")
    with pytest.raises(DataError, match=r"bad\.csv, line 3, column 'date'"):
        load(csv)


def test_non_numeric_cell_is_an_error_or_counted_missing(tmp_path):
    records = [dict(RECORDS[0]), dict(RECORDS[1], tank="many"), dict(RECORDS[2])]
    path = bad(records, tmp_path, "csv")
    with pytest.raises(DataError, match=r"bad\.csv, line 3, column 'tank': 'many' is not a number"):
        load(path)
    source = load(path, bad_values="missing")
    assert source.rejected == {"non-numeric cell (set missing)": 1}
    assert source.frame["tank"].isna().tolist() == [True, True, True]


def test_unsorted_dates_are_an_error(tmp_path):
    path = bad([RECORDS[1], RECORDS[0], RECORDS[2]], tmp_path)
    with pytest.raises(DataError, match=r"record 2: date 2022-02-25 comes after 2022-02-26 .*sort the file by date"):
        load(path)


def test_repeated_dates_identical_dropped_conflicting_rejected(tmp_path):
    source = load(bad([RECORDS[0], RECORDS[1], RECORDS[1], RECORDS[2]], tmp_path))
    assert source.rejected == {"repeated row (identical, dropped)": 1}
    assert source.frame["tank"].tolist()[1:] == [66, 4]
    conflicting = [RECORDS[0], RECORDS[1], dict(RECORDS[1], tank=147), RECORDS[2]]
    with pytest.raises(DataError, match=r"record 3: date 2022-02-26 appears again \(record 2\) with different values"):
        load(bad(conflicting, tmp_path))
    source = load(bad(conflicting, tmp_path), bad_values="missing")
    assert source.rejected == {"conflicting repeated date (all its rows dropped)": 2}
    assert source.frame.loc["2022-02-26"].isna().all()


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("[]", "holds no rows"),
    ('{"date": "2022-02-25"}', "expected a JSON list of records, got a JSON dict"),
    ("[1, 2]", r"record 1: expected a JSON object"),
    ("[{\"date\": ", "not valid JSON"),
])
def test_bad_json_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load(path)


def test_bad_files_and_columns(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "nope.json")
    (tmp_path / "e.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"e\.xlsx: unknown file format; expected a file ending in \.json, \.json\.gz, \.csv"):
        load(tmp_path / "e.xlsx")
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(b"[{}]")[:12])
    with pytest.raises(DataError, match=r"cut\.json\.gz: a damaged or truncated gzip file \(.*\); download or copy it again"):
        load(tmp_path / "cut.json.gz")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        load(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("date,tank\n")
    with pytest.raises(DataError, match="holds no rows"):
        load(tmp_path / "header.csv")
    nodate = write_json(tmp_path / "nodate.json", [{"Date": "2022-02-25", "tank": 1}])
    with pytest.raises(DataError, match=r"no 'date' column \(did you mean 'Date'\?\)"):
        load(nodate)
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"binary\.csv: (not a readable CSV file \((ParserError|UnicodeDecodeError): "
                                        r"[^\n]*\)|not UTF-8 text \(byte 0x80 [^\n]*)$"):  # pandas 2.0 decodes first
        load(tmp_path / "binary.csv")
    (tmp_path / "e.csv.gz").write_text("date,tank\n2022-02-25,1\n")
    with pytest.raises(DataError, match=r"e\.csv\.gz: a damaged or truncated gzip file \(Not a gzipped file"):
        load(tmp_path / "e.csv.gz")
