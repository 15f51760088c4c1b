"""The spatial checks of the kit pass a correct spatial encoder and head, and catch each broken promise."""

import pytest
import torch
from torch import nn

from mrframe.observed import RegionalStream, Stream
from mrframe.testing import ConformanceError, check_encoder, check_head, check_source
from mrframe.testing.promises import failures
from tests.spatial_fakes import RegionLastHead, RegionPointwise, RegionWaveSource


class MixesMaskedValues(RegionPointwise):
    """Adds the mean over regions of the raw values: a region's masked junk reaches every region."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        leak = self.value(x.values.mean(2))  # x.values, not masked_values(): junk written after construction leaks
        return Stream(out.hidden + leak, out.present, out.regional)


class RegionMaskBroadcast(RegionPointwise):
    """Treats a region as fully observed when any of its features is: reduces the mask, broadcasts it back."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        broad = x.region_present.unsqueeze(-1).expand_as(x.mask)
        values = torch.where(broad, x.values, torch.zeros(()))
        regional = RegionalStream(out.regional.hidden + self.value(values).mean(1, keepdim=True),
                                  out.regional.present, out.regional.ends)
        return Stream(out.hidden, out.present, regional)


class PositionalRegions(RegionPointwise):
    """A learned embedding per region position: not permutation-equivariant."""

    def __init__(self, config, source, d_model):
        super().__init__(config, source, d_model)
        self.where = nn.Parameter(torch.randn(len(source.regions), d_model))

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        regional = RegionalStream(out.regional.hidden + self.where, out.regional.present, out.regional.ends)
        return Stream(out.hidden, out.present, regional)


class FutureRegions(RegionPointwise):
    """Says its single regional state ends on step 0, but it has read the whole window."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        r = out.regional
        states = torch.cat([r.hidden, r.hidden], dim=1)
        return Stream(out.hidden, out.present, RegionalStream(states, r.present.expand(-1, 2, -1),
                                                              torch.tensor([0, x.shape[1] - 1])))


class NoRegional(RegionPointwise):
    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        return Stream(out.hidden, out.present)


@pytest.mark.parametrize(("cls", "message"), [
    (RegionPointwise, None),
    (MixesMaskedValues, "masked-input invariance broken"),
    (RegionMaskBroadcast, "masked-input invariance broken"),
    (PositionalRegions, "not permutation-equivariant"),
    (FutureRegions, "not causal: a regional state"),
    (NoRegional, "must hand on its per-region states"),
])
def test_check_spatial_encoder(cls, message):
    if message is None:
        check_encoder(cls, resolution="daily")
    else:
        with pytest.raises(ConformanceError, match=message):
            check_encoder(cls, resolution="daily")


class PositionalHead(RegionLastHead):
    def __init__(self, config, model, target):
        super().__init__(config, model, target)
        self.where = nn.Parameter(torch.randn(len(target.regions), 1))

    def forward(self, state):
        return super().forward(state) + self.where


def test_check_spatial_head():
    check_head(RegionLastHead)
    with pytest.raises(ConformanceError, match="not permutation-equivariant"):
        check_head(PositionalHead)


def test_check_source_covers_spatial_frames():
    frame = check_source(RegionWaveSource)
    assert frame.regions is not None and len(frame.regions) == 6


class RegionsIgnoreMask(RegionPointwise):
    """Per-region tokens from masked_values() alone: a missing value is an observed zero."""

    def tokens(self, x):
        return torch.where(x.region_present.unsqueeze(-1), self.value(x.masked_values()), self.none)


class NationalPeeksAtStep6(RegionPointwise):
    """The national stream at step 5 reads step 6 (a leak at one step only)."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        leak = torch.zeros_like(out.hidden)
        leak[:, 5] = self.value(x.masked_values()[:, 6]).mean(1)
        return Stream(out.hidden + leak, out.present, out.regional)


class RegionsOverBatch(RegionPointwise):
    """Centres the regional states over the batch: samples meet."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        r = out.regional
        return Stream(out.hidden, out.present, RegionalStream(r.hidden - r.hidden.mean(0, keepdim=True), r.present,
                                                              r.ends))


@pytest.mark.parametrize(("cls", "promises", "message"), [
    (RegionsIgnoreMask, ["uses-mask"], "ignores the mask"),
    (NationalPeeksAtStep6, ["causal"], "the national stream at step <= 5 changed"),
    (RegionsOverBatch, ["batch-of-one", "independent-samples"], "cross-talk between samples"),
])
def test_new_spatial_encoder_promises_are_caught(cls, promises, message):
    assert sorted(p.name for p, _ in failures("encoder", cls, resolution="daily")) == promises
    with pytest.raises(ConformanceError, match=message):
        check_encoder(cls, resolution="daily")


class Float32RegionHead(RegionLastHead):
    def forward(self, state):
        return super().forward(state).float()


def test_a_spatial_head_in_float32_is_caught():
    assert [p.name for p, _ in failures("head", Float32RegionHead)] == ["float64"]
