"""Conformance of heads: the declared prediction kind, its conventions and point forecast, finiteness, state,
seeds."""

from __future__ import annotations

from typing import Any

import torch

from mrframe.interfaces import ModelInfo, TargetInfo
from mrframe.testing.common import (
    check_config,
    check_deterministic,
    check_finite,
    check_gradients,
    check_prediction,
    check_state_dict,
    resolve,
    seeded,
)
from mrframe.testing.inputs import absent_state, example_model_info, random_state
from mrframe.testing.spatial import check_spatial_head


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
    check_prediction(label, cls, config, run(head), target, batch=4)
    head.train()
    for what, inputs in {"on a random state": state, "when nothing is present": absent_state(state)}.items():
        with seeded(123):
            out = head(inputs)
        check_finite(label, out, what)
        check_gradients(label, head, out, what)
    check_state_dict(label, build, run)
    check_deterministic(label, build, run)
