"""The ``zinb`` prediction kind: zero-inflated negative binomial counts ``{"log_mu", "theta", "pi_logit"}``.

With ``mu = exp(log_mu)``, ``theta' = softplus(theta) + 1e-6`` (the ``zinb`` loss's default floor) and
``pi = sigmoid(pi_logit)``: ``P(Y = 0) = pi + (1 - pi) NB(0)``, ``P(Y = y) = (1 - pi) NB(y)`` for ``y > 0``, with the
negative binomial of mean ``mu`` and dispersion ``theta'`` (variance ``mu + mu^2 / theta'``). The point forecast
is the mean ``(1 - pi) mu``; quantiles are exact (``scipy.stats.nbinom``); the CRPS is that of the stratified
quantile ensemble (:mod:`mrframe.scores`); the PIT is randomised (``F(y - 1) + u (F(y) - F(y - 1))``, ``u``
uniform from a fixed seed), as a discrete distribution needs for a flat histogram when calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import softplus

from mrframe.interfaces import Prediction, PredictionKind, TargetInfo, Units
from mrframe.scores import LEVELS, central, crps_ensemble, quantile_grid

THETA_FLOOR = 1e-6
PIT_SEED = 0


class ZINB(PredictionKind):
    """Zero-inflated negative binomial counts per target element."""

    name = "zinb"
    keys = ("log_mu", "theta", "pi_logit")
    raw_targets = True

    @staticmethod
    def _parameters(prediction: Prediction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n, p, pi)`` as scipy's ``nbinom(n, p)`` takes them, and the zero-inflation probability."""
        theta = (softplus(prediction["theta"].double()) + THETA_FLOOR).detach().cpu().numpy()
        mu = torch.exp(prediction["log_mu"].double()).detach().cpu().numpy()
        pi = torch.sigmoid(prediction["pi_logit"].double()).detach().cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return theta, theta / (theta + mu), pi

    def point(self, prediction: Prediction) -> Tensor:
        return torch.sigmoid(-prediction["pi_logit"]) * torch.exp(prediction["log_mu"])

    def quantile(self, prediction: Prediction, levels: Tensor) -> Tensor:
        """``[B, S, F, L]``: the smallest count whose CDF reaches each of ``levels`` ``[L]``."""
        from scipy.stats import nbinom

        n, p, pi = (a[..., None] for a in self._parameters(prediction))
        tau = levels.double().cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            inner = np.clip((tau - pi) / (1.0 - pi), 0.0, 1.0)
            counts = np.where(tau <= pi, 0.0, nbinom.ppf(inner, n, p))
        like = prediction["log_mu"]
        return torch.from_numpy(counts).to(device=like.device, dtype=like.dtype)

    def cdf(self, prediction: Prediction, values: Tensor) -> Tensor:
        """``P(Y <= y)`` for integer ``y`` (0 below 0)."""
        from scipy.stats import nbinom

        n, p, pi = self._parameters(prediction)
        y = values.double().detach().cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(y < 0, 0.0, pi + (1.0 - pi) * nbinom.cdf(y, n, p))
        return torch.from_numpy(out).to(device=values.device, dtype=values.dtype)

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        out = {"prediction": units(self.point(prediction))}
        for level in LEVELS:
            bounds = units(self.quantile(prediction, torch.tensor(central(level))), feature_dim=-2)
            out[f"lower_{level}"], out[f"upper_{level}"] = bounds.unbind(-1)
        return out

    def scores(self, prediction: Prediction, values: Tensor, units: Units) -> dict[str, Tensor]:
        ensemble = units(self.quantile(prediction, quantile_grid()), feature_dim=-2)
        crps = crps_ensemble(ensemble, units(values))
        below, at = self.cdf(prediction, values - 1.0), self.cdf(prediction, values)
        u = torch.rand(values.shape, generator=torch.Generator().manual_seed(PIT_SEED), dtype=torch.float64)
        pit = below + u.to(values) * (at - below)
        return {"crps": crps, "pit": torch.where(torch.isfinite(values), pit, torch.nan)}

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        shape = (batch, target.span, target.n_features)

        def leaf() -> Tensor:
            return (torch.randn(*shape, generator=generator) * scale).requires_grad_(True)

        counts = torch.poisson(torch.full(shape, 3.0), generator=generator)
        counts = counts * (torch.rand(*shape, generator=generator) < 0.6)
        return {"log_mu": leaf(), "theta": leaf(), "pi_logit": leaf()}, counts
