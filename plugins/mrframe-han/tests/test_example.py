"""examples/osint-han.toml trains end to end with ``mrframe run`` (at small settings) and reports its blocks."""

from __future__ import annotations

import contextlib
import json
import pathlib

import attrs
import pytest
import torch
import torch.nn.functional as F

from mrframe import registry
from mrframe.cli import main
from mrframe.interfaces import Loss
from mrframe.observed import TaskLoss
from mrframe.spec import load_spec

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "osint-han.toml"
SMALL = [
    "data.daily_window=60", "data.monthly_window=4", "data.stride=21", "model.d_model=16",
    "train.epochs=1", "encoders.equipment.layers=1", "fusion.3.layers=1", "fusion.4.layers=1",
]
# what docs/han.md tells users to add while mrframe-objectives has only masked-mse
POINT_FORECASTS = [
    "heads.next_month.loss.plugin=masked-mse", "heads.next_week.loss.plugin=masked-mse",
    "heads.fires.plugin=forecast", "heads.fires.loss.plugin=masked-mse", "heads.fires.target.units=normalised",
]


@attrs.frozen
class _NoKeys:
    pass


def _masked_mean(per_value: torch.Tensor, mask: torch.Tensor) -> TaskLoss:
    count = mask.sum()
    return TaskLoss(torch.where(mask, per_value, 0.0).sum() / count.clamp(min=1), count, mask.numel())


class _GaussianNLL(Loss):
    """In-test stand-in: ``0.5 * (log_var + (y - mean)^2 / exp(log_var))`` over observed targets."""

    Config = _NoKeys

    def forward(self, prediction, values, mask):
        error = torch.where(mask, values - prediction["mean"], 0.0)
        return _masked_mean(0.5 * (prediction["log_var"] + error.square() * torch.exp(-prediction["log_var"])), mask)


class _ZINB(Loss):
    """In-test stand-in: negative log-likelihood of raw counts under a zero-inflated negative binomial."""

    Config = _NoKeys

    def forward(self, prediction, values, mask):
        y = torch.where(mask, values, 0.0)
        log_mu, theta = prediction["log_mu"], F.softplus(prediction["theta"]) + 1e-4
        log_theta_mu = torch.logaddexp(torch.log(theta), log_mu)
        nb = (torch.lgamma(y + theta) - torch.lgamma(theta) - torch.lgamma(y + 1)
              + theta * (torch.log(theta) - log_theta_mu) + y * (log_mu - log_theta_mu))
        pi = prediction["pi_logit"]
        zero = torch.logaddexp(F.logsigmoid(pi), F.logsigmoid(-pi) + theta * (torch.log(theta) - log_theta_mu))
        return _masked_mean(-torch.where(y > 0, F.logsigmoid(-pi) + nb, zero), mask)


@pytest.fixture
def written_losses():
    """The losses the example names: mrframe-objectives' where installed, else the stand-ins above."""
    with contextlib.ExitStack() as stack:
        for name, stand_in in (("gaussian-nll", _GaussianNLL), ("zinb", _ZINB)):
            if name not in registry.names("loss"):
                stack.enter_context(registry.registered("loss", name, stand_in))
        yield


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    pytest.param([], id="as written"),
    pytest.param(POINT_FORECASTS, id="point forecasts with masked-mse"),
])
def test_example_trains_and_reports_every_block(overrides, tmp_path, capsys, written_losses):
    arguments = ["run", str(EXAMPLE), "--out", str(tmp_path)]
    for override in SMALL + overrides:
        arguments += ["--set", override]
    main(arguments)
    printed = capsys.readouterr().out
    assert "parameters (encoders.equipment" in printed
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    counts = summary["parameters"]
    spec = load_spec(EXAMPLE, SMALL + overrides)
    expected = {f"encoders.{n}" for n in spec.encoders} | {f"fusion[{i}]" for i in range(len(spec.fusion))}
    expected |= {f"heads.{n}" for n in spec.heads} | {"total"}
    assert set(counts) == expected
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]
    assert summary["status"] == "finished"
    assert all(isinstance(v, float) for v in summary["final"].values())
    assert all(torch.isfinite(torch.tensor(v)) for k, v in summary["final"].items() if k.endswith("loss"))
