"""Conformance of encoders: shapes, bitwise masked-input invariance, finiteness, causality, state, seeds."""

from __future__ import annotations

from typing import Any

import torch

from mrframe.interfaces import Resolution, SourceInfo
from mrframe.observed import Calendar, Observed, Stream
from mrframe.testing.common import (
    check_config,
    check_deterministic,
    check_finite,
    check_gradients,
    check_invariance,
    check_state_dict,
    fail,
    resolve,
    seeded,
)
from mrframe.testing.inputs import changed_after, make_calendar, random_observed
from mrframe.testing.spatial import check_spatial_encoder


def check_encoder(
    plugin: type | str,
    config: Any = None,
    resolution: Resolution | None = None,
    d_model: int = 16,
    steps: int | None = None,
) -> None:
    """Check everything DESIGN.md promises for an encoder of a ``resolution`` source (national and/or spatial,
    as its ``extents`` say); raises :class:`~mrframe.testing.ConformanceError` naming the broken promise."""
    cls, label = resolve("encoder", plugin)
    check_config(label, cls)
    if resolution is None:  # every resolution the encoder takes
        for each in cls.resolutions:
            check_encoder(cls, config, each, d_model, steps)
        return
    config = config if config is not None else cls.Config()
    if "spatial" in cls.extents:
        check_spatial_encoder(cls, label, config, resolution, d_model, steps)
    if "national" not in cls.extents:
        return
    source = SourceInfo("s", resolution, ("a", "b", "c", "d", "e"), counts=("a",))
    steps = steps or (40 if resolution == "daily" else 8)
    batch = 4
    days, months = (steps, 4) if resolution == "daily" else (40, steps)
    calendar = make_calendar(batch, days, months)
    x = random_observed(batch, steps, source.n_features, missing=0.3, empty_samples=(1,))

    def build(seed: int) -> torch.nn.Module:
        with seeded(seed):
            return cls(config, source, d_model)

    def run(encoder: torch.nn.Module, inputs: Observed = x) -> Stream:
        with seeded(123):  # identical dropout masks across calls
            return encoder(inputs, calendar)

    encoder = build(0)
    for mode in ("train", "eval"):
        encoder.train(mode == "train")
        out = run(encoder)
        _check_stream(label, out, x, d_model)
        check_invariance(label, encoder, x, out, calendar, mode)
    _check_extremes(label, build(0), source, calendar, steps, batch)
    _check_causal(label, build(0).eval(), x, calendar)
    check_state_dict(label, build, run)
    check_deterministic(label, build, run)


def _check_stream(label: str, out: Any, x: Observed, d_model: int) -> None:
    if not isinstance(out, Stream):
        fail(label, f"forward must return a mrframe.observed.Stream, got {type(out).__name__}")
    batch, steps, _ = x.shape
    if tuple(out.hidden.shape) != (batch, steps, d_model) or not out.hidden.is_floating_point():
        fail(label, f"hidden must be float [B, T, d_model] = {(batch, steps, d_model)}, got {tuple(out.hidden.shape)}")
    if not torch.equal(out.present, x.present):
        fail(label, "present must be True exactly at steps where any feature is observed (Observed.present)")


def _check_extremes(label: str, encoder: torch.nn.Module, source: SourceInfo, calendar: Calendar, steps: int, batch: int) -> None:
    gap = (steps // 4, steps // 4 + min(31, steps // 2)) if source.resolution == "daily" else (1, steps // 2)
    cases = {
        "on extreme observed values (|x| up to 1e4)": random_observed(batch, steps, source.n_features, scale=1e4),
        "when nothing is observed at all": random_observed(batch, steps, source.n_features, missing=1.0),
        f"when every feature is unobserved for steps {gap[0]}..{gap[1] - 1}": random_observed(
            batch, steps, source.n_features, gap=gap),
        "when one sample has no observation": random_observed(batch, steps, source.n_features, empty_samples=(0, 2)),
    }
    encoder.train()
    for what, inputs in cases.items():
        with seeded(123):
            out = encoder(inputs, calendar)
        check_finite(label, out, what)
        check_gradients(label, encoder, out.hidden, what)


def _check_causal(label: str, encoder: torch.nn.Module, x: Observed, calendar: Calendar) -> None:
    steps = x.shape[1]
    with torch.no_grad():
        base = encoder(x, calendar).hidden
        for t in sorted({0, steps // 3, steps // 2, steps - 2}):
            out = encoder(changed_after(x, t), calendar).hidden
            if not torch.allclose(out[:, : t + 1], base[:, : t + 1], rtol=1e-5, atol=1e-6):
                fail(label, f"not causal: outputs at step <= {t} changed when only inputs after step {t} changed")
