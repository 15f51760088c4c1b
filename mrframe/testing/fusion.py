"""Conformance of fusion blocks: the state's shapes, finiteness with nothing present, causality, state, seeds."""

from __future__ import annotations

from typing import Any

import torch

from mrframe.interfaces import ModelInfo
from mrframe.observed import State, Stream
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


def check_fusion(plugin: type | str, config: Any = None, model: ModelInfo | None = None) -> None:
    """Check everything DESIGN.md promises for a fusion block (``forward(State) -> State``)."""
    cls, label = resolve("fusion", plugin)
    check_config(label, cls)
    config = config if config is not None else cls.Config()
    model = model or example_model_info()
    state = random_state(model)

    def build(seed: int) -> torch.nn.Module:
        with seeded(seed):
            return cls(config, model)

    def run(block: torch.nn.Module, inputs: State = state) -> Any:
        with seeded(123):
            out = block(inputs)
        return [out.daily, out.monthly]

    block = build(0)
    with seeded(123):
        out = block(state)
    _check_shapes(label, state, out)
    block.train()
    for what, inputs in {"on a random state": state, "when nothing is present": absent_state(state)}.items():
        with seeded(123):
            result = block(inputs)
        check_finite(label, [result.daily, result.monthly], what)
        check_gradients(label, block, [s.hidden for s in (result.daily, result.monthly) if s is not None], what)
    _check_causal(label, build(0).eval(), state)
    check_state_dict(label, build, run)
    check_deterministic(label, build, run)


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
            for day in sorted({0, steps // 2, steps - 2}):
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
