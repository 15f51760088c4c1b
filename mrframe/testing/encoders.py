"""Conformance of encoders, one promise each: the stream's shapes, bitwise masked-input invariance, use of the
mask, finiteness, causality at every step, independent samples, a batch of one, float64, state and seeds;
spatial encoders (``extents`` with ``"spatial"``) also permutation equivariance over regions.

Every promise is checked for each resolution the encoder takes and each extent it declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import torch

from mrframe.interfaces import Resolution, SourceInfo
from mrframe.observed import Calendar, Observed, Stream
from mrframe.regions import Regions
from mrframe.testing import spatial
from mrframe.testing.batches import check_batch_of_one, check_float64, check_independent, close
from mrframe.testing.common import (
    check_deterministic,
    check_finite,
    check_gradients,
    check_invariance,
    check_state_dict,
    fail,
    seeded,
)
from mrframe.testing.configs import config_promises
from mrframe.testing.inputs import changed_after, make_calendar, random_observed
from mrframe.testing.promises import NotApplicable, promise, run_promises

FEATURES = ("a", "b", "c", "d", "e")


@attrs.frozen
class EncoderCase:
    """One resolution and extent of an encoder, with the kit's inputs for it."""

    cls: type
    label: str
    config: Any
    resolution: Resolution
    regions: Regions | None
    d_model: int
    steps: int
    batch: int
    calendar: Calendar
    x: Observed

    def source(self, table: Regions | None = None) -> SourceInfo:
        features = FEATURES if self.regions is None else FEATURES[:4]
        return SourceInfo("s", self.resolution, features, counts=("a",), regions=table or self.regions)

    def build(self, seed: int, table: Regions | None = None) -> torch.nn.Module:
        with seeded(seed):
            return self.cls(self.config, self.source(table), self.d_model)

    def run(self, encoder: torch.nn.Module, inputs: Observed | None = None) -> Stream:
        with seeded(123):  # identical dropout masks across calls
            return encoder(self.x if inputs is None else inputs, self.calendar)

    def random(self, **options: Any) -> Observed:
        """Random inputs of this case's shape (see :func:`~mrframe.testing.inputs.random_observed`)."""
        features = len(self.source().features)
        if self.regions is None:
            return random_observed(self.batch, self.steps, features, **options)
        return spatial.random_spatial_observed(self.batch, self.steps, len(self.regions), features, **options)


def cases(cls: type, label: str, config: Any = None, resolution: Resolution | None = None, d_model: int = 16,
          steps: int | None = None) -> Iterator[EncoderCase]:
    """Every (resolution, extent) the encoder declares, or only ``resolution``."""
    config = config if config is not None else cls.Config()
    for each in (resolution,) if resolution is not None else cls.resolutions:
        count = steps or (40 if each == "daily" else 8)
        days, months = (count, 4) if each == "daily" else (40, count)
        for extent in ("national", "spatial"):
            if extent not in cls.extents:
                continue
            regions = spatial.example_regions() if extent == "spatial" else None
            batch = 4 if regions is None else 3
            case = EncoderCase(cls, f"{label} ({each}, {extent})", config, each, regions, d_model, count, batch,
                               make_calendar(batch, days, months), random_observed(1, 1, 1))
            x = case.random(empty_samples=(1,)) if regions is None else case.random(empty_samples=(1,),
                                                                                      empty_regions=(3,))
            yield attrs.evolve(case, x=x)


def each_case(check: Callable[[EncoderCase], None]) -> Callable[..., None]:
    """A promise checked on every case of the encoder."""

    def run(cls: type, label: str, **options: Any) -> None:
        for case in cases(cls, label, **options):
            check(case)

    run.__doc__ = check.__doc__
    return run


def check_encoder(plugin: type | str, config: Any = None, resolution: Resolution | None = None, d_model: int = 16,
                  steps: int | None = None) -> None:
    """Check every promise of an encoder (see the module docstring); one
    :class:`~mrframe.testing.ConformanceError` names every broken promise."""
    run_promises("encoder", plugin, config=config, resolution=resolution, d_model=d_model, steps=steps)


config_promises("encoder")


@promise("encoder", "output")
@each_case
def _output(case: EncoderCase) -> None:
    """A Stream with hidden [B, T, d_model] and present = Observed.present (plus per-region states if spatial)."""
    encoder = case.build(0)
    for mode in (True, False):
        encoder.train(mode)
        out = case.run(encoder)
        if case.regions is not None:
            spatial.check_streams(case.label, out, case.x, case.d_model)
            continue
        if not isinstance(out, Stream):
            fail(case.label, f"forward must return a mrframe.observed.Stream, got {type(out).__name__}")
        shape = (case.batch, case.steps, case.d_model)
        if tuple(out.hidden.shape) != shape or not out.hidden.is_floating_point():
            fail(case.label, f"hidden must be float [B, T, d_model] = {shape}, got {tuple(out.hidden.shape)}")
        if not torch.equal(out.present, case.x.present):
            fail(case.label, "present must be True exactly at steps where any feature is observed (Observed.present)")


