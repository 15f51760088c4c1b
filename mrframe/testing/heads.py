"""Conformance of heads: the declared prediction kind, its conventions and point forecast, finiteness, state,
seeds."""

from __future__ import annotations

from typing import Any

import torch

from mrframe import kinds
from mrframe.errors import PluginError
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
)
from mrframe.testing.inputs import absent_state, example_model_info, random_state


def check_head(
    plugin: type | str,
    config: Any = None,
    model: ModelInfo | None = None,
    target: TargetInfo | None = None,
) -> None:
    """Check everything DESIGN.md promises for a head (``forward(State) -> prediction``)."""
    cls, label = resolve("head", plugin)
    check_config(label, cls)
    config = config if config is not None else cls.Config()
    model = model or example_model_info()
    target = target or TargetInfo("task", "d1", "daily", ("a", "b", "c"), horizon=7, span=7, units=cls.target_units[0])
    state = random_state(model)

    def build(seed: int) -> torch.nn.Module:
        with seeded(seed):
            return cls(config, model, target)

    def run(head: torch.nn.Module) -> Any:
        with seeded(123):
            return head(state)

    try:
        kind = kinds.of_head(cls, config)
    except PluginError as error:
        fail(label, str(error))
    head = build(0)
    prediction = run(head)
    problem = kind.problem(prediction, target)
    if problem is not None:
        fail(label, f"declares prediction kind '{cls.kind_for(config)}', but {problem}")
    if kind.headline is not None:
        point = kind.point(prediction)
        if tuple(point.shape) != (4, target.span, target.n_features):
            fail(label, f"its point forecast must be [B, span, F] = {(4, target.span, target.n_features)}, "
                        f"got {tuple(point.shape)}")
    head.train()
    for what, inputs in {"on a random state": state, "when nothing is present": absent_state(state)}.items():
        with seeded(123):
            out = head(inputs)
        check_finite(label, out, what)
        check_gradients(label, head, out, what)
    check_state_dict(label, build, run)
    check_deterministic(label, build, run)
