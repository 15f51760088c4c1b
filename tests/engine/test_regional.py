"""Spatial in the engine: baselines and metrics per region, the error map, the console lines, and the guard's
report of the largest inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mrframe import kinds
from mrframe.data.baselines import persistence, seasonal_naive
from mrframe.data.dataset import Batch, calendar_for
from mrframe.data.pipeline import prepare
from mrframe.engine.compare import evaluation_lines
from mrframe.engine.evaluate import TaskOutputs
from mrframe.engine.regional import error_map_name, region_report
from mrframe.engine.report import build_report, extreme_inputs, extreme_targets, paragraph
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.trainer import Trainer
from mrframe.interfaces import SourceInfo, TargetInfo
from mrframe.observed import Observed
from mrframe.spec import build_spec
from tests.data.test_spatial import document
from tests.fakes import fake_plugins
from tests.spatial_fakes import grid, spatial_fakes


def test_baselines_are_per_region():
    raw = torch.arange(2 * 8 * 3 * 2, dtype=torch.float32).reshape(2, 8, 3, 2)
    raw[:, -1, 1, 0] = float("nan")  # region 1 misses feature 0 on the last day: persistence reaches back a day
    raw[0, :, 2] = float("nan")  # region 2 of sample 0 is never observed
    target = TargetInfo("t", "s", "daily", ("a", "b"), horizon=7, span=2, regions=grid(1, 3))
    window = Observed.build(raw)
    columns = np.array([0, 1])
    last = persistence(window, columns, target)
    assert last.shape == (2, 2, 3, 2)
    assert last[1, 0, 1, 0] == raw[1, -2, 1, 0] and last[1, 1, 0, 1] == raw[1, -1, 0, 1]
    assert torch.isnan(last[0, :, 2]).all()
    seasonal = seasonal_naive(window, columns, target)  # offsets 6, 7: one week back is index 6, 7 (of 0..7)
    assert seasonal[1, 1, 0, 1] == raw[1, 7, 0, 1] and seasonal[1, 0, 0, 1] == raw[1, 6, 0, 1]


def test_region_report_compares_on_the_same_elements():
    region = np.array([0, 0, 1, 1, 1, 2])
    target = np.array([1.0, 2.0, 0.0, 0.0, 4.0, 5.0])
    model = np.array([1.5, 2.0, 1.0, 0.0, 4.0, np.nan])
    base = np.array([2.0, np.nan, 0.0, 0.0, 0.0, 5.0])
    zeros = np.zeros(6, int)
    outputs = TaskOutputs(kinds.get("point"), target, {"prediction": model}, zeros, zeros, zeros,
                          {"persistence": {"prediction": base}}, 0.0, region=region)
    report = region_report(outputs, grid(1, 4))
    assert report["count"] == [2, 3, 1, 0]
    assert report["mae"][:2] == pytest.approx([0.25, 1 / 3]) and all(math.isnan(v) for v in report["mae"][2:])
    persistence_columns = report["baselines"]["persistence"]
    assert persistence_columns["model_mae"][0] == pytest.approx(0.5)  # element 1 has no baseline: left out
    assert persistence_columns["mae"][:2] == pytest.approx([1.0, 4 / 3])
    assert report["beats"]["persistence"] == {"regions": 2, "ties": 0, "of": 2}


@pytest.mark.slow
def test_a_spatial_run_reports_per_region_and_draws_the_error_map(tmp_path):
    with fake_plugins(), spatial_fakes():
        doc = document(train={"epochs": 1, "batch_size": 16})
        doc["run"]["out_dir"] = str(tmp_path)
        spec = build_spec(doc)
        directory = RunDirectory.create(tmp_path, "spatial")
        trainer = Trainer(spec, prepare(spec), directory=directory)
        summary = trainer.fit()
    val = summary["evaluation"]["val"]["tasks"]["cellwise"]
    assert val["regions"]["ids"] == list(grid(2, 3).ids) and sum(val["regions"]["count"]) == val["count"]
    assert set(val["baselines"]) == {"persistence", "seasonal_naive", "moving_average_7", "moving_average_28"}
    assert set(val["regions"]["beats"]) == set(val["baselines"])
    assert math.isfinite(val["metrics"]["mase"])  # the naive scale pooled over regions
    assert (directory.plots / error_map_name("cellwise", "val")).stat().st_size > 10_000
    written = json.loads(directory.evaluation("val").read_text())
    assert written["tasks"]["cellwise"]["regions"]["beats"]["persistence"]["of"] == 6
    lines = evaluation_lines(summary["evaluation"]["val"], "val")
    assert any("per region, beats persistence in" in line for line in lines)


def test_the_guard_report_names_the_region_of_a_spatial_input_s_largest_value():
    raw = torch.zeros(2, 5, 3, 2)
    raw[1, 4, 2, 0] = 1e6
    raw[0, 1, 1, 1] = float("nan")
    batch = Batch({"cells": Observed.build(raw)}, {}, calendar_for(np.array([19000, 19001]), 5, 2),
                  torch.tensor([7, 8]))
    info = SourceInfo("cells", "daily", ("a", "b"), regions=grid(1, 3))
    found = extreme_inputs(batch, [], {"cells": info})
    assert found[0]["feature"] == "a@g02" and found[0]["sample"] == 8 and found[0]["extreme"]
    assert found[0]["date"] == str(np.datetime64(19001, "D"))


def test_the_guard_report_names_the_region_of_a_spatial_target_s_largest_value():
    raw = torch.zeros(2, 2, 3, 1)  # [N, span, R, F]: two samples, span 2, three regions, one feature
    raw[0, 1, 2, 0] = -40.0
    raw[1, 0, 0, 0] = float("nan")  # unobserved
    target = TargetInfo("cellwise", "cells", "daily", ("a",), horizon=7, span=2, regions=grid(1, 3))
    batch = Batch({}, {"cellwise": Observed.build(raw)}, calendar_for(np.array([19000, 19001]), 5, 2),
                  torch.tensor([7, 8]))
    found = extreme_targets(batch, [], {"cellwise": target})
    assert found == [{"task": "cellwise", "feature": "a@g02", "sample": 7, "anchor": str(np.datetime64(19000, "D")),
                      "date": str(np.datetime64(19000 + 7, "D")), "value": -40.0, "extreme": True}]
    report = build_report(failure="loss", step=1, epoch=1, batch_index=1, micro_batch=None, micro_batches=1,
                          loss=math.nan, grad_norm=math.nan, culprit=None, rows=[0], batch=batch, sources={},
                          bad_parameters=(), targets={"cellwise": target}) | {"replayed": True}
    assert "Extreme targets: cellwise.a@g02 = -40" in paragraph(report)


def test_a_spatial_run_that_fails_before_training_leaves_no_directory(tmp_path, capsys):
    """The data report of a spatial source draws a map too (plots/data_regions_SOURCE.png); a run that fails
    after the report but before training (fp16 needs CUDA) still leaves nothing behind."""
    from mrframe.cli import main

    with fake_plugins(), spatial_fakes():
        path = tmp_path / "spatial.toml"
        path.write_text(build_spec(document(train={"epochs": 1, "precision": "fp16"})).to_toml())
        with pytest.raises(SystemExit) as exit_:
            main(["run", str(path), "--out", str(tmp_path / "runs"), "--set", "train.device=cpu"])
    assert exit_.value.code == 2, capsys.readouterr().err
    assert "fp16" in capsys.readouterr().err
    assert not any((tmp_path / "runs").iterdir())
