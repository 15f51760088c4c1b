"""Each weighting policy (and a few losses) trained end to end through the spec, as a user would run them."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from torch import nn

from mrframe import registry
from mrframe.data.pipeline import prepare
from mrframe.engine.trainer import Trainer
from mrframe.hooks import plugin_manager
from mrframe.interfaces import Head
from mrframe.spec import build_spec

pytestmark = [pytest.mark.plugins, pytest.mark.slow]


def document(weighting: dict, loss: dict | None = None) -> dict:
    return {
        "version": 1,
        "run": {"name": "objectives", "seed": 3},
        "data": {"daily_window": 14, "monthly_window": 2, "split": {"val_from": "2022-06-01", "test_from": "2022-09-01"}},
        "model": {"d_model": 8},
        "sources": {
            "activity": {"plugin": "synthetic", "start": "2022-01-01", "periods": 300, "features": 3, "missing": 0.2},
            "survey": {
                "plugin": "synthetic", "resolution": "monthly", "start": "2021-10-01", "periods": 13,
                "features": 2, "missing": 0.3, "seed": 1,
            },
        },
        "encoders": {"activity": {"plugin": "recurrent"}},
        "fusion": [],
        "heads": {
            "next_day": {"plugin": "regression", "target": {"source": "activity", "horizon": 1}, "loss": loss or {"plugin": "masked-mse"}},
            "next_month": {
                "plugin": "regression", "target": {"source": "survey", "horizon": 1}, "loss": {"plugin": "masked-mae"},
            },
        },
        "weighting": weighting,
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "lr": 3e-3},
    }


def train(doc: dict) -> Trainer:
    spec = build_spec(doc)
    trainer = Trainer(spec, prepare(spec), directory=None, hooks=plugin_manager())
    trainer.summary_ = trainer.fit()
    return trainer


@pytest.mark.parametrize(
    "weighting",
    [
        {"plugin": "kendall"},
        {"plugin": "softplus-kendall"},
        {"plugin": "a3dro", "warmup_epochs": 1, "min_availability": 0.2},
        {"plugin": "pcgrad", "seed": 1},
    ],
    ids=lambda w: w["plugin"],
)
def test_every_policy_trains_with_finite_losses_and_reports_weights(weighting):
    trainer = train(document(weighting))
    final = trainer.summary_["final"]
    assert math.isfinite(final["train_loss"]) and math.isfinite(final["val_loss"])
    for task in ("next_day", "next_month"):
        assert math.isfinite(final[f"train/{task}/loss"]) and final[f"weight/{task}"] >= 0
    if weighting["plugin"] == "a3dro":
        assert trainer.weighting.anchored.all()  # baselines fixed after the warm-up epoch
        score = trainer.weighting.anchored_score({t: final[f"val/{t}/loss"] for t in ("next_day", "next_month")})
        assert score is not None and math.isfinite(score)
    if weighting["plugin"] in ("kendall", "softplus-kendall"):
        assert any(p.abs().sum() > 0 for p in trainer.weighting.parameters())  # learned by the run's optimizer
    state = trainer.checkpoint_state()["weighting"]
    assert all(torch.isfinite(v.double()).all() for v in state.values())


@attrs.frozen
class _NoOptions:
    pass


class GaussianHead(Head):
    """A test head predicting ``{"mean", "log_var"}`` from the last daily state (the prediction convention)."""

    Config = _NoOptions
    prediction_kind = "gaussian"

    def __init__(self, config, model, target):
        super().__init__(config, model, target)
        self.out = nn.Linear(model.d_model, 2 * target.span * target.n_features)

    def forward(self, state):
        mean, log_var = self.out(state.daily.hidden[:, -1]).chunk(2, dim=-1)
        shape = (-1, self.target.span, self.target.n_features)
        return {"mean": mean.reshape(shape), "log_var": log_var.reshape(shape)}


def test_a_loss_with_options_trains_from_the_spec_with_a3dro():
    doc = document({"plugin": "a3dro"}, loss={"plugin": "gaussian-nll", "full": True, "min_log_var": -1.8})
    doc["heads"]["next_day"]["plugin"] = "test-gaussian"
    with registry.registered("head", "test-gaussian", GaussianHead):
        trainer = train(doc)
    assert math.isfinite(trainer.summary_["final"]["train_loss"])
    assert math.isfinite(trainer.summary_["final"]["val/next_day/loss"])


def test_unknown_loss_options_are_spec_errors_with_a_suggestion():
    from mrframe.errors import SpecError

    with pytest.raises(SpecError, match="did you mean 'label_smoothing'"):
        build_spec(document({"plugin": "uniform"}, loss={"plugin": "cross-entropy", "label_smoothin": 0.1}))
    assert registry.load("loss", "cross-entropy")
