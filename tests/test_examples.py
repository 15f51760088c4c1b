"""The bundled examples run end to end as a user would run them."""

import json
import pathlib

import pytest

from tests.distributions import REPO, run_cli

pytestmark = [pytest.mark.plugins, pytest.mark.slow]


def test_minimal_example_trains_on_the_real_data_and_reports_its_skill(tmp_path):
    result = run_cli(["run", str(REPO / "examples/minimal.toml"), "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    for split in ("val", "test"):
        task = summary["evaluation"][split]["tasks"]["next_week"]
        assert task["count"] > 800 and task["dropped"] == 0
        assert set(task["baselines"]) == {"persistence", "seasonal_naive", "moving_average_7", "moving_average_28"}
        assert task["beats"]["persistence"]  # a correction to the 7-day mean, far from "tomorrow = today"
        assert task["skill"] > -0.05, task["skill"]  # and never far from the 7-day mean, whatever the 2026 level
    assert "against the strongest baseline, moving_average_7" in result.stdout
    test = summary["evaluation"]["test"]["tasks"]["next_week"]["metrics"]
    assert 0.85 <= test["coverage_90"] <= 0.95, test  # conformal intervals calibrated on val hold in 2026
    assert pathlib.Path(run_dir / "plots/loss.png").stat().st_size > 1000
