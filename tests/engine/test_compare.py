"""A model beside its baselines, on hand-made outputs: verdicts, skill and the strongest baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mrframe import kinds
from mrframe.engine.compare import compare_with_baselines, evaluation_lines, summarise
from mrframe.engine.evaluate import TaskOutputs


def point_outputs(target, model, **baselines):  # noqa: ANN001, ANN003, ANN201
    """A point task's outputs over a split: targets, the model's predictions and each baseline's."""
    target = np.asarray(target, dtype=float)
    zeros = np.zeros(len(target), dtype=np.int64)
    return TaskOutputs(kinds.get("point"), target, {"prediction": np.asarray(model, dtype=float)}, zeros, zeros,
                       zeros, {name: {"prediction": np.asarray(b, dtype=float)} for name, b in baselines.items()},
                       0.0)


def test_skill_is_one_minus_the_model_mae_over_the_best_baseline_mae():
    outputs = point_outputs([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.0, 4.5], persistence=[2.0, 3.0, 4.0, 5.0],
                       moving_average_7=[1.0, 2.5, 3.5, 4.0])
    compared = compare_with_baselines(outputs)
    summary = summarise(compared)
    assert summary["strongest"] == "moving_average_7" and summary["skill"] == pytest.approx(1 - 0.25 / 0.25)
    assert compared["persistence"]["skill"] == pytest.approx(1 - 0.25 / 1.0)
    assert summary["beats_strongest"] is False  # a tie is no win


def test_a_baseline_without_error_is_the_strongest_and_not_beaten():
    """A sparse count that persistence gets exactly right (no event, no change) has a baseline MAE of 0:
    the model that errs there does not beat it, so it cannot beat "the strongest baseline"."""
    outputs = point_outputs([0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.2, 0.0], persistence=[0.0, 0.0, 0.0, 0.0],
                       moving_average_7=[1.0, 1.0, 1.0, 1.0])
    compared = compare_with_baselines(outputs)
    assert not compared["persistence"]["beats"] and compared["persistence"]["skill"] == -math.inf
    summary = summarise(compared)
    assert summary == {"skill": -math.inf, "strongest": "persistence", "beats_strongest": False}
    exact = compare_with_baselines(point_outputs([0.0, 0.0], [0.0, 0.0], persistence=[0.0, 0.0]))
    assert exact["persistence"]["skill"] == 0.0 and summarise(exact)["beats_strongest"] is False
    report = {"samples": 4, "split": "test", "tasks": {"t": {
        "kind": "point", "count": 4, "metrics": {"mae": 0.075}, "dropped": 0, "headline": "mae",
        "baselines": compared, **summary}}}
    assert "    skill -inf against the strongest baseline, persistence: does NOT beat it" in evaluation_lines(report, "x")


def test_the_console_shows_the_crps_beside_a_distributional_baseline_s():
    outputs = point_outputs([1.0, 2.0], [1.5, 2.5], moving_average_7=[1.0, 3.0], persistence=[0.0, 0.0])
    outputs.baselines["moving_average_7"]["crps"] = np.array([0.25, 0.25])
    outputs.columns["crps"] = np.abs(outputs.target - outputs.columns["prediction"])
    compared = compare_with_baselines(outputs)
    report = {"samples": 2, "split": "test", "tasks": {"t": {
        "kind": "point", "count": 2, "metrics": {"mae": 0.5}, "dropped": 0, "headline": "mae",
        "baselines": compared, **summarise(compared)}}}
    lines = evaluation_lines(report, "x")
    assert "    does NOT beat moving_average_7: mae 0.5 vs 0.5 on 2 targets (skill 0); crps 0.5 vs 0.25" in lines
    assert "    beats persistence: mae 0.5 vs 1.5 on 2 targets (skill 0.6667)" in lines  # no CRPS given for it
