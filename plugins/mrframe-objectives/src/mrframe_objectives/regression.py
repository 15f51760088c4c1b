"""Regression losses over the observed target elements only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import Tensor

from mrframe.interfaces import Loss
from mrframe.observed import TaskLoss


def point_of(prediction: Any) -> Tensor:
    """The point forecast inside a head's prediction (a tensor, or ``prediction["mean"]``)."""
    return prediction["mean"] if isinstance(prediction, Mapping) else prediction


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
        error = torch.where(mask, point_of(prediction) - values, 0.0)
        count = mask.sum()
        return TaskLoss(error.square().sum() / count.clamp(min=1), count, mask.numel())
