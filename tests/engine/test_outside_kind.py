"""A third-party quantile kind, head and pinball loss (tests/quantile_plugin.py), installed through entry points
as an outside distribution: evaluation gives it CRPS and coverage beside the baselines, and `predict` writes its
quantile columns, with no change to the core."""

from __future__ import annotations

import json
import pathlib

import pandas as pd
import pytest

from mrframe.testing import check_prediction_kind
from tests import quantile_plugin
from tests.distributions import make_distribution, run_cli

pytestmark = pytest.mark.slow

HEAD = 'plugin = "test-quantile"\ntarget = { source = "daily", horizon = 3 }\nloss = { plugin = "test-pinball" }'


def test_the_outside_kind_keeps_what_it_declares():
    check_prediction_kind(quantile_plugin.Quantiles)


def test_an_outside_quantile_head_gets_scores_and_prediction_columns(tiny_spec, tmp_path):
    root = make_distribution(
        tmp_path / "site", "acme-quantiles", "1.0",
        {"mrframe.prediction_kinds": {"test-quantiles": "acme_quantiles:Quantiles"},
         "mrframe.heads": {"test-quantile": "acme_quantiles:QuantileHead"},
         "mrframe.losses": {"test-pinball": "acme_quantiles:Pinball"}},
        {"acme_quantiles.py": pathlib.Path(quantile_plugin.__file__).read_text()},
    )
    spec = tiny_spec(train="epochs = 2")
    text = spec.read_text()
    start = text.index('plugin = "regression"')
    end = text.index('loss = { plugin = "masked-mse" }') + len('loss = { plugin = "masked-mse" }')
    spec.write_text(text[:start] + HEAD + text[end:])
    result = run_cli(["run", str(spec), "--out", str(tmp_path / "runs")], path=root)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    task = json.loads((run_dir / "evaluation-test.json").read_text())["tasks"]["next"]
    assert task["kind"] == "test-quantiles" and task["headline"] == "mae"
    for name in ("mae", "crps", "coverage_50", "width_50", "coverage_90", "width_90", "mase"):
        assert name in task["metrics"], name
    moving = task["baselines"]["moving_average_28"]
    assert {"mae", "crps", "coverage_90"} <= set(moving["baseline"]) and "crps" in moving["model"]
    assert (run_dir / "plots" / "forecasts-test.png").is_file()

    predicted = run_cli(["predict", str(run_dir), "--at", "2022-06-20", "--out", str(tmp_path / "p.csv")], path=root)
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    assert {"q0.05", "q0.25", "q0.5", "q0.75", "q0.95", "lower_90", "upper_90"} <= set(table.columns)
    assert (table["q0.05"] <= table["q0.5"]).all() and (table["q0.5"] == table["prediction"]).all()
