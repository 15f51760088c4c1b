"""`mrframe run`, `evaluate`, `predict` and `diagnose` as a user calls them."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mrframe.cli import cli
from mrframe.errors import EXIT_CHECK_FAILED


@pytest.fixture(scope="module")
def trained(spec_writer, tmp_path_factory, threads):
    """A finished run directory of the tiny spec (and the spec file)."""
    folder = tmp_path_factory.mktemp("cli")
    spec = spec_writer(folder, train="epochs = 2")
    with threads():
        result = CliRunner().invoke(cli, ["run", str(spec), "--out", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (run_dir,) = (folder / "runs").iterdir()
    return spec, run_dir, result.output


def test_run_leaves_a_complete_run_directory(trained):
    _, run_dir, output = trained
    for name in ("spec.toml", "metrics.csv", "metrics.jsonl", "summary.json", "evaluation-val.json",
                 "evaluation-test.json", "checkpoints/last.pt", "checkpoints/best.pt", "plots/loss.png",
                 "plots/weights.png", "plots/lr.png"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 2
    verdicts = summary["evaluation"]["test"]["tasks"]["next"]["beats"]
    assert set(verdicts) == {"persistence", "seasonal_naive", "moving_average_7", "moving_average_28"}
    assert all(isinstance(v, bool) for v in verdicts.values())
    assert "persistence" in output and ("beats" in output) and f"run directory: {run_dir}" in output
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["val_anchored"] is None  # NaN is written as null


def test_resume_usage_errors(trained):
    spec, run_dir, _ = trained
    runner = CliRunner()
    assert runner.invoke(cli, ["run"]).exit_code == 2
    both = runner.invoke(cli, ["run", "--resume", str(run_dir), "--set", "train.epochs=3"])
    assert both.exit_code == 2 and "--set cannot change a resumed run" in both.output


def test_resume_of_a_finished_run_changes_nothing(trained):
    _, run_dir, _ = trained
    before = json.loads((run_dir / "summary.json").read_text())
    result = CliRunner().invoke(cli, ["run", "--resume", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["final"] == before["final"] and after["evaluation"] == before["evaluation"]


def test_evaluate_reports_metrics_beside_baselines(trained):
    _, run_dir, _ = trained
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "evaluation-test.json").unlink()
    result = CliRunner().invoke(cli, ["evaluate", str(run_dir), "--split", "test"])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "evaluation-test.json").read_text())
    assert report == summary["evaluation"]["test"]  # the best checkpoint, as at the end of training
    assert "seasonal_naive" in result.output and "mae" in result.output


def test_predict_writes_predictions_in_source_units(trained):
    _, run_dir, _ = trained
    out = run_dir / "predictions.csv"
    result = CliRunner().invoke(cli, ["predict", str(run_dir), "--at", "2022-07-19", "--at", "2022-06-20",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["anchor", "task", "target_date", "feature", "prediction", "lower_50", "upper_50",
                                   "lower_90", "upper_90", "actual"]  # conformal intervals of the point head
    assert (table.lower_90 <= table.prediction).all() and (table.prediction <= table.upper_90).all()
    assert len(table) == 2 * 3  # two anchors, one step, three features
    future = table[table.anchor == "2022-07-19"]
    assert set(future.target_date) == {"2022-07-22"} and future.actual.isna().all()  # beyond the data
    known = table[table.anchor == "2022-06-20"]
    assert np.isfinite(known.prediction).all() and known.actual.notna().any()
    outside = CliRunner().invoke(cli, ["predict", str(run_dir), "--at", "2030-01-01"])
    assert outside.exit_code != 0


def test_diagnose_a_clean_spec_passes(trained):
    spec, run_dir, _ = trained
    result = CliRunner().invoke(cli, ["diagnose", str(spec), "--run", str(run_dir), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert re.search(r"val: \d+ OK, 0 non-finite", result.output)


def test_diagnose_names_failing_samples_and_module(tiny_spec, bomb, tmp_path):
    spec = tiny_spec(encoder="bomb", encoder_keys='anchors = ["2022-02-03", "2022-05-10"]\nonce = false')
    out = tmp_path / "diagnose.csv"
    result = CliRunner().invoke(cli, ["diagnose", str(spec), "--out", str(out)])
    assert result.exit_code == EXIT_CHECK_FAILED, result.output
    lines = [line for line in result.output.splitlines() if "non-finite" in line and "bomb" in line]
    assert len(lines) == 2
    assert "2022-02-03" in lines[0] and "train" in lines[0] and "model.encoders.daily.bomb" in lines[0]
    assert "2022-05-10" in lines[1] and "val" in lines[1] and "log" in lines[1]
    table = pd.read_csv(out)
    assert (table.status == "non-finite").sum() == 2 and (table.status == "OK").sum() == len(table) - 2


@pytest.mark.parametrize("command", ["diagnose", "predict"])
def test_an_out_file_that_cannot_be_written_is_refused_before_any_work(trained, tmp_path, capsys, command):
    from mrframe.cli import main

    spec, run_dir, _ = trained
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    arguments = {"diagnose": ["diagnose", str(spec)], "predict": ["predict", str(run_dir), "--at", "2022-06-20"]}
    for out in (tmp_path / "missing" / "x.csv", blocker / "x.csv"):
        with pytest.raises(SystemExit) as exit_:
            main([*arguments[command], "--out", str(out)])
        captured = capsys.readouterr()
        assert exit_.value.code == 2 and "Traceback" not in captured.err, captured.err
        assert captured.err.strip().splitlines() == [captured.err.strip()] and "does not exist" in captured.err
        assert captured.out == ""  # refused before the model was loaded


def test_a_non_finite_stop_is_its_own_line_after_the_bar_and_exits_3(spec_writer, tmp_path, bomb, capsys):
    from mrframe.cli import main

    spec = spec_writer(tmp_path, encoder="bomb", encoder_keys='anchors = ["2022-02-03"]')
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(spec), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_.value.code == 3 and "Traceback" not in err
    lines = err.splitlines()
    (stop,) = [line for line in lines if "Non-finite" in line]
    assert re.match(r"stopped: Non-finite loss at step (\d+) \(epoch 1, batch \1\)\.", stop)
    assert lines[lines.index(stop) - 1].startswith("epoch 1/2")  # the closed bar, then the message
    assert "Report: " in stop and stop.rstrip().endswith(".json")


def test_warnings_are_printed_once_without_source_lines(capsys):
    import warnings

    from mrframe.cli import console_warnings
    from mrframe.metrics import MetricWarning

    with console_warnings():
        for _ in range(3):
            warnings.warn("MAE is undefined (no finite pair); reported as NaN", MetricWarning, stacklevel=1)
        warnings.warn("MAE is undefined (no finite pair); reported as NaN", MetricWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "warning: MAE is undefined (no finite pair); reported as NaN\n"


def test_help_documents_the_exit_statuses():
    result = CliRunner().invoke(cli, ["--help"])
    assert "3    training stopped on a non-finite loss or gradient" in result.output
    assert "4    a file of the run could not be written" in result.output  # StorageError.exit_status
    assert "1    internal error" in result.output and "5    a check found problems" in result.output
    assert "exit status is 3" in " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())


SHORT_SOURCE = """
[sources.short]
plugin = "synthetic"
start = 2022-01-01
periods = 140
features = 2
seed = 5

[encoders.short]
plugin = "recurrent"

[heads.later]
plugin = "regression"
target = { source = "short", horizon = 3, anchor = "moving_average:7" }
loss = { plugin = "masked-mse" }
"""


def test_anchors_after_the_anchored_sources_last_data_are_masked_and_left_out_not_nan(spec_writer, tmp_path, threads):
    """``short`` ends on 2022-05-20, before the test split: its anchored task has no baseline there."""
    spec = spec_writer(tmp_path, train="epochs = 1", extra=SHORT_SOURCE)
    runner = CliRunner()
    with threads():
        result = runner.invoke(cli, ["run", str(spec), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    later = json.loads((run_dir / "evaluation-test.json").read_text())["tasks"]["later"]
    assert later["count"] == 0 and "short has no observation after 2022-05-20" in later["note"]
    with threads():
        result = runner.invoke(cli, ["predict", str(run_dir), "--at", "2022-05-21", "--at", "2022-06-20",
                                     "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "p.csv")
    rows = table[table["task"] == "later"]
    assert rows["anchor"].tolist() == ["2022-05-21", "2022-05-21"] and np.isfinite(rows["prediction"]).all()
    assert "note: task later: 2 values without a forecast (left out)" in result.output
    assert "non-finite" not in result.output
