"""Evaluation that tells the truth: NaN predictions dropped and counted, classification metrics and the
majority baseline, a gradient-surgery policy's accumulated steps, the fp16 scaler's overflow handling."""

from __future__ import annotations

import contextlib
import datetime as dt
import math

import attrs
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mrframe import registry
from mrframe.config import field
from mrframe.data.pipeline import prepare
from mrframe.engine.compare import evaluation_lines
from mrframe.engine.device import Precision
from mrframe.engine.evaluate import evaluate_split, evaluation_report
from mrframe.engine.predict import predict
from mrframe.engine.results import write_results
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.trainer import Trainer
from mrframe.interfaces import Head, Loss, Source, SourceFrame, StepContext, Weighted
from mrframe.metrics import MetricWarning
from mrframe.observed import TaskLoss
from mrframe.spec import load_spec

Uniform = pytest.importorskip("mrframe_objectives.uniform").Uniform


def fit(path, *overrides):  # noqa: ANN001, ANN002, ANN201
    spec = load_spec(path, overrides)
    trainer = Trainer(spec, prepare(spec))
    return trainer, trainer.fit()


def test_nan_predictions_are_dropped_counted_and_never_crash(tiny_spec, bomb):
    path = tiny_spec(encoder="bomb", missing=0.0, train="nonfinite = 'skip'",
                     encoder_keys='anchors = ["2022-05-10"]\nonce = false')
    trainer, summary = fit(path)
    last = trainer.log.epochs[-1]
    assert last["val/next/dropped"] == 3  # one sample, one step, three features
    assert math.isfinite(last["val/next/mae"]) and math.isnan(last["val/next/loss"]) and math.isnan(last["val_loss"])
    val = summary["evaluation"]["val"]["tasks"]["next"]
    assert val["dropped"] == 3 and math.isfinite(val["metrics"]["mae"])
    assert all(b["elements"] <= val["count"] - 3 for b in val["baselines"].values())


# ------------------------------------------------------------------------------ a classification task


@attrs.frozen
class LabelsConfig:
    classes: int = field(2, "number of classes", min=2)


class Labels(Source):
    """Daily class ids: the quantile bin of a persistent AR(1) process; 10% missing."""

    Config = LabelsConfig

    def load(self) -> SourceFrame:
        rng = np.random.default_rng(5)
        index = pd.date_range("2021-10-01", periods=304, freq="D")
        x = np.zeros(len(index))
        for t in range(1, len(index)):
            x[t] = 0.8 * x[t - 1] + rng.normal()
        edges = np.quantile(x, np.arange(1, self.config.classes) / self.config.classes)
        labels = np.digitize(x, edges).astype(float)
        labels[rng.random(len(index)) < 0.1] = np.nan
        return SourceFrame(pd.DataFrame({"regime": labels}, index=index), "daily")


class LogitHead(Head):
    Config = LabelsConfig

    @classmethod
    def kind_for(cls, config):  # noqa: ANN001, ANN206
        return "binary" if config.classes == 2 else "classes"

    def __init__(self, config, model, target):  # noqa: ANN001
        super().__init__(config, model, target)
        width = 1 if config.classes == 2 else config.classes
        self.out = nn.Linear(model.d_model, target.span * target.n_features * width)
        self.width = width

    def forward(self, state):  # noqa: ANN001, ANN201
        logits = self.out(state.daily.hidden[:, -1]).view(-1, self.target.span, self.target.n_features, self.width)
        return {"logits": logits[..., 0] if self.width == 1 else logits}


class ClassLoss(Loss):
    Config = LabelsConfig
    prediction_kind = "classes"
    also_accepts = ("binary",)

    def forward(self, prediction, values, mask):  # noqa: ANN001, ANN201
        logits = prediction["logits"]
        if logits.dim() == values.dim():
            per = nn.functional.binary_cross_entropy_with_logits(logits, values, reduction="none")
        else:
            per = nn.functional.cross_entropy(logits.movedim(-1, 1), values.long(), reduction="none")
        count = mask.sum()
        return TaskLoss(torch.where(mask, per, 0.0).sum() / count.clamp(min=1), count, mask.numel())


