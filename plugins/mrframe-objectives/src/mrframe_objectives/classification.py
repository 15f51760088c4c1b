"""Classification losses: cross entropy (class weights, label smoothing) and focal loss (binary and multi-class).

Predictions are ``{"logits": [B, S, F]}`` (binary, targets 0/1) or ``{"logits": [B, S, F, C]}`` (C classes,
targets are class ids ``0..C-1``, so use target units = "raw"). A binary logit ``x`` is the two-class logit pair
``(0, x)``: ``softmax((0, x))_1 = sigmoid(x)``, so one implementation serves both forms and every quantity is
computed from ``log_softmax`` (finite for logits of any finite size).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import Tensor

from mrframe.config import field
from mrframe.observed import TaskLoss
from mrframe_objectives.masking import (
    RawTargetLoss,
    check_targets,
    masked_mean,
    masked_weighted_mean,
    observed_or,
    require_key,
)

__all__ = [
    "CrossEntropy",
    "Focal",
    "class_logits",
    "cross_entropy_elementwise",
    "focal_elementwise",
    "sigmoid_focal_loss",
]


def class_logits(logits: Tensor, target_shape: torch.Size, loss: str) -> Tensor:
    """``[..., C]`` class logits: multi-class logits as they are, binary logits ``x`` as the pair ``(0, x)``."""
    if logits.shape == target_shape:
        return torch.stack([torch.zeros_like(logits), logits], dim=-1)
    if logits.dim() == len(target_shape) + 1 and logits.shape[:-1] == target_shape and logits.shape[-1] >= 2:
        return logits
    raise ValueError(
        f"{loss}: logits {tuple(logits.shape)} fit neither binary [B, S, F] = {tuple(target_shape)} nor "
        f"multi-class [B, S, F, C] with C >= 2"
    )


def _log_probabilities(prediction: Any, values: Tensor, mask: Tensor, loss: str, check: bool) -> tuple[Tensor, Tensor]:
    """``log p [B, S, F, C]`` (masked places sanitised) and the target class ids ``[B, S, F]`` (0 where masked)."""
    logits = class_logits(require_key(prediction, ("logits",), loss)["logits"], values.shape, loss)
    n_classes = logits.shape[-1]
    if check:
        check_targets(values, mask, loss, integer=True, low=0, high=n_classes)
    classes = observed_or(values, mask).round().long().clamp(0, n_classes - 1)
    return torch.log_softmax(observed_or(logits, mask), dim=-1), classes


def _per_class(weights: tuple[float, ...], n_classes: int, like: Tensor, what: str, loss: str) -> Tensor:
    if len(weights) != n_classes:
        raise ValueError(f"{loss}: {what} has {len(weights)} entries but the head predicts {n_classes} classes")
    return torch.tensor(weights, dtype=like.dtype, device=like.device)


def cross_entropy_elementwise(
    log_p: Tensor, classes: Tensor, class_weights: Tensor | None = None, smoothing: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Per element ``l = (1 - ε) w_y (-log p_y) + (ε / C) sum_c w_c (-log p_c)`` and its weight ``w_y``.

    The loss over a set of elements is ``sum l / sum w_y`` (PyTorch's convention for weighted cross entropy).
    """
    n_classes = log_p.shape[-1]
    nll = -log_p.gather(-1, classes.unsqueeze(-1)).squeeze(-1)
    if class_weights is None:
        weight_y = torch.ones_like(nll)
        smooth = -log_p.mean(-1)
    else:
        weight_y = class_weights[classes]
        nll = weight_y * nll
        smooth = -(log_p * class_weights).sum(-1) / n_classes
    return (1.0 - smoothing) * nll + smoothing * smooth, weight_y


