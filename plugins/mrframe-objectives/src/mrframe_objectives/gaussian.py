"""Losses on Gaussian predictions ``{"mean", "log_var"}``: the Gaussian NLL and the KL to a standard normal.

Both read the log-variance through :func:`soft_clamp`, a smooth, strictly increasing map into
``[lower, upper]``, so ``exp(±log_var)`` can never overflow and the gradient never dies at a bound (a hard clamp
would freeze a head whose log-variance ran past it).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs
import torch
from torch import Tensor
from torch.nn.functional import softplus

from mrframe.config import field
from mrframe.interfaces import Loss
from mrframe.observed import TaskLoss
from mrframe_objectives.masking import masked_mean, observed_or, require_key

__all__ = ["soft_clamp", "GaussianNLL", "KLNormal", "gaussian_nll_elementwise", "kl_normal_elementwise"]


def soft_clamp(x: Tensor, lower: float, upper: float) -> Tensor:
    """``lower + softplus(x - lower) - softplus(x - upper)``: ≈ ``x`` inside, → the bounds outside.

    Inside, ``|soft_clamp(x) - x| <= exp(lower - x) + exp(x - upper)`` (below 1e-6 at 14 from both bounds). The
    derivative ``sigmoid(x - lower) - sigmoid(x - upper)`` is positive everywhere. Evaluated in the equivalent
    form ``upper - softplus(upper - x) + softplus(lower - x)`` above the midpoint, so no large terms cancel.
    """
    if not lower < upper:
        raise ValueError(f"soft_clamp needs lower < upper, got {lower} and {upper}")
    below = lower + softplus(x - lower) - softplus(x - upper)
    above = upper - softplus(upper - x) + softplus(lower - x)
    return torch.where(x < 0.5 * (lower + upper), below, above)


def gaussian_nll_elementwise(mean: Tensor, log_var: Tensor, target: Tensor, full: bool = False) -> Tensor:
    """``0.5 (log σ² + (y - μ)² / σ²)`` (``+ 0.5 log 2π`` when ``full``), ``log σ²`` used as given."""
    nll = 0.5 * (log_var + (target - mean).square() * torch.exp(-log_var))
    return nll + 0.5 * math.log(2 * math.pi) if full else nll


def kl_normal_elementwise(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(μ, σ²) || N(0, 1)) = 0.5 (μ² + σ² - 1 - log σ²)``, ``log σ²`` used as given."""
    return 0.5 * (mean.square() + torch.exp(log_var) - 1.0 - log_var)


def _bounds(instance: Any) -> list[tuple[str, str]]:
    if instance.min_log_var >= instance.max_log_var:
        return [("max_log_var", f"must be greater than min_log_var ({instance.min_log_var})")]
    return []


@attrs.frozen
class GaussianNLLConfig:
    min_log_var: float = field(-14.0, "lower bound of the (softly clamped) log-variance", min=-80.0)
    max_log_var: float = field(14.0, "upper bound of the (softly clamped) log-variance", max=80.0)
    full: bool = field(False, "add the constant 0.5 log 2π")

    def problems(self) -> list[tuple[str, str]]:
        return _bounds(self)


class GaussianNLL(Loss):
    """Gaussian negative log-likelihood of ``{"mean", "log_var"}`` predictions, over observed targets::

        l = 0.5 (s + (y - μ)² exp(-s)),   s = soft_clamp(log_var, min_log_var, max_log_var)

    ``exp(-s) <= exp(-min_log_var)``, so no overflow. Can be negative (it is a density), which matters for
    policies whose guarantees assume non-negative task losses (``softplus-kendall``).
    """

    Config = GaussianNLLConfig
    prediction_kind = "gaussian"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: GaussianNLLConfig = self.config
        parts = require_key(prediction, ("mean", "log_var"), "gaussian-nll")
        log_var = soft_clamp(observed_or(parts["log_var"], mask), config.min_log_var, config.max_log_var)
        mean = observed_or(parts["mean"], mask)
        return masked_mean(gaussian_nll_elementwise(mean, log_var, observed_or(values, mask), config.full), mask)


@attrs.frozen
class KLNormalConfig:
    mean_key: str = field("mean", "prediction key of the mean")
    log_var_key: str = field("log_var", "prediction key of the log-variance")
    over: Literal["observed", "all"] = field(
        "observed", "average over observed target places ([B, S, F] predictions) or over every element"
    )
    min_log_var: float = field(-20.0, "lower bound of the (softly clamped) log-variance", min=-80.0)
    max_log_var: float = field(20.0, "upper bound of the (softly clamped) log-variance", max=80.0)

    def problems(self) -> list[tuple[str, str]]:
        return _bounds(self)


class KLNormal(Loss):
    """KL divergence of a predicted Gaussian ``{"mean", "log_var"}`` to a standard normal, averaged::

        l = 0.5 (μ² + exp(s) - 1 - s),   s = soft_clamp(log_var, min_log_var, max_log_var)

    A regulariser for latent or predictive distributions; ``exp(s) <= exp(max_log_var)`` never overflows and
    ``l >= 0``. ``over = "observed"``: elements where the target is observed (the prediction is ``[B, S, F]``);
    ``"all"``: every element of a prediction of any shape (e.g. a latent ``[B, D]``).
    """

    Config = KLNormalConfig
    prediction_kind = "gaussian"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: KLNormalConfig = self.config
        parts = require_key(prediction, (config.mean_key, config.log_var_key), "kl-normal")
        mean, log_var = parts[config.mean_key], parts[config.log_var_key]
        if config.over == "all":
            mask = torch.ones_like(mean, dtype=torch.bool)
        elif mean.shape != mask.shape:
            raise ValueError(
                f"kl-normal: over = 'observed' needs a prediction shaped like the target {tuple(mask.shape)}, got "
                f"{tuple(mean.shape)}; use over = 'all' for a latent"
            )
        log_var = soft_clamp(observed_or(log_var, mask), config.min_log_var, config.max_log_var)
        return masked_mean(kl_normal_elementwise(observed_or(mean, mask), log_var), mask)
