"""Files that cannot be read as a table get one line naming the file and what to do, never a traceback:
permission denied, deep JSON nesting, Latin-1 cells, corrupt or truncated gzip, header-only and ragged FIRMS
files (through the CLI: exit status 2)."""

from __future__ import annotations

import builtins
import gzip
import io
import json
import os
import pathlib

import pytest
from mrframe_osint.firms import FirmsConfig, FirmsSource
from mrframe_osint.losses import EquipmentConfig, EquipmentSource
from mrframe_osint.sentinel import SentinelConfig, SentinelSource

from mrframe.cli import main
from mrframe.errors import DataError

RECORDS = [{"date": f"2022-03-{d:02d}", "day": d, "tank": 10 * d} for d in range(1, 29)]
CSV = "date,a\n" + "".join(f"2023-{m:02d}-01,{m}\n" for m in range(1, 13))
FIRMS_HEADER = ("latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,version,"
                "bright_ti5,frp,daynight,type\n")
FIRMS_ROW = "48.1,37.5,330.5,0.4,0.37,2023-01-0{day},1030,N,VIIRS,n,2,290.1,10.0,D,0\n"


def equipment(path: pathlib.Path):
    return EquipmentSource(EquipmentConfig(path=path)).load()


def sentinel(path: pathlib.Path):
    return SentinelSource(SentinelConfig(path=path)).load()


def firms(path: pathlib.Path, **options):
    return FirmsSource(FirmsConfig(path=path, **options)).load()


@pytest.fixture
def unreadable(monkeypatch):
    """``unreadable(path)``: opening ``path`` raises PermissionError (chmod cannot stop root, who runs CI)."""
    blocked = set()
    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if str(file) in blocked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)

    def block(path: pathlib.Path) -> pathlib.Path:
        blocked.add(str(path))
        if os.geteuid() != 0:
            path.chmod(0)
        return path

    return block


def test_permission_denied(tmp_path, unreadable):
    json_file = tmp_path / "e.json"
    json_file.write_text(json.dumps(RECORDS))
    csv_file = tmp_path / "s.csv"
    csv_file.write_text(CSV)
    for path, load in ((unreadable(json_file), equipment), (unreadable(csv_file), sentinel)):
        with pytest.raises(DataError, match=f"^{path}: permission denied; make the file readable"):
            load(path)


