"""Conformance of the spatial side of plugins: encoders of spatial sources, spatial heads, spatial frames.

:func:`~mrframe.testing.check_encoder`, :func:`~mrframe.testing.check_head` and
:func:`~mrframe.testing.check_source` call these for plugins whose ``extents`` include ``"spatial"`` (or whose
frame has regions). On top of the national promises, per region:

* the national stream is ``[B, T, D]`` with ``present`` = :attr:`Observed.present`, and ``regional`` a
  :class:`~mrframe.observed.RegionalStream` ``[B, S, R, D]`` whose ``ends`` rise strictly up to ``T - 1``;
* masked-input invariance with junk at the masked places of every region (a region never observed included),
  bitwise, so no region's masked values reach any output;
* finite outputs and gradients with everything masked, a region never observed, every region unobserved for
  a stretch, extreme values;
* causality: the national stream at step ``t`` and every regional state with ``ends <= t``;
* permutation equivariance over regions: the same weights built on the permuted region table, fed the permuted
  input, give the permuted regional states and the same national stream (within rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import torch

from mrframe.interfaces import ModelInfo, SourceFrame, SourceInfo, TargetInfo
from mrframe.observed import Calendar, Observed, RegionalStream, State, Stream
from mrframe.regions import Regions
from mrframe.testing.common import (
    check_finite,
    check_gradients,
    fail,
    seeded,
    tensors,
)
from mrframe.testing.inputs import example_model_info, random_state

RTOL, ATOL = 1e-4, 1e-5
"""Tolerance of the permutation check: a permutation changes the order of sums over regions."""


def example_regions(n: int = 7) -> Regions:
    """``n`` regions at irregular centroids, with ties (two regions equally far from a third)."""
    rng = np.random.default_rng(11)
    lat = 48.0 + rng.uniform(-1.5, 1.5, n)
    lon = 35.0 + rng.uniform(-2.0, 2.0, n)
    if n >= 3:  # regions 1 and 2 mirror each other around region 0: a tie in its neighbourhood
        lat[1], lon[1] = lat[0], lon[0] - 0.4
        lat[2], lon[2] = lat[0], lon[0] + 0.4
    return Regions([f"r{i}" for i in range(n)], [f"region {i}" for i in range(n)], lat, lon,
                   rng.uniform(500.0, 3000.0, n))


def permuted(regions: Regions, order: np.ndarray) -> Regions:
    """The region table in ``order`` (position ``i`` holds region ``order[i]``)."""
    area = None if regions.area_km2 is None else regions.area_km2[order]
    return Regions([regions.ids[i] for i in order], [regions.names[i] for i in order], regions.lat[order],
                   regions.lon[order], area)


def random_spatial_observed(
    batch: int, steps: int, regions: int, features: int, missing: float = 0.3, seed: int = 0, scale: float = 1.0,
    gap: tuple[int, int] | None = None, empty_samples: tuple[int, ...] = (), empty_regions: tuple[int, ...] = (),
) -> Observed:
    """Like :func:`~mrframe.testing.inputs.random_observed` with a region axis; ``empty_regions`` are never
    observed in any sample."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(batch, steps, regions, features, generator=generator) * scale
    values[torch.rand(batch, steps, regions, features, generator=generator) < missing] = float("nan")
    if gap is not None:
        values[:, gap[0] : gap[1]] = float("nan")
    for sample in empty_samples:
        values[sample] = float("nan")
    for region in empty_regions:
        values[:, :, region] = float("nan")
    return Observed.build(values)


def _changed_after(x: Observed, step: int) -> Observed:
    other = random_spatial_observed(*x.shape, missing=0.5, seed=1, scale=3.0)
    values = torch.cat([x.values[:, : step + 1], other.values[:, step + 1 :]], dim=1)
    mask = torch.cat([x.mask[:, : step + 1], other.mask[:, step + 1 :]], dim=1)
    return Observed.build(values, mask)


