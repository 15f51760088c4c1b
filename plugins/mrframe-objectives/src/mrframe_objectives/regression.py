"""Regression losses over the observed target elements only: masked MSE and MAE."""

from __future__ import annotations

from typing import Any

import attrs
from torch import Tensor

from mrframe.interfaces import Loss, point_forecast
from mrframe.observed import TaskLoss
from mrframe_objectives.masking import masked_mean, observed_or

__all__ = ["MaskedMSE", "MaskedMAE"]


@attrs.frozen
class MaskedMSEConfig:
    pass


class MaskedMSE(Loss):
    """Mean squared error over observed targets: ``sum(m * (y_hat - y)^2) / max(1, sum(m))``.

    Masked elements enter only through ``torch.where``, so a NaN prediction at a masked place changes neither
    the value nor the gradient; with no observed target the loss is an exact, differentiable 0.
    """

    Config = MaskedMSEConfig

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        error = observed_or(point_forecast(prediction) - values, mask)
        return masked_mean(error.square(), mask)


@attrs.frozen
class MaskedMAEConfig:
    pass


class MaskedMAE(Loss):
    """Mean absolute error over observed targets: ``sum(m * |y_hat - y|) / max(1, sum(m))``.

    Robust to outlying targets (the gradient is bounded by 1 per element); the subgradient at a zero error is 0.
    Same masking guarantees as ``masked-mse``.
    """

    Config = MaskedMAEConfig

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        error = observed_or(point_forecast(prediction) - values, mask)
        return masked_mean(error.abs(), mask)
