"""``train.compile``: ``torch.compile`` of a model's blocks for training, each falling back to eager on its own.

Every encoder, fusion block and head is compiled separately: its ``forward`` is replaced by a wrapper around
the compiled one, so its parameters, state dict and hooks stay what they were (checkpoints of compiled and eager
runs are interchangeable). The compiled forward runs where gradients are recorded (training steps); evaluation
and prediction (under ``no_grad``) run eagerly, so they cost no compilation and ``mrframe evaluate`` reproduces a
compiled run's evaluation exactly.

The first time a block's compiled forward raises (dynamo cannot trace it, the backend fails, the platform has no
C++ compiler or no dynamo), the call is repeated eagerly from the same RNG state. When that succeeds the block runs
eagerly from then on and one line names it and the reason; when it fails too, the error is the block's own and is
raised as it would be without compilation. Backward graphs are compiled lazily, at the first backward pass: when
a training step raises outside the blocks' forward while blocks are compiled, the step is repeated eagerly from
the same RNG state and every block runs eagerly from then on (:func:`fall_back`, one line); an error the eager
step raises too is its own. So a run never stops because of compilation.

The guard's replay of a failed step (:mod:`mrframe.engine.locate`) runs every block eagerly (:func:`eagerly`):
its module hooks and anomaly mode watch the operations one by one, which compiled code does not show.

Shapes are compiled dynamic from the start, so a smaller last batch costs no recompilation and the kernels a step
runs do not depend on which batch sizes came before: a compiled run resumes exactly. Compiled code draws its dropout
masks differently from eager code, so it is not bit-identical to an eager run. Compiling turns AOTAutograd's donated
buffers off for the process: weighting policies that write their own gradients run several backward passes over
one graph, which donated buffers forbid.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch._functorch.config  # donated buffers (see the module docstring)
from torch import nn

COMPILE_VARIABLE = "MRFRAME_COMPILE"
"""Environment variable: ``1`` (or ``on``, ``true``) makes ``train.compile = "auto"`` compile."""


def wants_compile(setting: str) -> bool:
    """Whether ``train.compile = setting`` compiles: ``on``, or ``auto`` with ``$MRFRAME_COMPILE`` set to 1."""
    if setting == "auto":
        return os.environ.get(COMPILE_VARIABLE, "").strip().lower() in ("1", "on", "true")
    return setting == "on"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def compile_blocks(
    model: nn.Module, report: Callable[[str], None] = _stderr, backend: str | Callable[..., Any] = "inductor"
) -> None:
    """Compile each block of an :class:`~mrframe.model.AssembledModel` in place (see the module docstring);
    ``report`` receives the one-line message of each block that falls back to eager execution."""
    # Read when a backward graph is compiled (lazily, at the first backward), so it is set for the process.
    torch._functorch.config.donated_buffer = False
    for where, block in _blocks(model):
        compiled = torch.compile(block.forward, backend=backend, dynamic=True)
        block.forward = _Fallback(where, block.forward, compiled, report)


def compiled(model: nn.Module) -> bool:
    """Whether some block of ``model`` still runs compiled code in training steps."""
    return any(not wrapper.failed for wrapper in _wrappers(model))


@contextlib.contextmanager
def eagerly(model: nn.Module) -> Iterator[None]:
    """Inside, every block of ``model`` runs its eager forward (compiled or not; nothing falls back)."""
    wrappers = [w for w in _wrappers(model) if not w.eager_only]
    for wrapper in wrappers:
        wrapper.eager_only = True
    try:
        yield
    finally:
        for wrapper in wrappers:
            wrapper.eager_only = False


def fall_back(model: nn.Module, error: BaseException) -> bool:
    """A training step raised ``error`` outside the blocks' forward (a backward graph that could not be compiled):
    every block still compiled runs eagerly from now on, reported in one line. False when no block was compiled
    (the error is not compilation's)."""
    wrappers = [w for w in _wrappers(model) if not w.failed]
    if not wrappers or not _raised_by_compiler(error):
        return False
    for wrapper in wrappers:
        wrapper.failed = True
    names = ", ".join(w.where for w in wrappers)
    wrappers[0].report(f"train.compile: {names} run{'s' * (len(wrappers) == 1)} eagerly, the backward pass could "
                       f"not be compiled ({_reason(error)})")
    return True


_COMPILER_CODE = ("/torch/_dynamo/", "/torch/_inductor/", "/torch/_functorch/")
"""Where torch's compiler runs: an error raised with one of these in its traceback (or its cause's) is the
compiler's; any other (a loss refusing its targets, running out of memory) is the step's own."""


def _raised_by_compiler(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 8:
        trace = error.__traceback__
        while trace is not None:
            if any(part in trace.tb_frame.f_code.co_filename.replace("\\", "/") for part in _COMPILER_CODE):
                return True
            trace = trace.tb_next
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _wrappers(model: nn.Module) -> list[_Fallback]:
    return [block.forward for _, block in _blocks(model) if isinstance(block.forward, _Fallback)]


def _blocks(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(name, block)`` in the naming of ``AssembledModel.parameter_counts``."""
    for name, encoder in model.encoders.items():
        yield f"encoders.{name}", encoder
    for i, block in enumerate(model.fusion):
        yield f"fusion[{i}]", block
    for name, head in model.heads.items():
        yield f"heads.{name}", head


class _Fallback:
    """The compiled forward of a block while gradients are recorded, until it fails once; else the eager one."""

    def __init__(self, where: str, eager: Callable[..., Any], compiled: Callable[..., Any], report: Callable[[str], None]):
        self.where = where
        self.eager = eager
        self.compiled = compiled
        self.report = report
        self.failed = False
        self.eager_only = False  # inside eagerly()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.failed or self.eager_only or not torch.is_grad_enabled():
            return self.eager(*args, **kwargs)
        rng = _rng_state()
        try:
            return self.compiled(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - whatever compilation raised, the eager call decides
            _set_rng_state(rng)
            result = self.eager(*args, **kwargs)  # the block's own error, if it has one, is raised here
            self.failed = True
            self.report(f"train.compile: {self.where} runs eagerly, it could not be compiled ({_reason(error)})")
            return result


def _reason(error: BaseException) -> str:
    """The innermost cause of a compilation error, on one line."""
    while True:
        inner = getattr(error, "inner_exception", None) or error.__cause__
        if inner is None:
            break
        error = inner
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _rng_state() -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, list[torch.Tensor] | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])
