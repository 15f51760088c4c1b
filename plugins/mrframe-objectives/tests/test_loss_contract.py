"""The contract every loss keeps, checked on each one as a spec loads it (through its entry point).

* no valid target: an exact 0 with ``count == 0`` that back-propagates (finite, zero gradients), never NaN;
* masked places do not matter: NaN, ±1e30 or -999 in the prediction or the target there change neither the
  value nor the gradient, and the gradient there is exactly 0;
* extreme but finite predictions at observed places give a finite value and finite gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from mrframe import registry
from mrframe.interfaces import TargetInfo

B, S, F, C = 3, 4, 2, 3
GARBAGE = (math.nan, 1e30, -1e30, -999.0)


RAW = ("cross-entropy", "focal", "zinb")  # class ids and counts arrive in the source's units


def target_info(units: str = "normalised") -> TargetInfo:
    return TargetInfo("task", "src", "daily", tuple(f"f{i}" for i in range(F)), horizon=S, span=S, units=units)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def point(seed: int) -> tuple[dict[str, torch.Tensor] | torch.Tensor, torch.Tensor]:
    return torch.randn(B, S, F, generator=_gen(seed)), torch.randn(B, S, F, generator=_gen(seed + 1))


def gaussian(seed: int):
    g = _gen(seed)
    return {"mean": torch.randn(B, S, F, generator=g), "log_var": torch.randn(B, S, F, generator=g)}, torch.randn(B, S, F, generator=g)


def multi_class(seed: int):
    g = _gen(seed)
    return {"logits": 3 * torch.randn(B, S, F, C, generator=g)}, torch.randint(0, C, (B, S, F), generator=g).float()


def binary(seed: int):
    g = _gen(seed)
    return {"logits": 3 * torch.randn(B, S, F, generator=g)}, torch.randint(0, 2, (B, S, F), generator=g).float()


def counts(seed: int):
    g = _gen(seed)
    prediction = {
        "log_mu": torch.randn(B, S, F, generator=g),
        "theta": torch.randn(B, S, F, generator=g),
        "pi_logit": torch.randn(B, S, F, generator=g),
    }
    return prediction, torch.poisson(torch.full((B, S, F), 2.0), generator=g)


def extreme_gaussian(seed: int):
    prediction, target = gaussian(seed)
    prediction["log_var"] = torch.tensor([-1e4, 1e4, -80.0, 80.0]).repeat(B * S * F // 4).view(B, S, F)
    return prediction, target


def extreme_logits(maker):
    def make(seed: int):
        prediction, target = maker(seed)
        logits = prediction["logits"]
        prediction["logits"] = torch.where(torch.rand(logits.shape, generator=_gen(seed)) < 0.5, -100.0, 100.0)
        return prediction, target
    return make


def extreme_counts(seed: int):
    prediction, target = counts(seed)
    size = prediction["log_mu"].shape
    prediction["log_mu"] = torch.tensor([-50.0, 50.0]).repeat(B * S * F // 2).view(size)
    prediction["theta"] = torch.tensor([-1e4, 1e8, 30.0]).repeat(B * S * F // 3).view(size)
    prediction["pi_logit"] = torch.tensor([100.0, -100.0]).repeat(B * S * F // 2).view(size)
    return prediction, target


CASES: dict[str, tuple[Callable, Callable]] = {
    # loss name: (normal prediction + target, extreme prediction + target)
    "masked-mse": (point, lambda s: (point(s)[0] * 1e15, point(s)[1])),
    "masked-mae": (point, lambda s: (point(s)[0] * 1e30, point(s)[1])),
    "cross-entropy": (multi_class, extreme_logits(multi_class)),
    "focal": (binary, extreme_logits(binary)),
    "gaussian-nll": (gaussian, extreme_gaussian),
    "kl-normal": (gaussian, extreme_gaussian),
    "zinb": (counts, extreme_counts),
}


def build(name: str):
    cls = registry.load("loss", name)
    return cls(cls.Config(), target_info("raw" if name in RAW else "normalised"))


def leaves(prediction):
    if isinstance(prediction, dict):
        return {k: v.clone().requires_grad_(True) for k, v in prediction.items()}
    return prediction.clone().requires_grad_(True)


def tensors(prediction) -> list[torch.Tensor]:
    return list(prediction.values()) if isinstance(prediction, dict) else [prediction]


def value_and_grads(loss, prediction, target, mask):
    prediction = leaves(prediction)
    result = loss(prediction, target, mask)
    grads = torch.autograd.grad(result.value, tensors(prediction), allow_unused=True)
    return result, [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, tensors(prediction), strict=True)]


def corrupt(prediction, target, mask, garbage: float):
    def spoil(x):
        m = mask if x.dim() == mask.dim() else mask.unsqueeze(-1).expand_as(x)
        return torch.where(m, x, garbage)
    spoiled = {k: spoil(v) for k, v in prediction.items()} if isinstance(prediction, dict) else spoil(prediction)
    return spoiled, spoil(target)


@pytest.mark.parametrize("name", CASES)
def test_no_valid_target_gives_an_exact_differentiable_zero(name):
    prediction, target = CASES[name][0](0)
    mask = torch.zeros(B, S, F, dtype=torch.bool)
    prediction, target = corrupt(prediction, target, mask, math.nan)
    result, grads = value_and_grads(build(name), prediction, target, mask)
    assert result.value.item() == 0.0 and int(result.count) == 0 and result.size == B * S * F
    assert all((g == 0).all() for g in grads)


@pytest.mark.parametrize("garbage", GARBAGE)
@pytest.mark.parametrize("name", CASES)
def test_masked_places_change_neither_value_nor_gradient(name, garbage):
    prediction, target = CASES[name][0](1)
    mask = torch.rand(B, S, F, generator=_gen(9)) < 0.6
    loss = build(name)
    clean, clean_grads = value_and_grads(loss, prediction, target, mask)
    dirty, dirty_grads = value_and_grads(loss, *corrupt(prediction, target, mask, garbage), mask)
    assert torch.equal(clean.value, dirty.value) and int(clean.count) == int(mask.sum())
    for clean_grad, dirty_grad in zip(clean_grads, dirty_grads, strict=True):
        assert torch.equal(clean_grad, dirty_grad)
        unmasked = mask if dirty_grad.dim() == mask.dim() else mask.unsqueeze(-1).expand_as(dirty_grad)
        assert (dirty_grad[~unmasked] == 0).all()


@pytest.mark.parametrize("name", CASES)
def test_extreme_finite_predictions_give_finite_values_and_gradients(name):
    prediction, target = CASES[name][1](4)
    mask = torch.ones(B, S, F, dtype=torch.bool)
    result, grads = value_and_grads(build(name), prediction, target, mask)
    assert torch.isfinite(result.value), name
    assert all(torch.isfinite(g).all() for g in grads), name


@pytest.mark.parametrize("name", [*CASES, "eigh-covariance"])
def test_every_loss_is_registered_with_a_documented_config(name):
    cls = registry.load("loss", name)
    assert cls.__doc__
    for attribute in cls.Config.__attrs_attrs__:
        assert attribute.metadata.get("doc"), f"{name}.{attribute.name} has no one-line doc"


@pytest.mark.parametrize("name", RAW)
def test_losses_of_class_ids_and_counts_refuse_normalised_targets_up_front(name):
    cls = registry.load("loss", name)
    with pytest.raises(ValueError, match=r'heads.task.target.units = "raw"'):
        cls(cls.Config(), target_info("normalised"))
    cls(cls.Config(check_targets=False), target_info("normalised"))  # the user's explicit choice
