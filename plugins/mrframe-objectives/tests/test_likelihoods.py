"""ZINB, Gaussian NLL and KL to a standard normal: against references, at extremes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.gaussian import (
    GaussianNLL,
    GaussianNLLConfig,
    KLNormal,
    KLNormalConfig,
    soft_clamp,
)
from mrframe_objectives.zinb import ZINB, ZINBConfig, zinb_nll_elementwise
from scipy import stats

from mrframe.interfaces import TargetInfo

FLOOR = 1e-6


def info(units: str = "normalised") -> TargetInfo:
    return TargetInfo("task", "src", "daily", ("a",), horizon=1, span=1, units=units)


def zinb_reference(log_mu: float, theta: float, pi_logit: float, y: int) -> float:
    """-log ZINB(y) in float64 from scipy's negative binomial (n = θ, p = θ / (θ + μ))."""
    mu = math.exp(log_mu)
    p = theta / (theta + mu)
    log_pi, log_not_pi = -np.logaddexp(0, -pi_logit), -np.logaddexp(0, pi_logit)
    if y == 0:
        return -float(np.logaddexp(log_pi, log_not_pi + stats.nbinom.logpmf(0, theta, p)))
    return -float(log_not_pi + stats.nbinom.logpmf(y, theta, p))


def raw_theta(theta: float) -> float:
    """The unconstrained head output that maps to dispersion ``theta`` (float32-exact)."""
    excess = theta - FLOOR
    return float(np.float32(math.log(math.expm1(excess)) if excess < 30 else excess))


THETAS = [1e-4, 1e-3, 0.1, 1.0, 10.0, 1e3, 1e4, 3e4, 1e6, 1e8]


@pytest.mark.parametrize("theta", THETAS)
def test_zinb_within_1e_3_of_a_float64_reference_from_theta_1e_4_to_1e_8(theta):
    raw = raw_theta(theta)
    theta_used = float(F.softplus(torch.tensor(raw, dtype=torch.float32).double())) + FLOOR
    grid = [(a, y, p) for a in (-4.0, 0.0, 2.5, 6.0) for y in (0, 1, 3, 40, 700) for p in (-4.0, 0.0, 3.0)]
    log_mu = torch.tensor([a for a, _, _ in grid], dtype=torch.float32, requires_grad=True)
    theta_in = torch.full((len(grid),), raw, dtype=torch.float32, requires_grad=True)
    pi_logit = torch.tensor([p for _, _, p in grid], dtype=torch.float32, requires_grad=True)
    counts = torch.tensor([float(y) for _, y, _ in grid])
    ours = zinb_nll_elementwise(log_mu, theta_in, pi_logit, counts, FLOOR)
    reference = torch.tensor([zinb_reference(a, theta_used, p, y) for a, y, p in grid], dtype=torch.float64)
    assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
    error = (ours.double() - reference).abs() / reference.abs().clamp(min=1.0)
    assert error.max() < 1e-3, f"worst relative error {error.max():.2e}"
    grads = torch.autograd.grad(ours.sum(), (log_mu, theta_in, pi_logit))
    assert all(torch.isfinite(g).all() for g in grads)


@settings(max_examples=40, deadline=None)
@given(
    log_mu=st.floats(-6, 8), log_theta=st.floats(math.log(1e-4), math.log(1e8)),
    pi_logit=st.floats(-8, 8), y=st.integers(0, 2000),
)
def test_zinb_property_matches_reference(log_mu, log_theta, pi_logit, y):
    theta = math.exp(log_theta)
    raw = raw_theta(theta)
    theta_used = float(F.softplus(torch.tensor(raw, dtype=torch.float32).double())) + FLOOR
    log_mu32 = float(np.float32(log_mu))
    pi32 = float(np.float32(pi_logit))
    ours = zinb_nll_elementwise(torch.tensor([log_mu32]), torch.tensor([raw]), torch.tensor([pi32]), torch.tensor([float(y)]), FLOOR)
    reference = zinb_reference(log_mu32, theta_used, pi32, y)
    assert abs(float(ours) - reference) <= 1e-3 * max(1.0, abs(reference))


def test_zinb_plugin_is_the_masked_mean_and_checks_counts():
    loss = ZINB(ZINBConfig(), info("raw"))
    prediction = {"log_mu": torch.zeros(2, 1, 1), "theta": torch.zeros(2, 1, 1), "pi_logit": torch.zeros(2, 1, 1)}
    counts, mask = torch.tensor([0.0, 3.0]).view(2, 1, 1), torch.ones(2, 1, 1, dtype=torch.bool)
    expected = zinb_nll_elementwise(prediction["log_mu"], prediction["theta"], prediction["pi_logit"], counts).mean()
    assert torch.isclose(loss(prediction, counts, mask).value, expected)
    with pytest.raises(ValueError, match="integers in >= 0"):
        loss(prediction, torch.tensor([0.5, -1.0]).view(2, 1, 1), mask)


@settings(max_examples=50, deadline=None)
@given(x=st.floats(-1e6, 1e6), lower=st.floats(-50, 0), width=st.floats(0.5, 60))
def test_soft_clamp_is_bounded_increasing_and_keeps_its_gradient(x, lower, width):
    upper = lower + width
    value = torch.tensor([x, x + 1e-3], dtype=torch.float64, requires_grad=True)
    out = soft_clamp(value, lower, upper)
    (grad,) = torch.autograd.grad(out.sum(), value)
    assert ((out >= lower) & (out <= upper)).all()
    assert out[1] >= out[0] - 1e-12 * max(1.0, abs(out[0].item()))  # increasing, up to rounding when saturated
    assert torch.isfinite(grad).all() and (grad >= 0).all()
    if lower + 20 < x < upper - 20:
        assert abs(float(out[0]) - x) < 1e-6


def test_gaussian_nll_matches_torch_inside_the_bounds():
    generator = torch.Generator().manual_seed(0)
    mean, target = torch.randn(2, 3, 1, generator=generator).double(), torch.randn(2, 3, 1, generator=generator).double()
    log_var = torch.randn(2, 3, 1, generator=generator).double()
    mask = torch.ones(2, 3, 1, dtype=torch.bool)
    for full in (False, True):
        ours = GaussianNLL(GaussianNLLConfig(full=full), info())({"mean": mean, "log_var": log_var}, target, mask).value
        expected = F.gaussian_nll_loss(mean, target, log_var.exp(), full=full, eps=1e-12)
        assert torch.isclose(ours, expected, rtol=1e-5)  # soft clamp: |s - log_var| <= 2 e^-14 here


def test_kl_normal_formula_and_latent_mode():
    mean = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    expected = (0.5 * (mean**2 + log_var.exp() - 1 - log_var)).mean()
    latent = KLNormal(KLNormalConfig(over="all"), info())
    result = latent({"mean": mean, "log_var": log_var}, torch.zeros(1, 1, 1), torch.zeros(1, 1, 1, dtype=torch.bool))
    assert torch.isclose(result.value, expected, rtol=1e-6) and int(result.count) == 2
    with pytest.raises(ValueError, match="over = 'all'"):
        KLNormal(KLNormalConfig(), info())({"mean": mean, "log_var": log_var}, torch.zeros(1, 1, 1), torch.ones(1, 1, 1, dtype=torch.bool))


def test_log_variance_bounds_must_be_ordered():
    from mrframe.config import structure
    from mrframe.errors import SpecError

    with pytest.raises(SpecError, match="max_log_var"):
        structure(GaussianNLLConfig, {"min_log_var": 5.0, "max_log_var": 1.0})
