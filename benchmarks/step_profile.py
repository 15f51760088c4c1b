"""Where a training step's time goes: ``torch.profiler`` self times grouped by kind of work and by phase.

Kinds (by the aten op that spent the time): attention kernels, matrix products, convolutions, layer norm,
softmax, GELU, dropout's random draws, other elementwise ops and reductions, copies and layout changes, the
optimizer and gradient clipping. What no op accounts for is "outside ops": Python, module calls, the autograd
engine's bookkeeping and the dispatcher between ops. Phases: forward (with the losses), backward, optimizer
(clipping and AdamW). The profiler adds a little time to every op, so the small-op rows are somewhat inflated.

:data:`FLOP_KINDS` are the kinds whose ops do the FLOPs the compute floor counts (``benchmarks/flops.py``). Their
share of the step times the step / floor ratio is the ratio the step would have if every other op (elementwise
work, normalisation, copies, the optimizer, Python) took no time at all: with these kernels as they are, no
reorganisation of the rest can bring the step below it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import time
from collections.abc import Callable, Iterator

import torch
from torch.profiler import ProfilerActivity, profile, record_function

KINDS = (
    ("attention kernels (SDPA)", ("scaled_dot_product",)),
    ("matrix products (linear layers)", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")),
    ("convolutions", ("convolution",)),
    ("layer norm", ("layer_norm",)),
    ("softmax", ("softmax",)),
    ("GELU", ("gelu",)),
    ("dropout random draws", ("aten::random_", "aten::randint")),
    ("optimizer (fused AdamW)", ("adamw", "Optimizer.")),
    ("gradient clipping", ("norm", "aten::_foreach_mul")),
    ("copies and layout (copy, cat, fill, slice backward)",
     ("aten::copy_", "aten::cat", "aten::fill_", "aten::zero_", "aten::clone", "aten::_to_copy", "slice_backward",
      "aten::empty", "aten::contiguous")),
)

FLOP_KINDS = ("attention kernels (SDPA)", "matrix products (linear layers)", "convolutions")


def flop_kernel_share(seconds: float, kinds: dict[str, float]) -> float:
    """The share of a profiled step spent in the kernels that do the counted FLOPs (:data:`FLOP_KINDS`)."""
    return sum(kinds.get(kind, 0.0) for kind in FLOP_KINDS) / seconds


def _kind(name: str) -> str:
    for kind, keys in KINDS:
        if any(key in name for key in keys):
            return kind
    if name.startswith("aten::"):
        return "other elementwise ops and reductions"
    return "outside ops (Python, autograd engine, dispatch)"


def _phase(event) -> str:  # noqa: ANN001 - a profiler FunctionEvent
    while event is not None:
        if event.name.startswith("autograd::engine::evaluate_function"):
            return "backward"
        if event.name.startswith("Optimizer.") or "clip_grad" in event.name:
            return "optimizer"
        event = event.cpu_parent
    return "forward"


def profile_step(step: Callable[[int], None], steps: int = 3) -> tuple[float, dict[str, float], dict[str, float]]:
    """Profile ``steps`` calls of ``step(i)``: seconds per step, and seconds per step by kind and by phase."""
    with _labelled_clipping(), profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for i in range(steps):
            step(i)
        seconds = (time.perf_counter() - started) / steps  # the profiler's times are wall-clock times too
    kinds: dict[str, float] = collections.Counter()
    phases: dict[str, float] = collections.Counter()
    for event in prof.events():
        spent = event.self_cpu_time_total / 1e6 / steps
        kinds[_kind(event.name)] += spent
        phases[_phase(event)] += spent
    outside = "outside ops (Python, autograd engine, dispatch)"
    kinds[outside] += max(0.0, seconds - sum(kinds.values()))
    phases["forward"] += max(0.0, seconds - sum(phases.values()))
    return seconds, dict(kinds), dict(phases)


@contextlib.contextmanager
def _labelled_clipping() -> Iterator[None]:
    """Label ``clip_grad_norm_`` in the profile (the engine calls it through ``torch.nn.utils``)."""
    original = torch.nn.utils.clip_grad_norm_

    @functools.wraps(original)
    def labelled(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with record_function("clip_grad_norm_"):
            return original(*args, **kwargs)

    torch.nn.utils.clip_grad_norm_ = labelled
    try:
        yield
    finally:
        torch.nn.utils.clip_grad_norm_ = original


def print_profile(title: str, seconds: float, kinds: dict[str, float], phases: dict[str, float]) -> None:
    print(f"  profile ({title}): {seconds * 1e3:.0f} ms per profiled step")
    print(f"    {'kind of work':54s} {'ms/step':>8s} {'share':>6s}")
    for kind, spent in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"    {kind:54s} {spent * 1e3:8.1f} {spent / seconds:6.1%}")
    print("    by phase: " + ", ".join(f"{p} {s * 1e3:.0f} ms ({s / seconds:.0%})" for p, s in phases.items()))
    print(f"    the kernels that do the counted FLOPs ({', '.join(FLOP_KINDS)}): "
          f"{flop_kernel_share(seconds, kinds):.1%} of the step")


def _flop_kind(op: str) -> str | None:
    """The kind of a ``count_flops`` op name (``mm``, ``_scaled_dot_product_flash_attention_for_cpu``, ...)."""
    if "scaled_dot_product" in op:
        return "attention kernels (SDPA)"
    if op in ("mm", "addmm", "bmm", "baddbmm"):
        return "matrix products (linear layers)"
    if op.startswith("convolution"):
        return "convolutions"
    return None


def print_kernel_rates(result: dict, step_seconds: float | None = None, peak: float | None = None) -> None:
    """Per kind of FLOP-doing kernel: its FLOPs per step (``result["flops_by_op"]``), its time (its profiled share
    of the step times ``step_seconds``, the unprofiled step) and the GFLOP/s it achieves, beside the matrix-product
    ``peak`` (FLOP/s, measured on the same clock as ``step_seconds``) that the floor assumes; then the ratio the
    step would have with every other op free. By default the wall-clock median step and matrix-product peak."""
    seconds, kinds, _ = result["profile"]
    step_seconds = result["median_s"] if step_seconds is None else step_seconds
    peak = result["matmul_flops_per_s"] if peak is None else peak
    flops: dict[str, int] = collections.Counter()
    for op, n in result["flops_by_op"].items():
        flops[_flop_kind(op)] += n
    floor = result["flops"] / peak
    for kind in FLOP_KINDS:
        spent = kinds.get(kind, 0.0) / seconds * step_seconds
        if flops[kind] and spent:
            print(f"    {kind}: {flops[kind] / 1e9:.1f} GFLOP in {spent * 1e3:.0f} ms = "
                  f"{flops[kind] / spent / 1e9:.0f} GFLOP/s ({flops[kind] / spent / peak:.0%} of the matmul peak), "
                  f"alone {spent / floor:.2f}x the floor")
    print(f"    with every other op free, the step would be {flop_kernel_share(seconds, kinds) * step_seconds / floor:.1f}x "
          f"its floor (now {step_seconds / floor:.1f}x)")
