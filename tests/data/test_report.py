"""``mrframe data``: the per-source table, the split, the report files and the heatmap; ``mrframe run`` leaves
the same report in its run directory."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import tomli_w
from click.testing import CliRunner

from mrframe.cli import cli, main
from mrframe.data.report import DataReport, observed_mask
from mrframe.interfaces import SourceFrame

pytestmark = pytest.mark.plugins

EQUIPMENT = [
    {"date": "2022-01-01", "day": 1, "tank": 10, "APC": 5},
    {"date": "2022-01-02", "day": 2, "tank": 12, "APC": 5},
    {"date": "2022-01-02", "day": 2, "tank": 12, "APC": 5},
    {"date": "2022-01-04", "day": 4, "tank": 20},
]


@pytest.fixture
def spec_file(tmp_path):
    pytest.importorskip("mrframe_osint")
    (tmp_path / "equipment.json").write_text(json.dumps(EQUIPMENT))
    document = {
        "version": 1,
        "data": {"daily_window": 14, "monthly_window": 3,
                 "split": {"val_from": "2023-01-01", "test_from": "2023-04-01"}},
        "sources": {
            "activity": {"plugin": "synthetic", "start": "2022-01-01", "periods": 500, "features": 2},
            "survey": {"plugin": "synthetic", "resolution": "monthly", "start": "2022-01-01", "periods": 16,
                       "features": 2, "missing": 0.3},
            "equipment": {"plugin": "equipment", "path": "equipment.json"},
        },
        "encoders": {"activity": {"plugin": "recurrent"}, "survey": {"plugin": "recurrent"}},
        "heads": {"next": {"plugin": "regression", "target": {"source": "activity", "horizon": 3},
                           "loss": {"plugin": "masked-mse"}}},
        "train": {"epochs": 1, "batch_size": 64},
    }
    path = tmp_path / "spec.toml"
    path.write_text(tomli_w.dumps(document))
    return path


def test_observed_mask_counts_absent_periods_as_missing():
    frame = pd.DataFrame({"a": [1.0, None]}, index=pd.to_datetime(["2022-01-01", "2022-01-03"]))
    mask = observed_mask(SourceFrame(frame, "daily"))
    assert mask["a"].tolist() == [True, False, False]
    report = DataReport.build(None, {"s": SourceFrame(frame, "daily", rejected={"repeated row": 2})})
    summary = report.sources[0]
    assert summary.periods == 3 and summary.observed == pytest.approx(1 / 3) and summary.rejected == {"repeated row": 2}


def test_mrframe_data_prints_tables_and_writes_report_and_heatmap(spec_file, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["data", str(spec_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    rows = {line.split()[0]: line.split() for line in text.splitlines()[:4]}
    assert rows["source"] == ["source", "plugin", "resolution", "first", "last", "periods", "features", "observed",
                              "rejected"]
    assert rows["equipment"] == ["equipment", "equipment", "daily", "2022-01-01", "2022-01-04", "4", "2", "25.0%", "1"]
    assert rows["survey"][:3] == ["survey", "synthetic", "monthly"]
    assert "rejected: 1 x repeated row (identical, dropped)" in text
    assert "survey: observed per feature" in text
    assert "splits (by anchor day):" in text and "embargoed" in text
    (run_dir,) = out.iterdir()
    assert (run_dir / "data_report.txt").read_text().startswith("source")
    report = json.loads((run_dir / "data_report.json").read_text())
    assert [s["name"] for s in report["sources"]] == ["activity", "survey", "equipment"]
    assert report["sources"][2]["per_feature"]["APC"] == pytest.approx(1 / 4)
    assert report["splits"]["train"]["samples"] > 0
    png = run_dir / "plots" / "data_observed.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mrframe_data_writes_the_report_even_when_the_split_is_impossible(spec_file, tmp_path, capsys):
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_info:
        main(["data", str(spec_file), "--out", str(out), "--set", "data.split.val_from=2022-01-02",
              "--set", "data.split.test_from=2022-02-01"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "no training sample" in captured.err
    assert "activity" in captured.out
    (run_dir,) = out.iterdir()
    assert (run_dir / "plots" / "data_observed.png").exists()


def test_a_plot_that_cannot_be_written_is_a_storage_error(spec_file, tmp_path, capsys, monkeypatch):
    import mrframe.data.plots

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mrframe.data.plots, "plot_observed", full_disk)
    with pytest.raises(SystemExit) as exit_info:
        main(["data", str(spec_file), "--out", str(tmp_path / "runs")])
    assert exit_info.value.code == 4
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "the data report's plots could not be written ([Errno 28] No space left on device)" in line


def test_mrframe_data_names_a_bad_file(spec_file, tmp_path, capsys):
    (tmp_path / "equipment.json").write_text(json.dumps([{"date": "2022-01-01", "tank": "lots"}]))
    with pytest.raises(SystemExit):
        main(["data", str(spec_file), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert "sources.equipment (equipment):" in err and "record 1, column 'tank': 'lots' is not a number" in err


@pytest.mark.slow
def test_mrframe_run_leaves_the_data_report(spec_file, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["run", str(spec_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    assert (run_dir / "data_report.txt").exists() and (run_dir / "plots" / "data_observed.png").exists()