@promise("encoder", "masked-input-invariance")
@each_case
def _invariance(case: EncoderCase) -> None:
    """Junk at masked places (0, 1e30, -999, NaN, inf; before or after construction) changes nothing, bitwise."""
    encoder = case.build(0)
    for mode in ("train", "eval"):
        encoder.train(mode == "train")
        check_invariance(case.label, encoder, case.x, case.run(encoder), case.calendar, mode)


@promise("encoder", "uses-mask")
@each_case
def _uses_mask(case: EncoderCase) -> None:
    """A missing value is not an observed zero: the output changes when missing places become observed zeros."""
    sparse = case.random(missing=0.4, seed=3)
    values = torch.where(sparse.mask, sparse.values, torch.nan)
    values[..., 0] = torch.randn(values[..., 0].shape, generator=torch.Generator().manual_seed(4))  # all present
    x = Observed.build(values)
    zeros = Observed.build(x.masked_values())  # the same numbers, every place observed
    encoder = case.build(0).eval()
    with torch.no_grad():
        missing, observed = case.run(encoder, x), case.run(encoder, zeros)
    if close(missing, observed, rtol=1e-6, atol=1e-7):
        fail(case.label, "ignores the mask: inputs with missing values give the same output as the same inputs with "
                         "observed zeros there (feed the mask in, e.g. as a per-feature observed flag)")


@promise("encoder", "finite")
@each_case
def _finite(case: EncoderCase) -> None:
    """Finite outputs and gradients on extreme values, with nothing observed, over a gap, with an empty sample."""
    encoder = case.build(0)
    if case.regions is not None:
        spatial.check_extremes(case.label, encoder, case.calendar, case.steps, case.batch, len(case.regions),
                               len(case.source().features))
        return
    steps = case.steps
    gap = (steps // 4, steps // 4 + min(31, steps // 2)) if case.resolution == "daily" else (1, steps // 2)
    inputs = {
        "on extreme observed values (|x| up to 1e4)": case.random(scale=1e4),
        "when nothing is observed at all": case.random(missing=1.0),
        f"when every feature is unobserved for steps {gap[0]}..{gap[1] - 1}": case.random(gap=gap),
        "when one sample has no observation": case.random(empty_samples=(0, 2)),
    }
    encoder.train()
    for what, x in inputs.items():
        out = case.run(encoder, x)
        check_finite(case.label, out, what)
        check_gradients(case.label, encoder, out.hidden, what)


@promise("encoder", "causal")
@each_case
def _causal(case: EncoderCase) -> None:
    """Outputs up to step t never change when only inputs after t change, for every step t."""
    encoder = case.build(0).eval()
    if case.regions is not None:
        spatial.check_causal(case.label, encoder, case.x, case.calendar)
        return
    with torch.no_grad():
        base = encoder(case.x, case.calendar).hidden
        for t in range(case.steps - 1):
            out = encoder(changed_after(case.x, t), case.calendar).hidden
            if not torch.allclose(out[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-6):
                fail(case.label, f"not causal: outputs at step <= {t} changed when only inputs after step {t} changed")


def _batch_args(case: EncoderCase) -> tuple[Callable[[int], torch.nn.Module], Callable[..., Any], Any]:
    return case.build, lambda encoder, inputs: encoder(*inputs), (case.x, case.calendar)


@promise("encoder", "independent-samples")
@each_case
def _independent(case: EncoderCase) -> None:
    """No cross-talk: a sample's output depends on its own inputs only."""
    build, run, inputs = _batch_args(case)
    check_independent(case.label, build, run, inputs, (case.random(seed=9, missing=0.5, scale=2.0), case.calendar))


@promise("encoder", "batch-of-one")
@each_case
def _batch_of_one(case: EncoderCase) -> None:
    """A batch of one works and gives what the sample gets inside a batch."""
    check_batch_of_one(case.label, *_batch_args(case))


@promise("encoder", "float64")
@each_case
def _float64(case: EncoderCase) -> None:
    """float64 parameters and inputs give float64, finite outputs."""
    check_float64(case.label, *_batch_args(case))


@promise("encoder", "state-dict")
@each_case
def _state_dict(case: EncoderCase) -> None:
    """A copy loaded from state_dict() gives the same outputs."""
    check_state_dict(case.label, case.build, case.run)


@promise("encoder", "deterministic")
@each_case
def _deterministic(case: EncoderCase) -> None:
    """Built twice under one seed: the same outputs."""
    check_deterministic(case.label, case.build, case.run)


@promise("encoder", "permutation-equivariant")
def _equivariant(cls: type, label: str, **options: Any) -> None:
    """Spatial: permuting the regions (and the region table) permutes the per-region states."""
    if "spatial" not in cls.extents:
        raise NotApplicable("a national encoder has no regions to permute")
    for case in cases(cls, label, **options):
        if case.regions is not None:
            spatial.check_equivariant(case.label, case.build, case.x, case.calendar, case.regions)