def classification_spec(tiny_spec, classes: int):  # noqa: ANN001, ANN201
    """The tiny spec with one classification head on the labels source instead of the regression head."""
    extra = f"""
        [sources.labels]
        plugin = "labels-test"
        classes = {classes}
        """
    path = tiny_spec(extra=extra)
    text = path.read_text().replace('[heads.next]\nplugin = "regression"\ntarget = { source = "daily", horizon = 3 }\n'
                                    'loss = { plugin = "masked-mse" }', f"""[heads.regime]
plugin = "logits-test"
classes = {classes}
target = {{ source = "labels", horizon = 2, units = "raw" }}
loss = {{ plugin = "class-loss-test", classes = {classes} }}""")
    path.write_text(text)
    return path


@contextlib.contextmanager
def classification_plugins():  # noqa: ANN201
    with registry.registered("source", "labels-test", Labels), registry.registered("head", "logits-test", LogitHead), \
            registry.registered("loss", "class-loss-test", ClassLoss):
        yield


@pytest.mark.parametrize("classes", [2, 3])
def test_classification_metrics_and_the_majority_baseline(tiny_spec, classes, tmp_path):
    path = classification_spec(tiny_spec, classes)
    with classification_plugins():
        trainer, summary = fit(path)
        outputs = evaluate_split(trainer.network, trainer.data, "test", 16, trainer.device)
    assert write_results(RunDirectory(tmp_path), "test", outputs, trainer.data.datasets["test"],
                         trainer.data.target_infos, "test") is None
    assert (tmp_path / "plots" / "reliability-test.png").is_file() and not (tmp_path / "plots" / "pit-test.png").exists()
    last = trainer.log.epochs[-1]
    for name in ("auc", "ap", "accuracy", "macro_f1", "brier", "ece"):
        assert math.isfinite(last[f"val/regime/{name}"]), name
    test = summary["evaluation"]["test"]["tasks"]["regime"]
    assert test["kind"] == ("binary" if classes == 2 else "classes") and test["headline"] == "brier"
    majority = test["baselines"]["majority"]
    assert majority["elements"] == test["count"] and isinstance(test["beats"]["majority"], bool)
    assert majority["baseline"]["auc"] == pytest.approx(0.5) or math.isnan(majority["baseline"]["auc"])


# ------------------------------------------------------------------------------ stepping details


class OwnBackward(Uniform):
    """Uniform weighting that writes the gradients itself, as gradient-surgery policies do."""

    owns_backward = True

    def backward(self, losses, context, shared):  # noqa: ANN001, ANN201
        result = self.combine(losses, context)
        result.total.backward()
        return Weighted(result.total.detach(), result.weights)


def test_accumulation_with_a_policy_that_owns_its_backward(tiny_spec):
    path = tiny_spec(missing=0.0, train="epochs = 1\nwarmup = 0.0\nlr = 0.0\nprecision = 'fp32'",  # as test_training
                     extra='[weighting]\nplugin = "own-backward"\n')
    with registry.registered("weighting", "own-backward", OwnBackward):
        small = Trainer(*_spec_and_data(path, "train.batch_size=16", "train.accumulate=4"))
        large = Trainer(*_spec_and_data(path, "train.batch_size=64"))
    for trainer in (small, large):
        trainer.network.train()
        assert trainer.train_epoch(lambda: False)
    for a, b in zip(small.network.parameters(), large.network.parameters(), strict=True):  # lr = 0: see test_training
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


def _spec_and_data(path, *overrides):  # noqa: ANN001, ANN002, ANN202
    spec = load_spec(path, overrides)
    return spec, prepare(spec)


def test_fp16_scaler_overflow_is_skipped_by_the_scaler_not_the_guard(tiny_spec, bomb):
    path = tiny_spec(encoder="bomb", encoder_keys='at_step = 0\nkind = "backward"\nonce = false')
    trainer = Trainer(*_spec_and_data(path))
    stepper = trainer.stepper
    stepper.scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**10)  # CPU stands in for CUDA fp16
    stepper.precision = Precision("cpu", None)
    batch = trainer.loader.dataset.batch(np.arange(8))
    before = [p.detach().clone() for p in trainer.network.parameters()]
    outcome = stepper.step([batch], [1.0], StepContext(0, 0, True))
    assert outcome.finite and outcome.overflow and not outcome.applied  # not the guard's business
    assert stepper.scaler.get_scale() == 2.0**9  # the scaler shrank its scale
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.network.parameters(), strict=True))
    stepper.overflows_in_a_row = 24  # the scale cannot be the reason any more: the guard takes over
    assert not stepper.step([batch], [1.0], StepContext(0, 0, True)).finite


