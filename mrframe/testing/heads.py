"""Conformance of heads, one promise each: the declared prediction kind and its point forecast, finiteness,
independent samples, a batch of one, float64, state and seeds; spatial heads (``extents`` with ``"spatial"``)
predict ``[B, span, R, F]`` and are permutation-equivariant over regions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import torch

from mrframe.interfaces import ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe.testing import spatial
from mrframe.testing.batches import check_batch_of_one, check_float64, check_independent
from mrframe.testing.common import (
    check_deterministic,
    check_finite,
    check_gradients,
    check_prediction,
    check_state_dict,
    seeded,
)
from mrframe.testing.configs import config_promises
from mrframe.testing.inputs import absent_state, example_model_info, random_state
from mrframe.testing.promises import NotApplicable, promise, run_promises


@attrs.frozen
class HeadCase:
    """One extent of a head: the model it reads, its target, and a random state."""

    cls: type
    label: str
    config: Any
    model: ModelInfo
    target: TargetInfo
    state: State
    other: State  # an independent state of the same shapes
    batch: int

    @property
    def spatial(self) -> bool:
        return self.target.regions is not None

    def build(self, seed: int, model: ModelInfo | None = None, target: TargetInfo | None = None) -> torch.nn.Module:
        with seeded(seed):
            return self.cls(self.config, model or self.model, target or self.target)

    def run(self, head: torch.nn.Module, state: State | None = None) -> Any:
        with seeded(123):
            return head(self.state if state is None else state)

    def nothing_present(self) -> State:
        return spatial.no_region_present(self.state) if self.spatial else absent_state(self.state)


def cases(cls: type, label: str, config: Any = None, model: ModelInfo | None = None,
          target: TargetInfo | None = None) -> Iterator[HeadCase]:
    """The national and/or spatial case, as the head's ``extents`` say."""
    config = config if config is not None else cls.Config()
    units = cls.target_units[0]
    batch = 4
    if "national" in cls.extents:
        info = model or example_model_info()
        goal = target or TargetInfo("task", "d1", "daily", ("a", "b", "c"), horizon=7, span=7, units=units)
        yield HeadCase(cls, f"{label} (national)", config, info, goal, random_state(info, batch),
                       random_state(info, batch, seed=9), batch)
    if "spatial" in cls.extents:
        regions = spatial.example_regions()
        info = spatial.spatial_model_info(regions)
        yield HeadCase(cls, f"{label} (spatial)", config, info, spatial.spatial_target(regions, units),
                       spatial.random_spatial_state(info, batch=batch),
                       spatial.random_spatial_state(info, seed=9, batch=batch), batch)


def each_case(check: Callable[[HeadCase], None]) -> Callable[..., None]:
    """A promise checked on every case of the head."""

    def run(cls: type, label: str, **options: Any) -> None:
        for case in cases(cls, label, **options):
            check(case)

    run.__doc__ = check.__doc__
    return run


def check_head(plugin: type | str, config: Any = None, model: ModelInfo | None = None,
               target: TargetInfo | None = None) -> None:
    """Check every promise of a head (see the module docstring); ``model`` and ``target`` replace the kit's
    national ones."""
    run_promises("head", plugin, config=config, model=model, target=target)


config_promises("head")


@promise("head", "prediction")
@each_case
def _prediction(case: HeadCase) -> None:
    """A prediction of the declared kind whose point forecast is [B, span, (R,) F]."""
    prediction = case.run(case.build(0))
    if case.spatial:
        spatial.check_spatial_prediction(case.label, prediction, case.target, case.batch)
    check_prediction(case.label, case.cls, case.config, prediction, case.target, case.batch)


@promise("head", "finite")
@each_case
def _finite(case: HeadCase) -> None:
    """Finite predictions and gradients on a random state and when nothing is present."""
    head = case.build(0).train()
    for what, state in {"on a random state": case.state, "when nothing is present": case.nothing_present()}.items():
        out = case.run(head, state)
        check_finite(case.label, out, what)
        check_gradients(case.label, head, out, what)


@promise("head", "independent-samples")
@each_case
def _independent(case: HeadCase) -> None:
    """No cross-talk: a sample's prediction depends on its own state only."""
    check_independent(case.label, case.build, lambda head, state: head(state), case.state, case.other)


@promise("head", "batch-of-one")
@each_case
def _batch_of_one(case: HeadCase) -> None:
    """A batch of one works and gives what the sample gets inside a batch."""
    check_batch_of_one(case.label, case.build, lambda head, state: head(state), case.state)


@promise("head", "float64")
@each_case
def _float64(case: HeadCase) -> None:
    """float64 parameters and states give float64, finite predictions."""
    check_float64(case.label, case.build, lambda head, state: head(state), case.state)


@promise("head", "state-dict")
@each_case
def _state_dict(case: HeadCase) -> None:
    """A copy loaded from state_dict() predicts the same."""
    check_state_dict(case.label, case.build, case.run)


@promise("head", "deterministic")
@each_case
def _deterministic(case: HeadCase) -> None:
    """Built twice under one seed: the same predictions."""
    check_deterministic(case.label, case.build, case.run)


@promise("head", "permutation-equivariant")
def _equivariant(cls: type, label: str, **options: Any) -> None:
    """Spatial: permuting the regions permutes the predictions."""
    if "spatial" not in cls.extents:
        raise NotApplicable("a national head has no regions to permute")
    for case in cases(cls, label, **options):
        if case.spatial:
            spatial.check_head_equivariant(case.label, case.build, case.state, case.target)
