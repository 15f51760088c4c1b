"""A backtest's aggregate from its folds' evaluation files (written by hand here: no training)."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from mrframe.cli import main
from mrframe.engine.backtest import aggregate
from mrframe.engine.backtest.folds import Fold
from mrframe.engine.backtest.runner import Backtest
from mrframe.engine.compare import compare_with_baselines, summarise
from mrframe.engine.rundir import RunDirectory
from tests.engine.test_compare import point_outputs


def _fold_report(outputs) -> dict:  # noqa: ANN001
    compared = compare_with_baselines(outputs)
    metrics = {name: m.value for name, m in outputs.metrics().items()}
    return {"split": "test", "samples": len(outputs.target), "tasks": {"t": {
        "kind": "point", "headline": "mae", "count": len(outputs.target), "dropped": 0, "metrics": metrics,
        "baselines": compared, "beats": {n: b["beats"] for n, b in compared.items()}, **summarise(compared)}}}


def _backtest(tmp_path, reports) -> Backtest:  # noqa: ANN001
    folds = []
    for i, report in enumerate(reports, start=1):
        origin = dt.date(2024, 1, 1) + dt.timedelta(days=30 * i)
        fold = Fold(i, None, origin - dt.timedelta(days=30), origin, origin + dt.timedelta(days=29))
        run = RunDirectory(tmp_path / fold.name)
        run.path.mkdir()
        run.write_json(run.summary, {"status": "finished"})
        run.write_json(run.evaluation("test"), report)
        folds.append(fold)
    return Backtest(tmp_path, tuple(folds))


def test_every_baseline_metric_per_fold_and_an_exact_baseline_counts_against_the_model(tmp_path):
    first = point_outputs([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.0, 4.5], persistence=[2.0, 3.0, 4.0, 5.0])
    first.baselines["moving_average_7"] = {"prediction": np.array([1.5, 2.5, 3.5, 4.5]), "crps": np.full(4, 0.5),
                                           "lower_50": np.arange(4.0), "upper_50": np.arange(4.0) + 2.0}
    exact = point_outputs([0.0, 0.0, 0.0], [0.5, 0.0, 0.0], persistence=[0.0, 0.0, 0.0])  # persistence is exact
    exact.baselines["moving_average_7"] = {"prediction": np.ones(3), "crps": np.ones(3)}
    backtest = _backtest(tmp_path, [_fold_report(first), _fold_report(exact)])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the -inf skill is drawn, not handed to matplotlib
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)  # pandas 2.0's CSV of inf
        summary, missing = aggregate.write(backtest)
    assert missing == []
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert {"moving_average_7.crps", "moving_average_7.coverage_50", "persistence.rmse"} <= set(folds.columns)
    assert folds["moving_average_7.crps"].tolist() == [0.5, 1.0]
    assert folds["skill"].iloc[1] == -math.inf and folds["strongest"].iloc[1] == "persistence"

    task = summary["t"]
    assert task["baselines"]["moving_average_7"]["crps"]["mean"] == pytest.approx(0.75)
    assert task["skill"]["mean"] == -math.inf and task["skill"]["folds"] == 2  # not the mean of fold 1 alone
    assert task["baselines"]["persistence"]["mean_skill"] == -math.inf
    assert (task["beats_strongest"], task["compared"]) == (1, 2)
    written = json.loads((tmp_path / "aggregate.json").read_text())["tasks"]["t"]
    assert written["skill"]["folds"] == 2 and written["baselines"]["moving_average_7"]["crps"]["folds"] == 2

    table = pd.read_csv(tmp_path / "aggregate.csv")
    crps = table[(table["name"] == "moving_average_7") & (table["metric"] == "crps")]
    assert len(crps) == 1 and crps["mean"].item() == pytest.approx(0.75)
    skill = table[table["metric"] == "skill"]
    assert (skill["wins"].item(), skill["losses"].item()) == (1, 1)
    lines = aggregate.lines(summary, 2)
    assert "  skill against the strongest baseline -inf ± nan; beats it in 1 of 2 folds" in lines
    assert any(line.startswith("  moving_average_7  mae") and "crps 0.75 ± " in line for line in lines)


def test_a_backtest_directory_given_for_a_run_names_its_folds(tmp_path, capsys):
    backtest = _backtest(tmp_path, [_fold_report(point_outputs([1.0], [1.0], persistence=[2.0]))])
    RunDirectory(tmp_path).write_json(tmp_path / "backtest.json", {"folds": []})
    (tmp_path / "spec.toml").write_text("")
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", str(backtest.path)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path}: a backtest directory, not a run; its folds are the runs (e.g. {tmp_path / 'fold-01'}), "
        f"and `mrframe backtest --collect {tmp_path}` aggregates them"]


def test_a_fold_that_failed_before_any_checkpoint_starts_again_instead_of_resuming(tmp_path):
    """`mrframe run --resume` refuses a directory without a checkpoint, so such a fold could never finish."""
    backtest = _backtest(tmp_path, [_fold_report(point_outputs([1.0], [1.0], persistence=[2.0]))] * 2)
    failed, interrupted = (backtest.run_directory(f) for f in backtest.folds)
    failed.write_json(failed.summary, {"status": "failed", "error": "RuntimeError: a plugin bug"})
    interrupted.write_json(interrupted.summary, {"status": "interrupted"})
    interrupted.best.parent.mkdir()
    interrupted.best.write_bytes(b"a checkpoint")
    assert [backtest.state(f) for f in backtest.folds] == ["new", "started"]
    failed.summary.write_text('{"status": "finished"}')
    assert backtest.state(backtest.folds[0]) == "done"
