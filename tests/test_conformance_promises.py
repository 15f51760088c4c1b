"""Each promise the kit added catches a deliberately broken plugin that every other promise lets through:
mask ignored, causality broken at one step, cross-talk between samples, a batch of one, float64, a loss of the
wrong sign, a wrong count, unbounded probabilities (sources: test_conformance_sources.py)."""


import attrs
import pytest
import torch

from mrframe.config import field
from mrframe.interfaces import Loss
from mrframe.observed import State, Stream, TaskLoss
from mrframe.testing import (
    ConformanceError,
    check_encoder,
    check_fusion,
    check_head,
    check_loss,
)
from mrframe.testing.promises import failures
from tests.fakes import EmptyConfig, Identity, LastStepHead, PointwiseEncoder, SquaredError


def broken(kind, plugin, **options):
    """The names of the promises ``plugin`` breaks."""
    return sorted(p.name for p, _ in failures(kind, plugin, **options))


ALSO = {"independent-samples": ["batch-of-one"]}
"""What else a plugin breaks when it breaks a promise: mixing samples changes a batch of one's output too."""


def only(promise):
    return sorted([promise, *ALSO.get(promise, [])])


# ------------------------------------------------------------------------------------------------ encoders


class IgnoresMask(PointwiseEncoder):
    """Reads masked_values() but never the mask: a missing value is an observed zero."""

    def forward(self, x, calendar):
        hidden = torch.where(x.present.unsqueeze(-1), self.value(x.masked_values()), self.none)
        return Stream(hidden, x.present)


class PeeksAtStep6(PointwiseEncoder):
    """Step 5 reads step 6: a leak at one step, none of the old kit's probed steps (0, T/3, T/2, T-2)."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        leak = torch.zeros_like(out.hidden)
        leak[:, 5] = self.value(x.masked_values()[:, 6])
        return Stream(out.hidden + leak, out.present)


class CentresOverBatch(PointwiseEncoder):
    """Subtracts the batch mean: each sample's output depends on the others."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden - out.hidden.mean(0, keepdim=True), out.present)


class SqueezesBatch(PointwiseEncoder):
    """squeeze() drops the batch axis of a batch of one."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden.squeeze(0), out.present.squeeze(0))


class Float32Output(PointwiseEncoder):
    """Casts its output to float32 whatever its parameters and inputs are."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden.float(), out.present)


@attrs.frozen
class UnboundedDropoutConfig:
    dropout: float = field(0.1, "dropout probability")


class UnboundedDropout(PointwiseEncoder):
    Config = UnboundedDropoutConfig

    def __init__(self, config, source, d_model):
        super().__init__(PointwiseEncoder.Config(), source, d_model)


@pytest.mark.parametrize(("cls", "promise", "message"), [
    (IgnoresMask, "uses-mask", "ignores the mask"),
    (PeeksAtStep6, "causal", r"outputs at step <= 5 changed"),
    (CentresOverBatch, "independent-samples", "cross-talk between samples"),
    (SqueezesBatch, "batch-of-one", "fails on a batch of one"),
    (Float32Output, "float64", "give torch.float32 outputs"),
    (UnboundedDropout, "config-bounds", "config key 'dropout' reads as a probability"),
])
def test_encoder_promise_is_caught(cls, promise, message):
    assert broken("encoder", cls) == only(promise)
    with pytest.raises(ConformanceError, match=message):
        check_encoder(cls)


def test_a_correct_encoder_keeps_every_promise():
    assert broken("encoder", PointwiseEncoder) == []
    assert broken("encoder", PointwiseEncoder, resolution="monthly") == []


# ------------------------------------------------------------------------------------------------ fusion


class DayReadsNextDay(Identity):
    """Day 7 reads day 8."""

    def forward(self, state):
        hidden = state.daily.hidden.clone()
        hidden[:, 7] = hidden[:, 7] + state.daily.hidden[:, 8]
        return state.replace(daily=Stream(hidden, state.daily.present))


class FusesOverBatch(Identity):
    def forward(self, state):
        hidden = state.daily.hidden + state.daily.hidden.mean(0, keepdim=True)
        return state.replace(daily=Stream(hidden, state.daily.present))


