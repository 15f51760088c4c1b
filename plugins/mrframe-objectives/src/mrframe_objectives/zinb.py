"""The zero-inflated negative binomial (ZINB) negative log-likelihood for raw counts, in log space.

Prediction ``{"log_mu", "theta", "pi_logit"}`` ``[B, S, F]``: log mean ``a = log μ``, unconstrained dispersion
mapped to ``θ = softplus(theta) + floor``, zero-inflation logit ``π = sigmoid(pi_logit)``. With ``t = log θ`` and
``s = softplus(a - t) = log(1 + μ/θ)``::

    log NB(y)  = D(y, θ) - θ s + y (a - s),      D(y, θ) = lgamma(y + θ) - lgamma(θ) - lgamma(y + 1) - y t
    log P(0)   = logaddexp(log π, log(1 - π) - θ s)
    log P(y)   = log(1 - π) + log NB(y)                                   (y > 0)
    loss       = -log P(y)  averaged over observed targets,   log π = logsigmoid(pi_logit)

Nothing is exponentiated, so no term overflows; ``θ s`` stays accurate when ``μ/θ`` is tiny (it tends to ``μ``).
The log-gamma combination ``D`` is what loses precision: ``lgamma(y + θ)`` and ``lgamma(θ)`` are each about
``θ log θ`` while their difference is about ``y log θ``, so in float32 every digit is lost for ``θ ≳ 1e4``. The
per-element likelihood is therefore evaluated in float64 (elementwise, negligible next to the model) and, for
``θ > 1e4``, ``D`` uses the Stirling series of both log-gammas with the large parts cancelled analytically::

    D = (θ + y - ½) log1p(y/θ) - y - lgamma(y + 1) + Σ_k c_k ((θ + y)^(1-2k) - θ^(1-2k)),  c = (1/12, -1/360, 1/1260)

which is accurate to float64 rounding for any ``θ`` up to the largest float. The result is cast back to the
prediction's dtype: within 1e-3 (relative) of a float64 reference for ``θ`` from 1e-4 to 1e8.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import Tensor
from torch.nn.functional import logsigmoid, softplus

from mrframe.config import field
from mrframe.observed import TaskLoss
from mrframe_objectives.masking import RawTargetLoss, check_targets, masked_mean, observed_or, require_key

__all__ = ["ZINB", "zinb_nll_elementwise", "log_gamma_ratio"]

_STIRLING_FROM = 1e4
_STIRLING = (1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0)


def log_gamma_ratio(counts: Tensor, theta: Tensor) -> Tensor:
    """``D(y, θ) = lgamma(y + θ) - lgamma(θ) - lgamma(y + 1) - y log θ``, accurate for every ``θ > 0``."""
    large = theta > _STIRLING_FROM
    small_theta = torch.where(large, 1.0, theta)
    direct = torch.lgamma(counts + small_theta) - torch.lgamma(small_theta) - counts * torch.log(small_theta)
    big_theta = torch.where(large, theta, _STIRLING_FROM)
    shifted = big_theta + counts
    series = (big_theta + counts - 0.5) * torch.log1p(counts / big_theta) - counts
    for k, c in enumerate(_STIRLING, start=1):
        power = 1 - 2 * k
        series = series + c * (shifted.pow(power) - big_theta.pow(power))
    return torch.where(large, series, direct) - torch.lgamma(counts + 1.0)


def zinb_nll_elementwise(
    log_mu: Tensor, theta: Tensor, pi_logit: Tensor, counts: Tensor, theta_floor: float = 1e-6
) -> Tensor:
    """Per-element ZINB negative log-likelihood (module docstring), in the dtype of ``log_mu``.

    ``theta`` is unconstrained (``θ = softplus(theta) + theta_floor``); ``counts`` are non-negative integers.
    """
    a, p, y = log_mu.double(), pi_logit.double(), counts.double()
    dispersion = softplus(theta.double()) + theta_floor
    log_theta = torch.log(dispersion)
    s = softplus(a - log_theta)
    log_nb_zero = -dispersion * s
    log_nb = log_gamma_ratio(y, dispersion) + log_nb_zero + y * (a - s)
    log_zero = torch.logaddexp(logsigmoid(p), logsigmoid(-p) + log_nb_zero)
    log_positive = logsigmoid(-p) + log_nb
    return (-torch.where(y == 0, log_zero, log_positive)).to(log_mu.dtype)


@attrs.frozen
class ZINBConfig:
    theta_floor: float = field(1e-6, "smallest dispersion θ = softplus(theta) + floor", min=1e-12)
    check_targets: bool = field(True, "raise on observed targets that are not counts (one host sync per batch)")


class ZINB(RawTargetLoss):
    """Zero-inflated negative binomial NLL of raw counts, in log space; mean over observed targets.

    Formulas and the numerics behind the θ range 1e-4..1e8: docs/objectives.md.

    Needs target units = "raw". Finite for any finite prediction; exact, differentiable 0 with no observed target.
    """

    Config = ZINBConfig
    prediction_kind = "zinb"
    loss_name, needs = "zinb", "raw counts"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: ZINBConfig = self.config
        parts = require_key(prediction, ("log_mu", "theta", "pi_logit"), "zinb")
        if config.check_targets:
            check_targets(values, mask, "zinb", integer=True, low=0)
        nll = zinb_nll_elementwise(
            observed_or(parts["log_mu"], mask), observed_or(parts["theta"], mask),
            observed_or(parts["pi_logit"], mask), observed_or(values, mask), config.theta_floor,
        )
        return masked_mean(nll, mask)
