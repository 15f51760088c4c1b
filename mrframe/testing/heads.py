"""Conformance of heads: prediction conventions, point forecasts, finiteness, state, seeds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mrframe.interfaces import ModelInfo, TargetInfo
from mrframe.testing.common import (
    check_config,
    check_deterministic,
    check_finite,
    check_gradients,
    check_state_dict,
    fail,
    resolve,
    seeded,
    tensors,
)
from mrframe.testing.inputs import absent_state, example_model_info, random_state
from mrframe.testing.spatial import check_spatial_head

PREDICTION_KEYS = ({"mean", "log_var"}, {"mean"}, {"logits"}, {"log_mu", "theta", "pi_logit"}, {"covariance"})


def check_head(
    plugin: type | str,
    config: Any = None,
    model: ModelInfo | None = None,
    target: TargetInfo | None = None,
) -> None:
    """Check everything DESIGN.md promises for a head (``forward(State) -> prediction``), national and/or
    spatial as its ``extents`` say."""
    cls, label = resolve("head", plugin)
    check_config(label, cls)
    config = config if config is not None else cls.Config()
    if "spatial" in cls.extents:
        check_spatial_head(cls, label, config, cls.target_units[0])
    if "national" not in cls.extents:
        return
    model = model or example_model_info()
    target = target or TargetInfo("task", "d1", "daily", ("a", "b", "c"), horizon=7, span=7, units=cls.target_units[0])
    state = random_state(model)

    def build(seed: int) -> torch.nn.Module:
        with seeded(seed):
            return cls(config, model, target)

    def run(head: torch.nn.Module) -> Any:
        with seeded(123):
            return head(state)

    head = build(0)
    prediction = run(head)
    _check_prediction(label, prediction, target, batch=4)
    point = head.point(prediction)
    if tuple(point.shape) != (4, target.span, target.n_features):
        fail(label, f"point() must give [B, span, F] = {(4, target.span, target.n_features)}, got {tuple(point.shape)}")
    head.train()
    for what, inputs in {"on a random state": state, "when nothing is present": absent_state(state)}.items():
        with seeded(123):
            out = head(inputs)
        check_finite(label, out, what)
        check_gradients(label, head, out, what)
    check_state_dict(label, build, run)
    check_deterministic(label, build, run)


def _check_prediction(label: str, prediction: Any, target: TargetInfo, batch: int) -> None:
    expected = (batch, target.span, target.n_features)
    if isinstance(prediction, torch.Tensor):
        if tuple(prediction.shape) != expected:
            fail(label, f"a tensor prediction must be [B, span, F] = {expected}, got {tuple(prediction.shape)}")
        return
    if not isinstance(prediction, Mapping):
        fail(label, f"a prediction is a tensor or a dict of tensors, got {type(prediction).__name__}")
    keys = set(prediction)
    if not any(keys == k or (k <= keys and "mean" in k) for k in PREDICTION_KEYS):
        fail(label, f"prediction keys {sorted(keys)} follow none of the conventions in mrframe.interfaces.Head")
    for key, value in prediction.items():
        if key == "covariance":
            continue
        for tensor in tensors(value):
            if tuple(tensor.shape[:3]) != expected:
                fail(label, f"prediction['{key}'] must start with [B, span, F] = {expected}, got {tuple(tensor.shape)}")
