"""Cross entropy and focal loss against their published formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.classification import (
    CrossEntropy,
    CrossEntropyConfig,
    Focal,
    FocalConfig,
    sigmoid_focal_loss,
)

from mrframe.interfaces import TargetInfo

SHAPE = (2, 3, 4)


def info() -> TargetInfo:
    return TargetInfo("cls", "labels", "daily", ("a", "b", "c", "d"), horizon=1, span=3, units="raw")


def torchvision_sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2.0):
    """The formula published with ``torchvision.ops.sigmoid_focal_loss`` (reduction "none"), written out
    independently here because torchvision cannot be installed in this environment."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    alpha=st.one_of(st.just(-1.0), st.floats(0.0, 1.0)),
    gamma=st.floats(0.0, 5.0),
    scale=st.floats(0.1, 8.0),
)
def test_binary_focal_matches_torchvision_formula(seed, alpha, gamma, scale):
    generator = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 2, SHAPE, generator=generator).double()
    expected = torchvision_sigmoid_focal_loss(logits, targets, alpha, gamma)
    assert torch.allclose(sigmoid_focal_loss(logits, targets, alpha, gamma), expected, rtol=1e-9, atol=1e-12)
    plugin = Focal(FocalConfig(alpha=alpha, gamma=gamma), info())
    mean = plugin({"logits": logits}, targets, torch.ones(SHAPE, dtype=torch.bool)).value
    assert torch.isclose(mean, expected.mean(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 0.9, 2.0])
def test_focal_gradients_are_finite_for_gamma_below_one_and_saturated_logits(gamma):
    logits = torch.tensor([100.0, -100.0, 100.0, -100.0, 0.0, 30.0]).requires_grad_(True)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    loss = sigmoid_focal_loss(logits, targets, 0.25, gamma).sum()
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # the direct formula has an infinite derivative of (1 - p_t)^γ at p_t = 1 for γ < 1
    direct = logits.detach().clone().requires_grad_(True)
    (direct_grad,) = torch.autograd.grad(torchvision_sigmoid_focal_loss(direct, targets, 0.25, gamma).sum(), direct)
    if 0 < gamma < 1:
        assert not torch.isfinite(direct_grad).all()
    else:
        assert torch.allclose(grad, direct_grad, atol=1e-6)


def test_multi_class_focal_with_per_class_alpha():
    generator = torch.Generator().manual_seed(3)
    logits = 4 * torch.randn(*SHAPE, 3, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 3, SHAPE, generator=generator)
    alpha, gamma = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), 1.5
    p = torch.softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    expected = -(alpha[targets] * (1 - p) ** gamma * torch.log(p)).mean()
    plugin = Focal(FocalConfig(gamma=gamma, class_alpha=(0.2, 0.5, 0.3)), info())
    value = plugin({"logits": logits}, targets.double(), torch.ones(SHAPE, dtype=torch.bool)).value
    assert torch.isclose(value, expected, rtol=1e-10)
    two_class = Focal(FocalConfig(gamma=gamma, class_alpha=(1.0, 2.0)), info())
    with pytest.raises(ValueError, match="class_alpha has 2 entries"):
        two_class({"logits": logits}, targets.double(), torch.ones(SHAPE, dtype=torch.bool))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    smoothing=st.floats(0.0, 0.5),
    weights=st.one_of(st.just(()), st.tuples(*[st.floats(0.1, 5.0)] * 4)),
)
def test_cross_entropy_matches_torch_with_weights_and_smoothing(seed, smoothing, weights):
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(*SHAPE, 4, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 4, SHAPE, generator=generator)
    mask = torch.rand(SHAPE, generator=generator) < 0.7
    mask[0, 0, 0] = True
    plugin = CrossEntropy(CrossEntropyConfig(class_weights=weights, label_smoothing=smoothing), info())
    value = plugin({"logits": logits}, targets.double(), mask).value
    expected = F.cross_entropy(
        logits[mask], targets[mask], weight=torch.tensor(weights, dtype=torch.float64) if weights else None,
        label_smoothing=smoothing,
    )
    assert torch.isclose(value, expected, rtol=1e-9)


def test_binary_cross_entropy_is_bce_with_smoothed_targets():
    generator = torch.Generator().manual_seed(4)
    logits = 3 * torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 2, SHAPE, generator=generator).double()
    plugin = CrossEntropy(CrossEntropyConfig(label_smoothing=0.1), info())
    value = plugin({"logits": logits}, targets, torch.ones(SHAPE, dtype=torch.bool)).value
    expected = F.binary_cross_entropy_with_logits(logits, targets * 0.9 + 0.05)
    assert torch.isclose(value, expected, rtol=1e-9)


@pytest.mark.parametrize("bad", [1.5, -1.0, 3.0])
def test_observed_targets_that_are_not_class_ids_are_reported(bad):
    targets = torch.zeros(SHAPE)
    targets[1, 1, 1] = bad
    mask = torch.ones(SHAPE, dtype=torch.bool)
    logits = torch.zeros(*SHAPE, 3)
    for plugin in (CrossEntropy(CrossEntropyConfig(), info()), Focal(FocalConfig(), info())):
        with pytest.raises(ValueError, match="class ids"):
            plugin({"logits": logits}, targets, mask)
    mask[1, 1, 1] = False  # not observed: fine
    CrossEntropy(CrossEntropyConfig(), info())({"logits": logits}, targets, mask)


def test_wrong_prediction_shapes_and_keys_are_reported():
    plugin = CrossEntropy(CrossEntropyConfig(), info())
    mask = torch.ones(SHAPE, dtype=torch.bool)
    with pytest.raises(ValueError, match="'logits'"):
        plugin(torch.zeros(SHAPE), torch.zeros(SHAPE), mask)
    with pytest.raises(ValueError, match="fit neither"):
        plugin({"logits": torch.zeros(2, 3, 5)}, torch.zeros(SHAPE), mask)


def test_focal_alpha_must_be_a_probability_or_minus_one():
    with pytest.raises(ValueError, match="-1 to disable"):
        FocalConfig(alpha=1.5)
