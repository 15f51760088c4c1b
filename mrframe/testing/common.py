"""What every plugin check shares: failures with a clear message, seeding, finiteness, state and seeds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from mrframe import kinds, registry
from mrframe.errors import PluginError
from mrframe.interfaces import PredictionKind, TargetInfo


class ConformanceError(AssertionError):
    """A plugin breaks a promise of its contract; the message says which plugin, which promise, and how."""


def resolve(kind: str, plugin: type | str) -> tuple[type, str]:
    """The plugin class and a label for messages, from a class or a registered name."""
    if isinstance(plugin, str):
        return registry.load(kind, plugin), f"{kind} '{plugin}'"
    return plugin, f"{kind} {plugin.__module__}.{plugin.__qualname__}"


def fail(label: str, message: str) -> None:
    raise ConformanceError(f"{label}: {message}")


def check_prediction(label: str, cls: type, config: Any, prediction: Any, target: TargetInfo,
                     batch: int) -> PredictionKind:
    """A head's prediction is of the kind it declares, and its point forecast is ``[B, span, (R,) F]``."""
    try:
        kind = kinds.of_head(cls, config)
    except PluginError as error:
        fail(label, str(error))
    problem = kind.problem(prediction, target)
    if problem is not None:
        fail(label, f"declares prediction kind '{cls.kind_for(config)}', but {problem}")
    if kind.headline is not None:
        expected = (batch, target.span, *((len(target.regions),) if target.spatial else ()), target.n_features)
        point = kind.point(prediction)
        if tuple(point.shape) != expected:
            fail(label, f"its point forecast must be [B, span, {'R, ' if target.spatial else ''}F] = {expected}, "
                        f"got {tuple(point.shape)}")
    return kind


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded, restoring the caller's RNG state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tensors(value: Any) -> list[Tensor]:
    """Every tensor inside a prediction, stream or state-like value."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in tensors(v)]
    if attrs.has(type(value)):
        return [t for f in attrs.fields(type(value)) for t in tensors(getattr(value, f.name))]
    return []


def floating(value: Any) -> list[Tensor]:
    return [t for t in tensors(value) if t.is_floating_point() or t.is_complex()]


def check_finite(label: str, value: Any, what: str) -> None:
    for tensor in floating(value):
        if not torch.isfinite(tensor).all():
            fail(label, f"non-finite output {what}")


def check_gradients(label: str, module: nn.Module, output: Any, what: str) -> None:
    """Back-propagate the sum of every floating output; every gradient must exist-or-be-None and be finite."""
    module.zero_grad(set_to_none=True)
    total = sum(t.real.sum() if t.is_complex() else t.sum() for t in floating(output) if t.requires_grad)
    if not isinstance(total, Tensor):
        return
    total.backward()
    for name, parameter in module.named_parameters():
        if parameter.grad is not None and not torch.isfinite(parameter.grad).all():
            fail(label, f"non-finite gradient of parameter '{name}' {what}")
    module.zero_grad(set_to_none=True)


def same(a: Any, b: Any) -> bool:
    """Bitwise equality of every tensor inside two values of the same structure (NaN equals NaN)."""
    first, second = tensors(a), tensors(b)
    return len(first) == len(second) and all(
        x.shape == y.shape and x.dtype == y.dtype and torch.equal(torch.nan_to_num(x), torch.nan_to_num(y))
        and torch.equal(torch.isnan(x), torch.isnan(y))
        for x, y in zip(first, second, strict=True)
    )


def check_state_dict(label: str, build: Callable[[int], nn.Module], run: Callable[[nn.Module], Any]) -> None:
    """Two instances built under different seeds agree exactly once one loads the other's ``state_dict``."""
    first, second = build(0), build(1)
    second.load_state_dict(first.state_dict())
    first.eval()
    second.eval()
    with torch.no_grad():
        if not same(run(first), run(second)):
            fail(label, "state_dict round trip: a copy loaded from state_dict() gives different outputs "
                        "(is some state kept outside parameters and buffers?)")


def check_deterministic(label: str, build: Callable[[int], nn.Module], run: Callable[[nn.Module], Any]) -> None:
    """Built twice under the same seed: the same parameters and the same outputs."""
    first, second = build(0), build(0)
    first.eval()
    second.eval()
    with torch.no_grad():
        if not same(run(first), run(second)):
            fail(label, "two instances built under the same seed give different outputs")


def check_invariance(label: str, encoder: nn.Module, x: Any, base: Any, calendar: Any, mode: str) -> None:
    """Junk at every masked place of ``x`` (put there before construction, or written into the values after
    it) leaves the encoder's output bitwise equal to ``base`` (run with the same dropout masks)."""
    from mrframe.testing.inputs import JUNK, with_junk  # inputs builds on the model: import when called

    for after in (False, True):
        for junk in JUNK:
            with seeded(123):
                out = encoder(with_junk(x, junk, after), calendar)
            if not same(out, base):
                when = "written into values after construction" if after else "put at masked places before construction"
                fail(label, f"masked-input invariance broken ({mode} mode): output changed with {junk} {when}")
