"""The core's masked reductions: junk at masked places reaches neither value nor gradient; nothing observed
gives exact zeros."""

import pytest
import torch

from mrframe.masking import masked_mean, masked_mean_over, masked_softmax, masked_sum, observed_or
from mrframe.testing.inputs import JUNK


def _inputs():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=generator)
    mask = torch.rand(3, 5, 4, generator=generator) < 0.6
    mask[1] = False  # a sample with nothing observed
    return x, mask


@pytest.mark.parametrize("reduce", [
    lambda x, m: masked_mean(observed_or(x, m).exp(), m).value,
    lambda x, m: masked_sum(observed_or(x, m).exp(), m, dim=1).sum(),
    lambda x, m: masked_mean_over(observed_or(x, m).exp(), m, dim=1).sum(),
    lambda x, m: (masked_softmax(x, m, dim=-1) * torch.arange(4.0)).sum(),
])
def test_junk_at_masked_places_changes_nothing(reduce):
    x, mask = _inputs()
    clean = x.clone().requires_grad_(True)
    base = reduce(clean, mask)
    base.backward()
    for junk in JUNK:
        dirty = torch.where(mask, x, torch.tensor(junk)).requires_grad_(True)
        value = reduce(dirty, mask)
        value.backward()
        assert torch.equal(value, base) and torch.equal(dirty.grad, clean.grad), junk


def test_nothing_observed_gives_exact_zeros():
    x, mask = _inputs()
    assert masked_mean(x, torch.zeros_like(mask)).value.item() == 0.0
    assert torch.equal(masked_mean_over(x, mask, dim=(1, 2))[1], torch.tensor(0.0))
    weights = masked_softmax(x, mask, dim=-1)
    assert torch.equal(weights[1], torch.zeros(5, 4))
    rows = mask.any(-1)
    assert torch.allclose(weights.sum(-1)[rows], torch.ones(int(rows.sum())))


def test_masked_mean_is_the_mean_of_the_observed():
    x, mask = _inputs()
    result = masked_mean(x, mask)
    assert torch.allclose(result.value, x[mask].mean()) and int(result.count) == int(mask.sum())
    assert torch.allclose(masked_mean_over(x, mask, dim=1)[0, 0], x[0, :, 0][mask[0, :, 0]].mean())