def test_baselines_are_in_source_units_whatever_the_target_units(tiny_spec):
    """Persistence from the (normalised) input window is the same in source units for a normalised and a
    raw target: the first is converted back like the target, the second through the input's scaling."""
    reports = {}
    for units in ("normalised", "raw"):
        path = tiny_spec(name=f"{units}.toml", train="epochs = 1")
        text = path.read_text().replace('target = { source = "daily", horizon = 3 }',
                                        f'target = {{ source = "daily", horizon = 3, units = "{units}" }}')
        path.write_text(text)
        reports[units] = fit(path)[1]["evaluation"]["test"]["tasks"]["next"]["baselines"]
    for name in ("persistence", "seasonal_naive"):
        normalised, raw = reports["normalised"][name], reports["raw"][name]
        assert raw["elements"] == normalised["elements"] > 0
        assert raw["baseline"]["mae"] == pytest.approx(normalised["baseline"]["mae"], rel=1e-5)


def test_non_finite_class_predictions_are_dropped_never_class_zero(tiny_spec):
    """issue 15: evaluate crashed (roc_auc) when every multiclass prediction was non-finite, and predict turned a
    NaN class prediction into class 0."""
    path = classification_spec(tiny_spec, 3)
    with classification_plugins():
        trainer, _ = fit(path, "train.epochs=1")
        with torch.no_grad():
            trainer.network.model.heads["regime"].out.bias.fill_(math.nan)
        with pytest.warns(MetricWarning, match="no finite pair"):  # said once per metric, never a traceback
            report = evaluation_report(trainer.network, trainer.data, "test", 16, trainer.device)
        table = predict(trainer.network, trainer.data, [dt.date(2022, 6, 20)], trainer.device)
    task = report["tasks"]["regime"]
    assert task["count"] > 0 and task["dropped"] == task["count"]
    assert all(math.isnan(v) for v in task["metrics"].values())
    assert task["baselines"]["majority"]["elements"] == 0 and task["skill"] is None
    assert table["prediction"].isna().all() and table["p0"].isna().all()
    assert "undefined on every target" in "\n".join(evaluation_lines(report, "test"))


def test_skill_mase_and_a_split_without_targets(tiny_spec):
    """The skill is taken against the strongest baseline; a split with no target says why."""
    extra = """
        [heads.monthly]
        plugin = "regression"
        target = { source = "monthly", horizon = 0 }
        loss = { plugin = "masked-mse" }
        """
    path = tiny_spec(extra=extra, train="epochs = 1")
    path.write_text(path.read_text().replace("periods = 10", "periods = 6"))  # monthly data end in March 2022
    _, summary = fit(path)
    val = summary["evaluation"]["val"]["tasks"]
    assert val["monthly"]["count"] == 0
    assert val["monthly"]["note"] == "no val targets: monthly has no observation after 2022-03-01"
    lines = evaluation_lines(summary["evaluation"]["val"], "val")
    assert "  monthly [point, 0 targets]: no val targets: monthly has no observation after 2022-03-01" in lines
    assert not any("nan vs nan" in line for line in lines)
    daily = summary["evaluation"]["test"]["tasks"]["next"]
    skills = {name: b["skill"] for name, b in daily["baselines"].items()}
    assert set(skills) == {"persistence", "seasonal_naive", "moving_average_7", "moving_average_28"}
    assert daily["skill"] == min(skills.values()) and skills[daily["strongest"]] == daily["skill"]
    assert daily["beats_strongest"] == all(daily["beats"].values())
    assert math.isfinite(daily["metrics"]["mase"]) and daily["metrics"]["mase"] > 0
    assert "coverage_90" in daily["metrics"] and "coverage_90" not in summary["evaluation"]["val"]["tasks"]["next"]["metrics"]