def focal_elementwise(log_p: Tensor, classes: Tensor, gamma: float, alpha: Tensor | None = None) -> Tensor:
    """Per element ``-α_y (1 - p_y)^γ log p_y`` with ``(1 - p_y)^γ = exp(γ log sum_{c≠y} p_c)``.

    Computing ``log(1 - p_y)`` as a log-sum-exp over the other classes keeps the value and the gradient finite for
    ``γ < 1`` and saturated logits, where ``(1 - p_y)^γ`` computed directly has an infinite derivative at 0.
    """
    log_p_y = log_p.gather(-1, classes.unsqueeze(-1)).squeeze(-1)
    own = torch.nn.functional.one_hot(classes, log_p.shape[-1]).bool()
    log_rest = torch.logsumexp(log_p.masked_fill(own, -math.inf), dim=-1)
    loss = -torch.exp(gamma * log_rest) * log_p_y if gamma > 0 else -log_p_y
    return loss * alpha[classes] if alpha is not None else loss


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Elementwise binary focal loss, the formula of ``torchvision.ops.sigmoid_focal_loss`` (no reduction)::

        p = sigmoid(x),  p_t = p y + (1 - p)(1 - y),  α_t = α y + (1 - α)(1 - y)
        FL = α_t (1 - p_t)^γ BCE(x, y)          (α < 0: no α_t factor)

    ``targets`` are 0/1; computed through :func:`focal_elementwise` on the logit pair ``(0, x)``.
    """
    log_p = torch.log_softmax(torch.stack([torch.zeros_like(logits), logits], dim=-1), dim=-1)
    weights = None if alpha < 0 else torch.tensor([1.0 - alpha, alpha], dtype=logits.dtype, device=logits.device)
    return focal_elementwise(log_p, targets.round().long(), gamma, weights)


# ------------------------------------------------------------------------------------------ plugins


def _non_negative(values: tuple[float, ...]) -> str | None:
    return "every entry must be >= 0" if any(v < 0 for v in values) else None


@attrs.frozen
class CrossEntropyConfig:
    class_weights: tuple[float, ...] = field((), "weight per class w_c (empty: all 1)", check=_non_negative)
    label_smoothing: float = field(0.0, "ε: mix the one-hot target with the uniform distribution", min=0.0, max=1.0)
    check_targets: bool = field(True, "raise on observed targets that are not class ids (one host sync per batch)")


class CrossEntropy(RawTargetLoss):
    """Cross entropy with class weights and label smoothing, mean over observed targets::

        l = (1 - ε) w_y (-log p_y) + (ε / C) sum_c w_c (-log p_c),      loss = sum l / sum w_y

    (PyTorch's ``F.cross_entropy(weight=w, label_smoothing=ε)`` formula). Binary logits are the two-class pair
    ``(0, x)``, so ``class_weights`` then has 2 entries ``(w_0, w_1)``. Exact, differentiable 0 with no observed
    target.
    """

    Config = CrossEntropyConfig
    prediction_kind = "classes"
    also_accepts = ("binary",)
    loss_name, needs = "cross-entropy", "class ids"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: CrossEntropyConfig = self.config
        log_p, classes = _log_probabilities(prediction, values, mask, "cross-entropy", config.check_targets)
        weights = None
        if config.class_weights:
            weights = _per_class(config.class_weights, log_p.shape[-1], log_p, "class_weights", "cross-entropy")
        loss, weight_y = cross_entropy_elementwise(log_p, classes, weights, config.label_smoothing)
        return masked_weighted_mean(loss, weight_y, mask)


def _alpha_ok(value: float) -> str | None:
    return None if value == -1 or 0 <= value <= 1 else "must be in [0, 1], or -1 to disable"


@attrs.frozen
class FocalConfig:
    gamma: float = field(2.0, "focusing exponent γ (0: cross entropy)", min=0.0)
    alpha: float = field(0.25, "binary logits: weight α of positives, 1 - α of negatives (-1: off)", check=_alpha_ok)
    class_alpha: tuple[float, ...] = field((), "multi-class logits: weight α_c per class (empty: off)", check=_non_negative)
    check_targets: bool = field(True, "raise on observed targets that are not class ids (one host sync per batch)")


class Focal(RawTargetLoss):
    """Focal loss, mean over observed targets: ``FL = -α_y (1 - p_y)^γ log p_y``.

    Binary logits ``[B, S, F]``: exactly ``torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma)`` (``α_1 = α``,
    ``α_0 = 1 - α``; ``alpha = -1`` disables it). Multi-class logits ``[B, S, F, C]``: per-class ``class_alpha``
    (``alpha`` is not used). ``(1 - p_y)^γ`` is evaluated as ``exp(γ log sum_{c≠y} p_c)``, so gradients stay finite
    for ``γ < 1`` and logits of ±100.
    """

    Config = FocalConfig
    prediction_kind = "binary"
    also_accepts = ("classes",)
    loss_name, needs = "focal", "class ids"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: FocalConfig = self.config
        log_p, classes = _log_probabilities(prediction, values, mask, "focal", config.check_targets)
        n_classes = log_p.shape[-1]
        binary = prediction["logits"].shape == values.shape  # the key was checked by _log_probabilities
        alpha = None
        if binary and config.alpha >= 0:
            alpha = _per_class((1.0 - config.alpha, config.alpha), n_classes, log_p, "alpha", "focal")
        elif not binary and config.class_alpha:
            alpha = _per_class(config.class_alpha, n_classes, log_p, "class_alpha", "focal")
        return masked_mean(focal_elementwise(log_p, classes, config.gamma, alpha), mask)