class Float32Fusion(Identity):
    def forward(self, state):
        return state.replace(daily=Stream(state.daily.hidden.float(), state.daily.present))


@pytest.mark.parametrize(("cls", "promise", "message"), [
    (DayReadsNextDay, "causal", "not causal: daily outputs up to day 7"),
    (FusesOverBatch, "independent-samples", "cross-talk between samples"),
    (Float32Fusion, "float64", "give torch.float32 outputs"),
])
def test_fusion_promise_is_caught(cls, promise, message):
    assert broken("fusion", cls) == only(promise)
    with pytest.raises(ConformanceError, match=message):
        check_fusion(cls)


# ------------------------------------------------------------------------------------------------ heads


class NormalisesOverBatch(LastStepHead):
    def forward(self, state):
        out = super().forward(state)
        return out - out.mean(0, keepdim=True)


class SqueezingHead(LastStepHead):
    def forward(self, state: State):
        out = self.linear(state.daily.hidden[:, -1].squeeze())
        return out.view(-1, self.target.span, self.target.n_features) if out.dim() == 2 else out


class Float32Head(LastStepHead):
    def forward(self, state):
        return super().forward(state).float()


@pytest.mark.parametrize(("cls", "promise", "message"), [
    (NormalisesOverBatch, "independent-samples", "cross-talk between samples"),
    (SqueezingHead, "batch-of-one", "batch of one"),
    (Float32Head, "float64", "give torch.float32 outputs"),
])
def test_head_promise_is_caught(cls, promise, message):
    assert broken("head", cls) == only(promise)
    with pytest.raises(ConformanceError, match=message):
        check_head(cls)


# ------------------------------------------------------------------------------------------------ losses


class NegatedError(SquaredError):
    """Lower is worse: descending it runs away from the target."""

    def forward(self, prediction, values, mask):
        result = super().forward(prediction, values, mask)
        return TaskLoss(-result.value, result.count, result.size)


class CountsEveryElement(SquaredError):
    def forward(self, prediction, values, mask):
        result = super().forward(prediction, values, mask)
        return TaskLoss(result.value, torch.tensor(mask.numel()), result.size)


class CovarianceCountsEveryElement(Loss):
    """A covariance loss (not elementwise) whose count includes unobserved elements."""

    Config = EmptyConfig
    prediction_kind = "covariance"

    def forward(self, prediction, values, mask):
        value = (prediction["covariance"] - torch.eye(values.shape[-1])).square().mean()
        value = torch.where(mask.any(), value, torch.zeros(()))
        return TaskLoss(value, torch.where(mask.any(), mask.numel(), 0), mask.numel())


class Float32Loss(SquaredError):
    def forward(self, prediction, values, mask):
        result = super().forward(prediction, values, mask)
        return TaskLoss(result.value.float(), result.count, result.size)


@pytest.mark.parametrize(("cls", "promise", "message"), [
    (NegatedError, "toward-target", "moved the prediction away from the target"),
    (CountsEveryElement, "count", "TaskLoss.count must be the number of observed target elements"),
    (CovarianceCountsEveryElement, "count", r"TaskLoss.count \(\d+\) must lie between 0 and the observed"),
    (Float32Loss, "float64", "give a torch.float32 loss"),
])
def test_loss_promise_is_caught(cls, promise, message):
    assert broken("loss", cls) == only(promise)
    with pytest.raises(ConformanceError, match=message):
        check_loss(cls)


def test_a_regulariser_is_not_judged_toward_the_target():
    from mrframe.testing.promises import NotApplicable, find

    class Regulariser(SquaredError):
        def forward(self, prediction, values, mask):
            return super().forward(prediction, torch.zeros_like(values), mask)

    with pytest.raises(NotApplicable, match="does not read the target"):
        find("loss", "toward-target").check(Regulariser, "loss Regulariser")


def test_every_broken_promise_is_reported_at_once():
    class Both(PeeksAtStep6, Float32Output):
        pass

    with pytest.raises(ConformanceError, match=r"2 promises broken:\n  \[causal\].*\n  \[float64\]"):
        check_encoder(Both)
