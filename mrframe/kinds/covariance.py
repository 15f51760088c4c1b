"""The ``covariance`` prediction kind: ``{"covariance": [B, F, F]}``, the covariance of the target window's
features over its span (plus ``"sample_covariance"``, blended by some losses, and optionally ``"mean"``
``[B, S, F]``).

It has no point forecast, prediction columns or baselines: evaluation reports the task's loss. Under
``Y -> shift + scale * Y`` with a scale that is the same at every step of the span, a covariance becomes
``diag(s) C diag(s)`` (the shift does not change it); a scale that varies along the span has no such form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mrframe.errors import PluginError
from mrframe.interfaces import Prediction, PredictionKind, TargetInfo, Units
from mrframe.kinds.forecast import as_tensor
from mrframe.metrics import Metric

MATRICES = ("covariance", "sample_covariance")


class Covariance(PredictionKind):
    """A covariance matrix of the target's features per sample."""

    name = "covariance"
    keys = ("covariance",)
    headline = None
    baselines = "none"
    elementwise = False

    def point(self, prediction: Prediction) -> Tensor:
        raise PluginError("a covariance prediction has no point forecast")

    def affine(self, prediction: Prediction, shift: Tensor | float, scale: Tensor | float) -> Prediction:
        matrix = prediction["covariance"]
        batch, n = matrix.shape[0], matrix.shape[-1]
        span = prediction["mean"].shape[1] if "mean" in prediction else 1
        scale = torch.broadcast_to(as_tensor(scale, matrix), (batch, span, n))
        if not bool((scale == scale[:, :1]).all()):
            raise PluginError("a covariance prediction can be rescaled only by a scale that is the same at every "
                              "step of the span")
        s = scale[:, 0]  # [B, F]
        out = dict(prediction)
        for key in MATRICES:
            if key in prediction:
                out[key] = prediction[key] * s.unsqueeze(-1) * s.unsqueeze(-2)
        if "mean" in prediction:
            out["mean"] = as_tensor(shift, matrix) + scale * prediction["mean"]
        return out

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        return {}

    def metrics(self, target: np.ndarray, columns: Mapping[str, np.ndarray]) -> dict[str, Metric]:
        return {}

    def problem(self, prediction: Any, target: TargetInfo) -> str | None:
        if not isinstance(prediction, Mapping) or "covariance" not in prediction:
            got = sorted(prediction) if isinstance(prediction, Mapping) else type(prediction).__name__
            return f"a covariance prediction is a dict with the key 'covariance', got {got}"
        shape = tuple(prediction["covariance"].shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            return f"covariance prediction['covariance'] must be [B, n, n], got {shape}"
        return None

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        n = target.n_features
        factor = torch.randn(batch, n, n, generator=generator) * scale
        covariance = (factor @ factor.transpose(-1, -2)).requires_grad_(True)
        return {"covariance": covariance}, torch.randn(batch, target.span, n, generator=generator)
