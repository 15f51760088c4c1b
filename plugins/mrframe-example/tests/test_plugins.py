"""The distribution's tests: the conformance kit in one line per plugin, plus the plugins' own behaviour."""

import pathlib
import subprocess
import sys

import pytest
from mrframe_example.csv_source import CsvConfig, CsvSource
from mrframe_example.ema_encoder import EmaEncoder

from mrframe.errors import DataError
from mrframe.testing import check_encoder, check_source

HERE = pathlib.Path(__file__).resolve().parents[1]


def test_source_conforms():
    frame = check_source("example-csv")
    assert list(frame.frame.columns) == ["visits", "alerts"] and frame.counts == ("alerts",)


@pytest.mark.parametrize("resolution", ["daily", "monthly"])
def test_encoder_conforms(resolution):
    check_encoder("example-ema", resolution=resolution)
    check_encoder(EmaEncoder, config=EmaEncoder.Config(min_decay=0.9))


def test_missing_cells_stay_missing(tmp_path):
    loaded = CsvSource(CsvSource.example_config(tmp_path)).load().frame
    assert loaded.isna().sum().to_dict() == {"visits": 1, "alerts": 1}
    assert "2024-01-03" not in loaded.index.strftime("%Y-%m-%d")  # an absent day is not invented


@pytest.mark.parametrize(("text", "message"), [
    ("day,visits\n2024-01-01,1\n", "no column 'date'; set `date_column`"),
    ("date,visits\n2024-01-01,1\n01/02/2024,2\n", "row 3: date is not YYYY-MM-DD"),
    ("date,visits\n2024-01-01,1\n2024-01-02,many\n", "row 3, column 'visits': not a number"),
    ("date,visits\n2024-01-01,1\n2024-01-01,2\n", "date 2024-01-01 appears twice"),
])
def test_bad_files_get_one_line_errors_naming_the_place(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        CsvSource(CsvConfig(path=path)).load()


@pytest.mark.slow
def test_a_spec_using_the_plugins_runs(tmp_path):
    spec = HERE / "example" / "example.toml"
    result = subprocess.run([sys.executable, "-m", "mrframe", "run", str(spec), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "run directory:" in result.stdout
