"""Source dropout hides whole sources of training samples through their masks, and nothing else."""

import pytest
import torch

from mrframe.observed import Observed
from mrframe.source_dropout import SourceDropout


def inputs(batch: int = 64) -> dict[str, Observed]:
    torch.manual_seed(0)
    daily = torch.randn(batch, 10, 3)
    daily[torch.rand(batch, 10, 3) < 0.3] = float("nan")
    return {"daily": Observed.build(daily), "monthly": Observed.build(torch.randn(batch, 4, 2))}


def test_training_hides_whole_sources_per_sample_through_the_mask():
    x = inputs()
    torch.manual_seed(1)
    out = SourceDropout(0.5).train()(x)
    for name, before in x.items():
        after = out[name]
        dropped = ~after.mask.flatten(1).any(1) & before.mask.flatten(1).any(1)
        assert 10 < int(dropped.sum()) < 54, name  # about half of the samples
        assert not after.values[dropped].any()  # hidden, never observed zeros
        kept = ~dropped
        assert torch.equal(after.values[kept], before.values[kept]) and torch.equal(after.mask[kept], before.mask[kept])
    torch.manual_seed(1)
    again = SourceDropout(0.5).train()(x)
    assert all(torch.equal(again[n].mask, out[n].mask) for n in x)  # drawn from torch's generator: reproducible


def test_evaluation_and_zero_probability_change_nothing_and_draw_nothing():
    x = inputs()
    assert SourceDropout(0.5).eval()(x) is x
    state = torch.get_rng_state()
    assert SourceDropout(0.0).train()(x) is x
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="source dropout must be in"):
        SourceDropout(1.0)
