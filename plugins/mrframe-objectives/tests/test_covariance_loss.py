"""The eigh-covariance loss: its functional API, its target covariance, and the plugin's masking contract."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.covariance import (
    EighCovariance,
    EighCovarianceConfig,
    covariance_terms,
    eigh_covariance_loss,
    prepare_covariance,
    sample_covariance,
    trace_normalise,
)

from mrframe.interfaces import TargetInfo


def target_info(features: int, span: int = 16) -> TargetInfo:
    return TargetInfo("cov", "src", "daily", tuple(f"f{i}" for i in range(features)), horizon=1, span=span)


def random_spd(batch: int, n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, n, n + 2, generator=generator, dtype=torch.float64)
    return (a @ a.mT / (n + 2)).to(dtype)


ALL_TERMS = dict(spectral="log", nmse_weight=1.0, subspace_rank=2, eigengap_margin=0.2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3), spectral=st.sampled_from(["log", "sqrt"]))
def test_loss_is_non_negative_and_zero_only_for_the_same_matrix_up_to_scale(seed, scale, spectral):
    prediction = random_spd(3, 5, seed)
    target = random_spd(3, 5, seed + 1)
    config = EighCovarianceConfig(spectral=spectral, nmse_weight=1.0, subspace_rank=2)
    assert (eigh_covariance_loss(prediction, target, config) >= 0).all()
    # trace normalisation: a rescaled copy of the target is a perfect prediction
    assert torch.allclose(eigh_covariance_loss(scale * target, target, config), torch.zeros(3, dtype=torch.float64), atol=1e-9)


def test_prepare_hermitises_trace_normalises_blends_and_loads():
    prediction = torch.tensor([[[2.0, 1.0], [0.0, 2.0]]], dtype=torch.float64)  # not symmetric, trace 4
    sample = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]], dtype=torch.float64)
    prepared = prepare_covariance(prediction, loading=0.1, sample=sample, beta=0.25)
    expected = 0.75 * torch.tensor([[1.0, 0.25], [0.25, 1.0]]) + 0.25 * torch.tensor([[0.5, 0.0], [0.0, 1.5]])
    assert torch.allclose(prepared[0], expected.double() + 0.1 * torch.eye(2, dtype=torch.float64))


def test_trace_normalise_leaves_a_zero_matrix_alone_with_a_finite_gradient():
    zero = torch.zeros(1, 3, 3, requires_grad=True)
    out = trace_normalise(zero)
    (grad,) = torch.autograd.grad(out.sum(), zero)
    assert (out == 0).all() and torch.isfinite(grad).all()


def test_sample_covariance_is_psd_masks_places_and_flags_windows():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(3, 10, 4, generator=generator)
    mask = torch.ones(3, 10, 4, dtype=torch.bool)
    mask[1, :, 2] = False  # a feature never observed in window 1
    mask[2, 1:, 0] = False  # a feature observed once in window 2
    values = torch.where(mask, values, 1e30)  # whatever sits at masked places must not matter
    cov, valid = sample_covariance(values, mask, min_observed=2)
    assert valid.tolist() == [True, False, False]
    assert torch.isfinite(cov).all()
    assert (torch.linalg.eigvalsh(cov) > -1e-6).all()
    centred = values[0] - values[0].mean(0)
    assert torch.allclose(cov[0], centred.T @ centred / 10, atol=1e-5)


def test_complex_split_target_is_hermitian():
    generator = torch.Generator().manual_seed(1)
    values = torch.randn(2, 12, 6, generator=generator)
    cov, valid = sample_covariance(values, torch.ones_like(values, dtype=torch.bool), complex_split=True)
    x = torch.complex(values[..., :3], values[..., 3:])
    x = x - x.mean(1, keepdim=True)
    assert cov.is_complex() and valid.all()
    assert torch.allclose(cov, x.mH @ x / 12, atol=1e-5)
    assert torch.allclose(cov, cov.mH)


def plugin(**options) -> EighCovariance:
    features = 8 if options.get("target") == "complex-split" else 4
    return EighCovariance(EighCovarianceConfig(**options), target_info(features))


def test_plugin_matches_the_functional_api_on_valid_windows():
    generator = torch.Generator().manual_seed(2)
    values = torch.randn(3, 16, 4, generator=generator)
    mask = torch.ones_like(values, dtype=torch.bool)
    mask[2] = False  # no target at all in window 2
    prediction = random_spd(3, 4, 3, torch.float32).requires_grad_(True)
    result = plugin(**ALL_TERMS)({"covariance": prediction}, values, mask)
    target, _ = sample_covariance(values, mask)
    expected = eigh_covariance_loss(prediction[:2], target[:2], EighCovarianceConfig(**ALL_TERMS)).mean()
    assert torch.isclose(result.value, expected) and int(result.count) == 2 * 16 * 4
    (grad,) = torch.autograd.grad(result.value, prediction)
    assert torch.isfinite(grad).all() and (grad[2] == 0).all()


def test_no_valid_window_gives_an_exact_zero_that_back_propagates():
    prediction = random_spd(2, 4, 4, torch.float32).requires_grad_(True)
    values = torch.zeros(2, 16, 4)
    result = plugin(**ALL_TERMS)({"covariance": prediction}, values, torch.zeros_like(values, dtype=torch.bool))
    assert result.value.item() == 0.0 and int(result.count) == 0
    (grad,) = torch.autograd.grad(result.value, prediction)
    assert (grad == 0).all()


def test_non_finite_prediction_in_a_valid_window_gives_nan_not_a_crash():
    prediction = random_spd(2, 4, 5, torch.float32)
    prediction[1, 0, 0] = math.nan
    values = torch.randn(2, 16, 4)
    mask = torch.ones_like(values, dtype=torch.bool)
    assert math.isnan(plugin()({"covariance": prediction}, values, mask).value.item())
    mask[1] = False  # ... but a NaN prediction where there is no target is ignored
    assert math.isfinite(plugin()({"covariance": prediction}, values, mask).value.item())


def test_complex_plugin_and_sample_blending():
    generator = torch.Generator().manual_seed(6)
    values = torch.randn(2, 16, 8, generator=generator)
    mask = torch.ones_like(values, dtype=torch.bool)
    a = torch.complex(torch.randn(2, 4, 4, generator=generator), torch.randn(2, 4, 4, generator=generator))
    prediction = (a @ a.mH).requires_grad_(True)
    loss = plugin(target="complex-split", sample_beta=0.3, subspace_rank=1)(
        {"covariance": prediction, "sample_covariance": torch.eye(4, dtype=torch.complex64).expand(2, 4, 4)}, values, mask
    )
    (grad,) = torch.autograd.grad(loss.value, prediction)
    assert torch.isfinite(loss.value) and torch.isfinite(grad).all()


@pytest.mark.parametrize(
    ("options", "prediction", "message"),
    [
        ({}, torch.eye(4).expand(2, 4, 4), "must predict {'covariance'"),
        ({}, {"covariance": torch.eye(3).expand(2, 3, 3)}, "does not match"),
        ({"sample_beta": 0.5}, {"covariance": torch.eye(4).expand(2, 4, 4)}, "sample_covariance"),
        ({"target": "complex-split"}, {"covariance": torch.eye(4).expand(2, 4, 4)}, "complex predicted covariance"),
        ({"subspace_rank": 4}, {"covariance": torch.eye(4).expand(2, 4, 4)}, "subspace_rank"),
    ],
)
def test_misuse_is_reported_with_a_message(options, prediction, message):
    features = 8 if options.get("target") == "complex-split" else 4
    values = torch.randn(2, 16, features)
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("(", r"\(")):
        EighCovariance(EighCovarianceConfig(**options), target_info(features))(
            prediction, values, torch.ones_like(values, dtype=torch.bool)
        )


def test_terms_report_each_enabled_term():
    p, t = random_spd(2, 5, 8), random_spd(2, 5, 9)
    terms = covariance_terms(p, t, EighCovarianceConfig(**ALL_TERMS))
    assert set(terms) == {"spectral", "nmse", "subspace", "eigengap"}
    assert ((terms["subspace"] >= -1e-12) & (terms["subspace"] <= 1 + 1e-12)).all()


def test_impossible_targets_are_refused_when_the_loss_is_built():
    with pytest.raises(ValueError, match="target span of 1"):
        EighCovariance(EighCovarianceConfig(), target_info(4, span=1))
    with pytest.raises(ValueError, match="even number"):
        EighCovariance(EighCovarianceConfig(target="complex-split"), target_info(5))
