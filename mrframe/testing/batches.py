"""Promises about the batch axis, shared by encoders, fusion blocks and heads: samples never meet, a batch of
one works and gives what the same sample gives inside a batch, and float64 runs end to end.

The checks take ``build(seed) -> module``, ``run(module, inputs) -> output`` and the batched ``inputs``: an
:class:`~mrframe.observed.Observed` with its calendar, a :class:`~mrframe.observed.State`, or tuples of them.
:func:`take`, :func:`mix` and :func:`as_float64` act on every tensor inside such values along the batch axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from mrframe.observed import Observed, RegionalStream
from mrframe.testing.common import fail, floating, seeded, tensors

RTOL, ATOL = 1e-4, 1e-5
"""How close one sample's output must be alone and inside a batch (batched kernels may sum in another order)."""


def _rebuild(value: Any, convert: Callable[[Any], Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(convert(v) for v in value)
    if attrs.has(type(value)):
        return type(value)(**{f.name: convert(getattr(value, f.name)) for f in attrs.fields(type(value)) if f.init})
    return value


def take(value: Any, index: list[int]) -> Any:
    """``value`` restricted to the samples ``index`` (every tensor's first axis; a regional ``ends`` stays)."""
    if isinstance(value, Observed):
        return value[index]
    if isinstance(value, RegionalStream):
        return RegionalStream(value.hidden[index], value.present[index], value.ends)
    if isinstance(value, Tensor):
        return value[index] if value.dim() else value
    return _rebuild(value, lambda v: take(v, index))


def mix(first: Any, second: Any, from_second: Tensor) -> Any:
    """``first`` with the samples where ``from_second [B]`` is True taken from ``second`` (same structure)."""
    if isinstance(first, Observed):
        pick = from_second.view(-1, *([1] * (first.values.dim() - 1)))
        return Observed.build(torch.where(pick, second.values, first.values), torch.where(pick, second.mask, first.mask))
    if isinstance(first, RegionalStream):
        return RegionalStream(mix(first.hidden, second.hidden, from_second),
                              mix(first.present, second.present, from_second), first.ends)
    if isinstance(first, Tensor):
        data = first.is_floating_point() or first.dtype == torch.bool
        if not data or first.dim() == 0 or first.shape[0] != from_second.shape[0]:
            return first  # calendars and other integer tensors: kept, so only the data changes
        return torch.where(from_second.view(-1, *([1] * (first.dim() - 1))), second, first)
    if isinstance(first, Mapping):
        return {k: mix(v, second[k], from_second) for k, v in first.items()}
    if isinstance(first, tuple | list):
        return type(first)(mix(a, b, from_second) for a, b in zip(first, second, strict=True))
    if attrs.has(type(first)):
        return type(first)(**{f.name: mix(getattr(first, f.name), getattr(second, f.name), from_second)
                              for f in attrs.fields(type(first)) if f.init})
    return first


def as_float64(value: Any) -> Any:
    """``value`` with every floating tensor cast to float64."""
    if isinstance(value, Observed):
        return value.to(dtype=torch.float64)
    if isinstance(value, Tensor):
        return value.double() if value.is_floating_point() else value
    return _rebuild(value, as_float64)


def close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Every tensor of ``a`` close to the same tensor of ``b`` (NaN equals NaN; bool and integer ones equal)."""
    first, second = tensors(a), tensors(b)
    return len(first) == len(second) and all(
        x.shape == y.shape and (torch.allclose(x.double(), y.double(), rtol=rtol, atol=atol, equal_nan=True)
                                if x.is_floating_point() else torch.equal(x, y))
        for x, y in zip(first, second, strict=True)
    )


def _output(run: Callable[[nn.Module, Any], Any], module: nn.Module, inputs: Any) -> Any:
    with torch.no_grad(), seeded(123):
        return run(module, inputs)


def batch_size(inputs: Any) -> int:
    """The batch size of ``inputs``: the first axis of its first Observed or tensor."""
    first = inputs[0] if isinstance(inputs, tuple | list) else inputs
    if isinstance(first, Observed):
        return int(first.shape[0])
    return int(next(t for t in tensors(inputs) if t.dim()).shape[0])


def check_independent(label: str, build: Callable[[int], nn.Module], run: Callable[[nn.Module, Any], Any],
                      inputs: Any, other: Any) -> None:
    """No cross-talk: changing the other samples' inputs leaves a sample's output unchanged (eval mode)."""
    module = build(0).eval()
    base = _output(run, module, inputs)
    batch = batch_size(inputs)
    first = torch.arange(batch) == 0
    out = _output(run, module, mix(inputs, other, ~first))
    if not close(take(out, [0]), take(base, [0])):
        fail(label, "cross-talk between samples: sample 0's output changed when only the other samples' inputs "
                    "changed (normalising, pooling or attending over the batch axis?)")
    out = _output(run, module, mix(inputs, other, first))
    rest = list(range(1, batch))
    if not close(take(out, rest), take(base, rest)):
        fail(label, "cross-talk between samples: other samples' outputs changed when only sample 0's inputs changed")


def check_batch_of_one(label: str, build: Callable[[int], nn.Module], run: Callable[[nn.Module, Any], Any],
                       inputs: Any) -> None:
    """A batch of one works and gives the output the same sample gets inside a larger batch (eval mode)."""
    module = build(0).eval()
    base = _output(run, module, inputs)
    for sample in sorted({0, batch_size(inputs) - 1}):
        try:
            out = _output(run, module, take(inputs, [sample]))
        except Exception as error:  # noqa: BLE001 - any exception is the failure being checked
            fail(label, f"fails on a batch of one ({type(error).__name__}: {error}); does a squeeze() drop the "
                        "batch axis?")
        if not close(out, take(base, [sample])):
            fail(label, f"a batch of one gives sample {sample} another output than the same sample inside a batch "
                        f"of {batch_size(inputs)}")


def check_float64(label: str, build: Callable[[int], nn.Module], run: Callable[[nn.Module, Any], Any],
                  inputs: Any) -> None:
    """Parameters and inputs in float64 give float64, finite outputs close to the float32 ones (eval mode)."""
    base = _output(run, build(0).eval(), inputs)
    try:
        out = _output(run, build(0).double().eval(), as_float64(inputs))
    except Exception as error:  # noqa: BLE001 - any exception is the failure being checked
        fail(label, f"fails in float64 ({type(error).__name__}: {error}); create new tensors with the inputs' "
                    "dtype (torch.zeros(..., dtype=x.dtype), x.new_zeros(...))")
    wrong = sorted({str(t.dtype) for t in floating(out) if t.dtype != torch.float64})
    if wrong:
        fail(label, f"float64 parameters and inputs give {', '.join(wrong)} outputs; create new tensors with the "
                    "inputs' dtype")
    if not all(torch.isfinite(t).all() for t in floating(out)):
        fail(label, "non-finite output in float64")
    if not close(out, base, rtol=1e-3, atol=1e-3):
        fail(label, "float64 outputs differ from float32 ones by more than rounding")
