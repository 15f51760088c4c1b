"""Inputs for checking plugins: observations with missing values, consistent calendars, model states."""

from __future__ import annotations

import numpy as np
import torch

from mrframe.data.dataset import calendar_for
from mrframe.interfaces import ModelInfo, SourceInfo
from mrframe.model import combine_streams
from mrframe.observed import Calendar, Observed, State, Stream

JUNK: tuple[float, ...] = (0.0, 1.0, 1e30, -999.0, float("nan"), float("inf"), -float("inf"))
"""Values a masked place may hold; none of them may change any output."""

ANCHOR = int(np.datetime64("2024-03-17", "D").astype(np.int64))


def random_observed(
    batch: int,
    steps: int,
    features: int,
    missing: float = 0.3,
    seed: int = 0,
    scale: float = 1.0,
    gap: tuple[int, int] | None = None,
    empty_samples: tuple[int, ...] = (),
) -> Observed:
    """Standard-normal values times ``scale`` with a fraction ``missing`` unobserved; ``gap = (start, stop)``
    hides every feature of every sample for those steps; ``empty_samples`` have no observation at all."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(batch, steps, features, generator=generator) * scale
    values[torch.rand(batch, steps, features, generator=generator) < missing] = float("nan")
    if gap is not None:
        values[:, gap[0] : gap[1]] = float("nan")
    for sample in empty_samples:
        values[sample] = float("nan")
    return Observed.build(values)


def with_junk(x: Observed, junk: float, after: bool) -> Observed:
    """``x`` with ``junk`` at every masked place: put there before construction, or written into the tensor
    after it (which code must not trust either)."""
    if after:
        y = Observed.build(x.values.clone(), x.mask)
        y.values[~y.mask] = junk
        return y
    raw = x.values.clone()
    raw[~x.mask] = junk
    return Observed.build(raw, x.mask)


def changed_after(x: Observed, step: int, seed: int = 1) -> Observed:
    """``x`` with new values and a new mask at every step after ``step``."""
    other = random_observed(x.shape[0], x.shape[1], x.shape[2], missing=0.5, seed=seed, scale=3.0)
    values = torch.cat([x.values[:, : step + 1], other.values[:, step + 1 :]], dim=1)
    mask = torch.cat([x.mask[:, : step + 1], other.mask[:, step + 1 :]], dim=1)
    return Observed.build(values, mask)


def make_calendar(batch: int, days: int, months: int, seed: int = 0) -> Calendar:
    """A real calendar for ``batch`` windows ending on different anchor days in 2024."""
    rng = np.random.default_rng(seed)
    anchors = ANCHOR + rng.integers(0, 300, size=batch)
    return calendar_for(anchors, days, months)


def example_model_info(d_model: int = 16, days: int = 40, months: int = 4) -> ModelInfo:
    """Two daily and two monthly sources."""
    return ModelInfo(
        d_model=d_model,
        daily=(SourceInfo("d1", "daily", ("a", "b", "c", "d", "e"), ("a",)), SourceInfo("d2", "daily", ("x", "y", "z"))),
        monthly=(SourceInfo("m1", "monthly", ("p", "q")), SourceInfo("m2", "monthly", ("r", "s", "t", "u"))),
        daily_window=days,
        monthly_window=months,
    )


def random_state(info: ModelInfo, batch: int = 4, seed: int = 0, absent: float = 0.2, calendar: Calendar | None = None) -> State:
    """A state with one random stream per source (a fraction ``absent`` of steps not present) combined per
    resolution as the assembled model does."""
    generator = torch.Generator().manual_seed(seed)
    calendar = calendar if calendar is not None else make_calendar(batch, info.daily_window, info.monthly_window, seed)
    sources = {}
    for source in info.daily + info.monthly:
        steps = info.daily_window if source.resolution == "daily" else info.monthly_window
        hidden = torch.randn(batch, steps, info.d_model, generator=generator)
        present = torch.rand(batch, steps, generator=generator) >= absent
        sources[source.name] = Stream(hidden, present)
    return State(
        daily=combine_streams([sources[s.name] for s in info.daily]),
        monthly=combine_streams([sources[s.name] for s in info.monthly]),
        sources=sources,
        calendar=calendar,
    )


def absent_state(state: State) -> State:
    """``state`` with nothing present anywhere (every stream's ``present`` False)."""
    def off(stream: Stream | None) -> Stream | None:
        return None if stream is None else Stream(stream.hidden, torch.zeros_like(stream.present))

    return State(
        daily=off(state.daily), monthly=off(state.monthly),
        sources={k: off(v) for k, v in state.sources.items()}, calendar=state.calendar,
    )
