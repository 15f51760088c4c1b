"""The kit must catch each broken promise: deliberately broken plugins fail with the right message."""

import attrs
import pytest
import torch
from torch import nn

from mrframe.interfaces import Encoder, StepContext, Weighted, Weighting
from mrframe.observed import Stream, TaskLoss
from mrframe.testing import (
    ConformanceError,
    check_encoder,
    check_fusion,
    check_head,
    check_loss,
    check_weighting,
)
from tests.fakes import Identity, LastStepHead, Mean, PointwiseEncoder, SquaredError


@attrs.frozen
class NoConfig:
    pass


class ReadsRawValues(PointwiseEncoder):
    """Uses values without re-applying the mask: junk written after construction leaks in."""

    def forward(self, x, calendar):
        present = x.present
        hidden = self.value(x.values) + self.status(x.mask.float())
        return Stream(torch.where(present.unsqueeze(-1), hidden, self.none), present)


class MultipliesByMask(PointwiseEncoder):
    """values * mask: NaN written after construction becomes NaN * 0 = NaN."""

    def forward(self, x, calendar):
        hidden = self.value(x.values * x.mask) + self.status(x.mask.float())
        return Stream(hidden, x.present)


class LooksAhead(PointwiseEncoder):
    """Adds the mean over the whole window: every step sees the future."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden + out.hidden.mean(dim=1, keepdim=True), out.present)


class MeanOverObserved(Encoder):
    """Averages observed features with 0/0 where nothing is observed."""

    Config = NoConfig

    def __init__(self, config, source, d_model):
        super().__init__(config, source, d_model)
        self.linear = nn.Linear(1, d_model)

    def forward(self, x, calendar):
        mean = x.masked_values().sum(-1, keepdim=True) / x.mask.sum(-1, keepdim=True)
        return Stream(self.linear(mean), x.present)


class WrongPresent(PointwiseEncoder):
    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden, torch.ones_like(out.present))


@pytest.mark.parametrize(("cls", "message"), [
    (PointwiseEncoder, None),
    (ReadsRawValues, "masked-input invariance broken"),
    (MultipliesByMask, "masked-input invariance broken"),
    (LooksAhead, "not causal"),
    (MeanOverObserved, "non-finite output"),
    (WrongPresent, "present must be True exactly"),
])
def test_check_encoder(cls, message):
    if message is None:
        check_encoder(cls)
        check_encoder(cls, resolution="monthly")
        return
    with pytest.raises(ConformanceError, match=message):
        check_encoder(cls)


class ReadsCurrentMonth(Identity):
    """Gives day t the month that contains it, which has not ended yet."""

    def forward(self, state):
        slot = state.calendar.month_slot.clamp(0, state.monthly.hidden.shape[1] - 1)
        context = torch.gather(state.monthly.hidden, 1, slot.unsqueeze(-1).expand(-1, -1, state.monthly.width))
        return state.replace(daily=Stream(state.daily.hidden + context, state.daily.present))


class SmoothsBothWays(Identity):
    def forward(self, state):
        hidden = state.daily.hidden
        smoothed = (hidden + torch.roll(hidden, -1, dims=1)) / 2
        return state.replace(daily=Stream(smoothed, state.daily.present))


class UndocumentedConfig(Identity):
    @attrs.frozen
    class Config:
        width: int = 3


@pytest.mark.parametrize(("cls", "message"), [
    (Identity, None),
    (ReadsCurrentMonth, "not causal: daily outputs"),
    (SmoothsBothWays, "not causal: daily outputs"),
    (UndocumentedConfig, "config key 'width' has no doc"),
])
def test_check_fusion(cls, message):
    if message is None:
        check_fusion(cls)
        return
    with pytest.raises(ConformanceError, match=message):
        check_fusion(cls)


class FlatHead(LastStepHead):
    def forward(self, state):
        return super().forward(state).flatten(1)


class CountsInAGlobal(LastStepHead):
    calls = 0

    def forward(self, state):
        type(self).calls += 1
        return super().forward(state) * type(self).calls


def test_check_head():
    check_head(LastStepHead)
    with pytest.raises(ConformanceError, match=r"must be \[B, span, F\]"):
        check_head(FlatHead)
    with pytest.raises(ConformanceError, match="state_dict round trip"):
        check_head(CountsInAGlobal)


class MeanOverValid(SquaredError):
    def forward(self, prediction, values, mask):
        error = torch.where(mask, prediction - values, 0.0)
        return TaskLoss(error.square().sum() / mask.sum(), mask.sum(), mask.numel())


class MultipliesTargetsByMask(SquaredError):
    def forward(self, prediction, values, mask):
        error = (prediction - values) * mask
        return TaskLoss(error.square().sum() / mask.sum().clamp(min=1), mask.sum(), mask.numel())


class DetachedZero(SquaredError):
    def forward(self, prediction, values, mask):
        if not mask.any():
            return TaskLoss(torch.zeros(()), mask.sum(), mask.numel())
        return super().forward(prediction, values, mask)


@pytest.mark.parametrize(("cls", "message"), [
    (SquaredError, None),
    (MeanOverValid, "with no valid target the loss must be exactly 0"),
    (MultipliesTargetsByMask, "target values at masked places changed the loss"),
    (DetachedZero, "must still be differentiable"),
])
def test_check_loss(cls, message):
    if message is None:
        check_loss(cls)
        return
    with pytest.raises(ConformanceError, match=message):
        check_loss(cls)


class HiddenTerm(Weighting):
    """Reports uniform weights but adds a variance term the weights do not show."""

    Config = NoConfig

    def combine(self, losses, context: StepContext) -> Weighted:
        values = torch.stack([loss.value for loss in losses.values()])
        total = values.mean() + values.var()
        return Weighted(total, {t: torch.tensor(1 / len(losses)) for t in losses})


class WeighsAbsentTasks(Mean):
    pass


def test_check_weighting():
    with pytest.raises(ConformanceError, match="but the gradient sees"):
        check_weighting(HiddenTerm)
    with pytest.raises(ConformanceError, match="has no valid target but weight"):
        check_weighting(WeighsAbsentTasks)  # the fake mean weighs every task, also those without targets