def test_deep_json_nesting(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(DataError, match="deep.json: nested too deeply to be a table"):
        equipment(path)


def test_latin1_cells(tmp_path):
    csv_file = tmp_path / "s.csv"
    csv_file.write_bytes(CSV.replace("2023-03-01,3", "2023-03-01,3,caf\xe9").encode("latin-1").replace(b"date,a", b"date,a,note"))
    with pytest.raises(DataError, match=r"s.csv: not UTF-8 text \(byte 0xe9 at position \d+, e.g. a Latin-1 character\); "
                                        r"save the file as UTF-8"):
        SentinelSource(SentinelConfig(path=csv_file, columns=("a",))).load()
    json_file = tmp_path / "e.json"
    json_file.write_bytes(json.dumps(RECORDS, ensure_ascii=False).replace('"day": 1,', '"day": 1, "x": "caf\xe9",')
                          .encode("latin-1"))
    with pytest.raises(DataError, match="e.json: not UTF-8 text"):
        equipment(json_file)


def damaged(text: str, damage: str) -> bytes:
    data = gzip.compress(text.encode())
    return data[: len(data) // 2] if damage == "truncated" else data[:30] + b"\x13" * 40 + data[70:]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip(tmp_path, damage):
    table = tmp_path / "s.csv.gz"
    table.write_bytes(damaged(CSV * 50, damage))
    fires = tmp_path / "f.csv.gz"
    fires.write_bytes(damaged(FIRMS_HEADER + FIRMS_ROW.format(day=1) * 400, damage))
    for path, load in ((table, sentinel), (fires, firms)):
        with pytest.raises(DataError, match=f"{path.name}: a damaged or truncated gzip file .*; download or copy it again"):
            load(path)


def test_header_only_and_ragged_firms_files(tmp_path):
    folder = tmp_path / "firms"
    folder.mkdir()
    (folder / "a.csv").write_text(FIRMS_HEADER + FIRMS_ROW.format(day=1) + FIRMS_ROW.format(day=2))
    (folder / "b.csv").write_text(FIRMS_HEADER)
    with pytest.raises(DataError, match="b.csv: a FIRMS file without any detection, so the days it covers are unknown"):
        firms(folder)
    assert firms(folder, bad_values="missing").rejected == {"file without detections (coverage unknown; set coverage)": 1}
    assert len(firms(folder, coverage=(("2023-01-01", "2023-01-03"),)).frame) == 3
    (folder / "b.csv").write_text(FIRMS_HEADER + FIRMS_ROW.format(day=3) + FIRMS_ROW.format(day=4).rstrip() + ",extra\n")
    with pytest.raises(DataError, match=r"b.csv, line 3: 16 fields where the header has 15"):
        firms(folder)
    (folder / "b.csv").write_text(FIRMS_HEADER + FIRMS_ROW.format(day=3).rstrip() + ",extra\n" + FIRMS_ROW.format(day=4))
    with pytest.raises(DataError, match=r"b.csv, line 2: more fields than the header"):
        firms(folder)
    assert firms(folder, bad_values="missing").rejected == {"unreadable row": 1}


def test_the_cli_says_one_line_and_exits_2(tmp_path, capsys):
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    spec = tmp_path / "spec.toml"
    spec.write_text("""version = 1
[data]
split = { val_from = 2022-06-01 }
[sources.equipment]
plugin = "equipment"
path = "deep.json"
[encoders.equipment]
plugin = "recurrent"
[heads.next]
plugin = "regression"
target = { source = "equipment", horizon = 1 }
loss = { plugin = "masked-mse" }
""")
    with pytest.raises(SystemExit) as exit_:
        main(["data", str(spec), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"error: sources.equipment (equipment): {tmp_path / 'deep.json'}: nested too "
                                        "deeply to be a table; expected a JSON list of flat records"]


def test_firms_values_outside_their_physical_range_are_unreadable_cells(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(FIRMS_HEADER + FIRMS_ROW.format(day=1) + FIRMS_ROW.format(day=2).replace(",10.0,", ",-999,"))
    with pytest.raises(DataError, match=r"f.csv, line 3, column 'frp': cannot read -999.0 \(possible: >= 0\)"):
        firms(path)
    path.write_text(path.read_text() + FIRMS_ROW.format(day=3).replace("2023-01-03", "-999"))
    with pytest.raises(DataError, match=r"f.csv, line 4, column 'acq_date': cannot read '-999'"):
        firms(path)
    assert firms(path, bad_values="missing").rejected == {"unreadable row": 2}


def test_an_unreadable_deepstate_file_is_an_error_naming_it_or_a_counted_missing_day(tmp_path, unreadable):
    from mrframe_osint.deepstate import DeepStateConfig, DeepStateSource

    square = {"type": "Polygon", "coordinates": [[[36, 47], [38, 47], [38, 49], [36, 49], [36, 47]]]}
    text = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": square,
                                                                  "properties": {}}]})
    for day in ("20240708", "20240709", "20240710"):
        (tmp_path / f"deepstatemap_data_{day}.geojson").write_text(text)
    blocked = unreadable(tmp_path / "deepstatemap_data_20240709.geojson")
    with pytest.raises(DataError, match=f"^{blocked}: permission denied; make the file readable"):
        DeepStateSource(DeepStateConfig(tmp_path)).load()
    source = DeepStateSource(DeepStateConfig(tmp_path, bad_files="missing")).load()
    assert source.rejected == {"unreadable file (day missing)": 1}
    assert source.frame["occupied_km2"].isna().tolist() == [False, True, False]