def check_streams(label: str, out: Any, x: Observed, d_model: int) -> None:
    if not isinstance(out, Stream):
        fail(label, f"forward must return a mrframe.observed.Stream, got {type(out).__name__}")
    batch, steps, regions, _ = x.shape
    if tuple(out.hidden.shape) != (batch, steps, d_model):
        fail(label, f"the national stream must be [B, T, d_model] = {(batch, steps, d_model)}, "
                    f"got {tuple(out.hidden.shape)}")
    if not torch.equal(out.present, x.present):
        fail(label, "present must be True exactly at steps where any region observes any feature (Observed.present)")
    regional = out.regional
    if not isinstance(regional, RegionalStream):
        fail(label, "a spatial encoder must hand on its per-region states: Stream(..., regional=RegionalStream(...))")
    if regional.hidden.shape[0] != batch or regional.hidden.shape[2:] != (regions, d_model):
        fail(label, f"regional hidden must be [B, S, R, d_model] with B = {batch}, R = {regions}, "
                    f"got {tuple(regional.hidden.shape)}")
    ends = regional.ends.tolist()
    if any(b <= a for a, b in zip(ends, ends[1:], strict=False)) or not ends or ends[-1] != steps - 1 or ends[0] < 0:
        fail(label, f"regional ends must rise strictly and end on the window's last step {steps - 1}, got {ends}")


