"""The ``binary`` and ``classes`` prediction kinds: logits of class ids, scored as probabilities.

Columns: ``prediction`` (the most likely class: ``P(class 1) >= 0.5`` for binary), ``probability`` (of that
class) and ``p0`` .. ``p{C-1}``; all NaN for an element whose logits are not all finite (never class 0).
Metrics: :func:`mrframe.metrics.classification_metrics`; the headline is the Brier score, compared with the
training split's class frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from mrframe.interfaces import Prediction, PredictionKind, TargetInfo, Units
from mrframe.metrics import Metric, classification_metrics

N_EXAMPLE_CLASSES = 4


class _Logits(PredictionKind):
    keys = ("logits",)
    headline = "brier"
    baselines = "classes"
    raw_targets = True
    logit_shape: str = "[B, span, F]"

    def problem(self, prediction: Any, target: TargetInfo) -> str | None:
        problem = super().problem(prediction, target)
        if problem is None and prediction["logits"].dim() != self.logit_shape.count(",") + 1:
            return f"{self.name} prediction['logits'] must be {self.logit_shape}, got {tuple(prediction['logits'].shape)}"
        return problem

    def probabilities(self, prediction: Prediction) -> Tensor:
        """``[B, S, F, C]`` class probabilities; NaN across an element whose logits are not all finite."""
        raise NotImplementedError

    def point(self, prediction: Prediction) -> Tensor:
        p = self.probabilities(prediction)
        return torch.where(torch.isfinite(p).all(-1), p.argmax(-1).to(p.dtype), torch.nan)

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        p = self.probabilities(prediction)
        finite = torch.isfinite(p).all(-1)
        best = p.max(-1)
        out = {"prediction": torch.where(finite, best.indices.to(p.dtype), torch.nan),
               "probability": torch.where(finite, best.values, torch.nan)}
        return out | {f"p{c}": p[..., c] for c in range(p.shape[-1])}

    def metrics(self, target: Any, columns: Mapping[str, Any]) -> dict[str, Metric]:
        return classification_metrics(target, columns)


class Binary(_Logits):
    """``{"logits"}`` ``[B, S, F]``: one logit per element, ``P(class 1) = sigmoid(logit)``."""

    name = "binary"

    def probabilities(self, prediction: Prediction) -> Tensor:
        logits = prediction["logits"]
        one = torch.sigmoid(logits)
        p = torch.stack([1.0 - one, one], dim=-1)
        return torch.where(torch.isfinite(logits).unsqueeze(-1), p, torch.nan)

    def point(self, prediction: Prediction) -> Tensor:
        """``P(class 1)``: the score the ranking metrics use."""
        logits = prediction["logits"]
        return torch.where(torch.isfinite(logits), torch.sigmoid(logits), torch.nan)

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        shape = (batch, target.span, target.n_features)
        logits = (torch.randn(*shape, generator=generator) * scale).requires_grad_(True)
        return {"logits": logits}, (torch.rand(*shape, generator=generator) < 0.3).float()


class Classes(_Logits):
    """``{"logits"}`` ``[B, S, F, C]``: softmax over the last axis."""

    name = "classes"
    logit_shape = "[B, span, F, C]"

    def probabilities(self, prediction: Prediction) -> Tensor:
        logits = prediction["logits"]
        p = torch.softmax(logits, dim=-1)
        return torch.where(torch.isfinite(logits).all(-1, keepdim=True), p, torch.nan)

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        shape = (batch, target.span, target.n_features)
        logits = (torch.randn(*shape, N_EXAMPLE_CLASSES, generator=generator) * scale).requires_grad_(True)
        return {"logits": logits}, torch.randint(0, N_EXAMPLE_CLASSES, shape, generator=generator).float()
