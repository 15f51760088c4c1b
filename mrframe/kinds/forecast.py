"""The ``point`` and ``gaussian`` prediction kinds.

``point``: a tensor ``[B, S, F]``; its ``crps`` is the absolute error (:meth:`Point.scores`). With a calibration (:meth:`Point.calibrate`, fitted on the validation split)
its columns hold **split-conformal** central intervals: for each horizon step ``s`` and feature ``f``, the
half-width at level ``L`` is the ``ceil((n + 1) L / 100)``-th smallest absolute validation residual
``|y - y_hat|`` of the ``n`` observed validation targets at ``(s, f)``, and the interval is
``[y_hat - h, y_hat + h]`` mapped to the source's units. The engine calibrates on residuals divided by each
sample's window spread (normalised scores, :func:`mrframe.engine.evaluate.calibrate`) and scales the half-width
back the same way. If validation and test scores are exchangeable, a new target falls inside with probability at
least ``L`` % (and below ``L + 100 / (n + 1)`` %); with too few residuals (``ceil((n + 1) L / 100) > n``) the
interval is infinite.

``gaussian``: ``{"mean", "log_var"}``, the variance read as ``exp(log_var)`` as given. Closed-form CRPS when the
target's units are an affine map of the prediction's; through the stratified quantile ensemble of
:mod:`mrframe.scores` when they are not (log1p-compressed counts).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from mrframe.interfaces import Prediction, PredictionKind, TargetInfo, Units
from mrframe.scores import LEVELS, central, crps_ensemble, crps_gaussian, quantile_grid


def as_tensor(value: Tensor | float, like: Tensor) -> Tensor:
    """``value`` as a tensor of ``like``'s dtype and device (a shift or scale of :meth:`PredictionKind.affine`)."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _leaf(generator: torch.Generator, shape: tuple[int, ...], scale: float) -> Tensor:
    return (torch.randn(*shape, generator=generator) * scale).requires_grad_(True)


class Point(PredictionKind):
    """A point forecast ``[B, S, F]``; conformal intervals once calibrated on the validation split."""

    name = "point"

    def point(self, prediction: Prediction) -> Tensor:
        return prediction

    def affine(self, prediction: Prediction, shift: Tensor | float, scale: Tensor | float) -> Prediction:
        return as_tensor(shift, prediction) + as_tensor(scale, prediction) * prediction

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        out = {"prediction": units(prediction)}
        for level in LEVELS if calibration else ():
            half = calibration[f"halfwidth_{level}"].to(prediction)
            out[f"lower_{level}"] = units(prediction - half)
            out[f"upper_{level}"] = units(prediction + half)
        return out

    def scores(self, prediction: Prediction, values: Tensor, units: Units) -> dict[str, Tensor]:
        """``crps``: the CRPS of a point forecast (a distribution with all its mass on ``y_hat``) is its absolute
        error ``|y - y_hat|`` in the source's units, so a point model's CRPS stands beside a distributional
        baseline's (the moving averages') and a Gaussian model's. Its conformal intervals are not a distribution
        and do not enter it; they are scored by coverage and the interval score."""
        return {"crps": (units(values) - units(prediction)).abs()}

    def calibrate(self, prediction: Prediction, values: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Split-conformal half-widths ``[S, F]`` per level (module docstring); NaN where nothing was observed."""
        residual = (values - prediction).abs()
        valid = mask & torch.isfinite(residual)
        # [N + 1, S, F]: the residuals ascending, unobserved ones (inf) last, and one inf row for ranks past n
        ordered = torch.sort(torch.where(valid, residual, torch.inf), dim=0).values
        ordered = torch.cat([ordered, torch.full_like(ordered[:1], torch.inf)])
        n = valid.sum(0)
        out = {}
        for level in LEVELS:
            rank = torch.ceil((n + 1).double() * level / 100.0).long().clamp(max=len(ordered))  # 1-based
            half = torch.gather(ordered, 0, (rank - 1).unsqueeze(0))[0]
            out[f"halfwidth_{level}"] = torch.where(n > 0, half, torch.nan)
        return out

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        shape = (batch, target.span, target.n_features)
        return _leaf(generator, shape, scale), torch.randn(*shape, generator=generator)


class Gaussian(PredictionKind):
    """``{"mean", "log_var"}``: a normal distribution per target element."""

    name = "gaussian"
    keys = ("mean", "log_var")

    def point(self, prediction: Prediction) -> Tensor:
        return prediction["mean"]

    def affine(self, prediction: Prediction, shift: Tensor | float, scale: Tensor | float) -> Prediction:
        mean = prediction["mean"]
        scale = as_tensor(scale, mean)
        return {**prediction, "mean": as_tensor(shift, mean) + scale * mean,
                "log_var": prediction["log_var"] + 2.0 * torch.log(scale.abs())}

    @staticmethod
    def _sd(prediction: Prediction) -> Tensor:
        return torch.exp(0.5 * prediction["log_var"])

    def quantile(self, prediction: Prediction, levels: Tensor) -> Tensor:
        """``[B, S, F, L]``: ``mean + sd Phi^-1(level)`` for each of ``levels`` ``[L]``."""
        mean, sd = prediction["mean"], self._sd(prediction)
        z = torch.special.ndtri(levels.to(mean))
        return mean.unsqueeze(-1) + sd.unsqueeze(-1) * z

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        out = {"prediction": units(prediction["mean"])}
        for level in LEVELS:
            bounds = self.quantile(prediction, torch.tensor(central(level)))
            out[f"lower_{level}"], out[f"upper_{level}"] = units(bounds, feature_dim=-2).unbind(-1)
        return out

    def scores(self, prediction: Prediction, values: Tensor, units: Units) -> dict[str, Tensor]:
        mean, sd = prediction["mean"], self._sd(prediction)
        target = units(values)
        if units.affine:
            moved = self.affine(prediction, units.shift.to(mean), units.scale.to(mean))
            crps = crps_gaussian(moved["mean"], self._sd(moved), target)
        else:
            ensemble = units(self.quantile(prediction, quantile_grid()), feature_dim=-2)
            crps = crps_ensemble(ensemble, target)
        pit = torch.special.ndtr((values - mean) / sd)
        return {"crps": crps, "pit": pit}

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        shape = (batch, target.span, target.n_features)
        prediction = {"mean": _leaf(generator, shape, scale), "log_var": _leaf(generator, shape, scale)}
        return prediction, torch.randn(*shape, generator=generator)