def check_extremes(label: str, encoder: torch.nn.Module, calendar: Calendar, steps: int, batch: int, regions: int,
                    features: int) -> None:
    gap = (steps // 4, steps // 4 + max(1, steps // 3))
    cases = {
        "on extreme observed values (|x| up to 1e4)": random_spatial_observed(batch, steps, regions, features, scale=1e4),
        "when nothing is observed at all": random_spatial_observed(batch, steps, regions, features, missing=1.0),
        f"when no region observes anything for steps {gap[0]}..{gap[1] - 1}": random_spatial_observed(
            batch, steps, regions, features, gap=gap),
        "when a region is never observed": random_spatial_observed(batch, steps, regions, features,
                                                                    empty_regions=(0, regions - 1)),
    }
    encoder.train()
    for what, inputs in cases.items():
        with seeded(123):
            out = encoder(inputs, calendar)
        check_finite(label, out, what)
        check_gradients(label, encoder, (out.hidden, out.regional.hidden), what)


def check_causal(label: str, encoder: torch.nn.Module, x: Observed, calendar: Calendar) -> None:
    steps = x.shape[1]
    with torch.no_grad():
        base = encoder(x, calendar)
        ends = base.regional.ends
        for t in range(steps - 1):
            out = encoder(_changed_after(x, t), calendar)
            if not torch.allclose(out.hidden[:, : t + 1], base.hidden[:, : t + 1], rtol=1e-5, atol=1e-6):
                fail(label, f"not causal: the national stream at step <= {t} changed when only inputs after step "
                            f"{t} changed")
            done = ends <= t
            if not torch.allclose(out.regional.hidden[:, done], base.regional.hidden[:, done], rtol=1e-5, atol=1e-6):
                fail(label, f"not causal: a regional state ending by step {t} changed when only inputs after step "
                            f"{t} changed")


def check_equivariant(label: str, build: Callable[..., torch.nn.Module], x: Observed, calendar: Calendar,
                       regions: Regions) -> None:
    order = np.random.default_rng(5).permutation(len(regions))
    first, second = build(0).eval(), build(1, permuted(regions, order)).eval()
    second.load_state_dict(first.state_dict())
    index = torch.from_numpy(order)
    shuffled = Observed.build(x.values[:, :, index], x.mask[:, :, index])
    with torch.no_grad():
        base, out = first(x, calendar), second(shuffled, calendar)
    if not torch.allclose(out.hidden, base.hidden, rtol=RTOL, atol=ATOL):
        fail(label, "not permutation-equivariant over regions: the national stream changed when the regions (and "
                    "the region table) were permuted; do parameters belong to a region's position?")
    if not (torch.allclose(out.regional.hidden, base.regional.hidden[:, :, index], rtol=RTOL, atol=ATOL)
            and torch.equal(out.regional.present, base.regional.present[:, :, index])):
        fail(label, "not permutation-equivariant over regions: permuting the regions (and the region table) did "
                    "not permute the per-region states the same way; is state derived from the table persistent?")


# ----------------------------------------------------------------------------------------------------- heads


def spatial_model_info(regions: Regions, d_model: int = 16, days: int = 40, months: int = 4) -> ModelInfo:
    """The kit's example model with one more daily source, spatial on ``regions``."""
    info = example_model_info(d_model, days, months)
    spatial = SourceInfo("s1", "daily", ("a", "b", "c"), regions=regions)
    return ModelInfo(info.d_model, (*info.daily, spatial), info.monthly, info.daily_window, info.monthly_window)


def random_spatial_state(info: ModelInfo, seed: int = 0, batch: int = 4) -> State:
    """:func:`~mrframe.testing.inputs.random_state` plus a random last state per region of every spatial source."""
    national = ModelInfo(info.d_model, tuple(s for s in info.daily if not s.spatial),
                         tuple(s for s in info.monthly if not s.spatial), info.daily_window, info.monthly_window)
    state = random_state(national, batch=batch, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    regional = {}
    for source in info.daily + info.monthly:
        if source.spatial:
            steps = info.daily_window if source.resolution == "daily" else info.monthly_window
            hidden = torch.randn(batch, 1, len(source.regions), info.d_model, generator=generator)
            present = torch.rand(batch, 1, len(source.regions), generator=generator) > 0.2
            regional[source.name] = RegionalStream(hidden, present, torch.tensor([steps - 1]))
    return state.replace(regional=regional)


def spatial_target(regions: Regions, units: str) -> TargetInfo:
    """The kit's spatial target: two features of source ``s1`` on ``regions``."""
    return TargetInfo("task", "s1", "daily", ("a", "c"), horizon=3, span=2, units=units, regions=regions)


def check_spatial_prediction(label: str, prediction: Any, target: TargetInfo, batch: int) -> None:
    """Every array of a spatial prediction starts with ``[B, span, R, F]``."""
    expected = (batch, target.span, len(target.regions), target.n_features)
    for tensor in tensors(prediction):
        if tuple(tensor.shape[:4]) != expected:
            fail(label, f"a spatial prediction must start with [B, span, R, F] = {expected}, got {tuple(tensor.shape)}")


def no_region_present(state: State) -> State:
    """``state`` with no region present in any spatial source."""
    return state.replace(regional={k: RegionalStream(v.hidden, torch.zeros_like(v.present), v.ends)
                                   for k, v in state.regional.items()})


def check_head_equivariant(label: str, build: Callable[..., torch.nn.Module], state: State,
                           target: TargetInfo) -> None:
    """Permuting the regions (state and region table) permutes the predictions the same way."""
    regions = target.regions
    order = np.random.default_rng(5).permutation(len(regions))
    table = permuted(regions, order)
    first = build(0).eval()
    second = build(1, spatial_model_info(table), attrs.evolve(target, regions=table)).eval()
    second.load_state_dict(first.state_dict())
    index = torch.from_numpy(order)
    shuffled = state.replace(regional={k: RegionalStream(v.hidden[:, :, index], v.present[:, :, index], v.ends)
                                       for k, v in state.regional.items()})
    with torch.no_grad():
        base, out = tensors(first(state)), tensors(second(shuffled))
    if not all(torch.allclose(o, b[:, :, index], rtol=RTOL, atol=ATOL) for o, b in zip(out, base, strict=True)):
        fail(label, "not permutation-equivariant over regions: permuting the regions did not permute the "
                    "predictions the same way")


# ----------------------------------------------------------------------------------------------------- sources


def check_spatial_source(label: str, loaded: SourceFrame, again: SourceFrame) -> None:
    """A spatial frame (its layout is checked by :func:`mrframe.data.timeline.check_frame`) loads the same
    region table every time."""
    first, second = loaded.regions, again.regions
    if second is None or first.ids != second.ids or not (
            np.array_equal(first.lat, second.lat) and np.array_equal(first.lon, second.lon)):
        fail(label, "loading the same config twice gives different region tables")
