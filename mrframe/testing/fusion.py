"""Conformance of fusion blocks, one promise each: the state's shapes, finiteness with nothing present, causality at
every day and month, independent samples, a batch of one, float64, state and seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch

from mrframe.interfaces import ModelInfo
from mrframe.observed import State, Stream
from mrframe.testing.batches import check_batch_of_one, check_float64, check_independent
from mrframe.testing.common import (
    check_deterministic,
    check_finite,
    check_gradients,
    check_state_dict,
    fail,
    seeded,
)
from mrframe.testing.configs import config_promises
from mrframe.testing.inputs import absent_state, example_model_info, random_state
from mrframe.testing.promises import promise, run_promises


def check_fusion(plugin: type | str, config: Any = None, model: ModelInfo | None = None) -> None:
    """Check every promise of a fusion block (``forward(State) -> State``, see the module docstring); one
    :class:`~mrframe.testing.ConformanceError` names every broken promise."""
    run_promises("fusion", plugin, config=config, model=model)


@attrs.frozen
class FusionCase:
    """A fusion block with the kit's model and two independent random states of it."""

    cls: type
    label: str
    config: Any
    model: ModelInfo
    state: State
    other: State

    @classmethod
    def of(cls, plugin: type, label: str, config: Any = None, model: ModelInfo | None = None) -> FusionCase:
        model = model or example_model_info()
        return cls(plugin, label, config if config is not None else plugin.Config(), model, random_state(model),
                   random_state(model, seed=9))

    def build(self, seed: int) -> torch.nn.Module:
        with seeded(seed):
            return self.cls(self.config, self.model)

    def run(self, block: torch.nn.Module, state: State | None = None) -> list[Stream | None]:
        with seeded(123):
            out = block(self.state if state is None else state)
        return [out.daily, out.monthly]


def one_case(check: Callable[[FusionCase], None]) -> Callable[..., None]:
    """A promise checked on the kit's fusion case."""

    def run(cls: type, label: str, **options: Any) -> None:
        check(FusionCase.of(cls, label, **options))

    run.__doc__ = check.__doc__
    return run


config_promises("fusion")


@promise("fusion", "output")
@one_case
def _output(case: FusionCase) -> None:
    """A State whose daily and monthly streams keep their shapes."""
    with seeded(123):
        out = case.build(0)(case.state)
    _check_shapes(case.label, case.state, out)


@promise("fusion", "finite")
@one_case
def _finite(case: FusionCase) -> None:
    """Finite outputs and gradients on a random state and when nothing is present."""
    block = case.build(0).train()
    for what, inputs in {"on a random state": case.state, "when nothing is present": absent_state(case.state)}.items():
        result = case.run(block, inputs)
        check_finite(case.label, result, what)
        check_gradients(case.label, block, [s.hidden for s in result if s is not None], what)


@promise("fusion", "causal")
@one_case
def _causal(case: FusionCase) -> None:
    """Day t reads no later day and no month that had not ended; month m no later month, at every t and m."""
    _check_causal(case.label, case.build(0).eval(), case.state)


def _apply(block: torch.nn.Module, state: State) -> list[Stream | None]:
    out = block(state)
    return [out.daily, out.monthly]


@promise("fusion", "independent-samples")
@one_case
def _independent(case: FusionCase) -> None:
    """No cross-talk: a sample's output depends on its own state only."""
    check_independent(case.label, case.build, _apply, case.state, case.other)


@promise("fusion", "batch-of-one")
@one_case
def _batch_of_one(case: FusionCase) -> None:
    """A batch of one works and gives what the sample gets inside a batch."""
    check_batch_of_one(case.label, case.build, _apply, case.state)


@promise("fusion", "float64")
@one_case
def _float64(case: FusionCase) -> None:
    """float64 parameters and states give float64, finite outputs."""
    check_float64(case.label, case.build, _apply, case.state)


@promise("fusion", "state-dict")
@one_case
def _state_dict(case: FusionCase) -> None:
    """A copy loaded from state_dict() gives the same outputs."""
    check_state_dict(case.label, case.build, case.run)


@promise("fusion", "deterministic")
@one_case
def _deterministic(case: FusionCase) -> None:
    """Built twice under one seed: the same outputs."""
    check_deterministic(case.label, case.build, case.run)


def _check_shapes(label: str, before: State, after: Any) -> None:
    if not isinstance(after, State):
        fail(label, f"forward must return a mrframe.observed.State, got {type(after).__name__}")
    for name in ("daily", "monthly"):
        old, new = getattr(before, name), getattr(after, name)
        if (old is None) != (new is None):
            fail(label, f"State.{name} must stay {'None' if old is None else 'a Stream'}")
        if old is not None and new.hidden.shape != old.hidden.shape:
            fail(label, f"State.{name}.hidden changed shape from {tuple(old.hidden.shape)} to {tuple(new.hidden.shape)}")


def _perturb(stream: Stream, keep: torch.Tensor, seed: int) -> Stream:
    """``stream`` with new hidden values and presence wherever ``keep [B, T]`` is False."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(stream.hidden.shape, generator=generator) * 3.0
    present = torch.rand(stream.present.shape, generator=generator) < 0.5
    return Stream(torch.where(keep.unsqueeze(-1), stream.hidden, noise), torch.where(keep, stream.present, present))


def _future_of(state: State, day: int | None = None, month: int | None = None, seed: int = 7) -> State:
    """``state`` changed everywhere after ``day`` (daily streams) / after monthly slot ``month``; monthly slots
    that had not ended by ``day`` change too, and days whose month ends after slot ``month``."""
    slot = state.calendar.month_slot  # [B, T]
    days = torch.arange(slot.shape[1]).expand_as(slot)
    if day is not None:
        keep_days = days <= day
        keep_months = torch.arange(state.calendar.monthly_month_of_year.shape[1]).view(1, -1) < slot[:, day : day + 1]
    else:
        keep_days = slot <= month
        keep_months = torch.arange(state.calendar.monthly_month_of_year.shape[1]).view(1, -1).expand(slot.shape[0], -1) <= month

    def change(stream: Stream | None, index: int) -> Stream | None:
        if stream is None:
            return None
        keep = keep_days if stream.hidden.shape[1] == slot.shape[1] else keep_months
        return _perturb(stream, keep, seed + index)

    sources = {name: change(s, i) for i, (name, s) in enumerate(state.sources.items())}
    return State(daily=change(state.daily, 100), monthly=change(state.monthly, 101), sources=sources, calendar=state.calendar)


def _check_causal(label: str, block: torch.nn.Module, state: State) -> None:
    with torch.no_grad():
        base = block(state)
        if base.daily is not None:
            steps = base.daily.hidden.shape[1]
            for day in range(steps - 1):
                out = block(_future_of(state, day=day))
                if not torch.allclose(out.daily.hidden[:, : day + 1], base.daily.hidden[:, : day + 1], rtol=1e-5, atol=1e-6):
                    fail(label, f"not causal: daily outputs up to day {day} changed when only later days, or months "
                                f"that had not ended by day {day}, changed")
        if base.monthly is not None:
            for month in range(base.monthly.hidden.shape[1] - 1):
                out = block(_future_of(state, month=month))
                if not torch.allclose(out.monthly.hidden[:, : month + 1], base.monthly.hidden[:, : month + 1],
                                      rtol=1e-5, atol=1e-6):
                    fail(label, f"not causal: monthly outputs up to slot {month} changed when only later months, or "
                                "days after that month, changed")
