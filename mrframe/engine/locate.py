"""Find where a non-finite value first appears: replay one micro-batch with hooks on every module and op.

The replay runs the forward pass of the :class:`~mrframe.engine.network.Network` (model, then losses, then the
weighting policy's ``combine``) with

* forward pre/post hooks on every submodule: the **first module** is the innermost one whose output holds a
  NaN/inf while all its floating inputs were finite;
* a ``TorchFunctionMode`` that checks every torch function's output: the **op** is the first call inside that
  module whose output is non-finite from finite inputs, with the source line that called it;

and, when the forward pass is finite, the backward pass under ``torch.autograd.detect_anomaly`` with a hook on
every autograd node created in the forward pass: the first node (in backward order) whose input gradients are
non-finite while its output gradients were finite is the op (``SqrtBackward0 (of sqrt)``), the module that
created it is the module, and the source line that called its forward op is kept. Anomaly mode's own message
(it checks for NaN only, and may name a later node when the first one produced an inf) is kept beside it.

When the loss and every gradient are finite, the replay still checks the total gradient norm as the step
computes it (float32): gradients of ~1e19 and more make it overflow although each is finite. The parameters
with the largest gradients (norms in float64) are kept either way, so a report can name them.

This is slow (a host synchronisation per op) and is run only after a step failed, or by ``mrframe diagnose``.
"""

from __future__ import annotations

import contextlib
import math
import re
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import torch
from torch.overrides import TorchFunctionMode

from mrframe.data.dataset import Batch
from mrframe.engine.compile import eagerly
from mrframe.engine.device import Precision, to_float32
from mrframe.engine.network import Network, Objective
from mrframe.interfaces import StepContext
from mrframe.observed import Calendar, Observed

_TORCH_FILES = re.compile(r"[/\\]torch[/\\]|[/\\]mrframe[/\\]engine[/\\]locate\.py$|^<")


@attrs.frozen
class Culprit:
    """Where the first non-finite value came from."""

    phase: str  # "forward" or "backward"
    module: str  # qualified name inside the network ("model.encoders.daily.gru", "losses.next_week", ...)
    op: str | None  # torch function ("exp") or autograd node ("SqrtBackward0")
    kind: str  # "nan", "inf" or "nan and inf"
    where: str | None = None  # "file.py:42 in forward": the source line of the op
    rows: tuple[int, ...] = ()  # batch rows whose output was non-finite (forward only)
    anomaly: str | None = None  # anomaly mode's message, when it raised


LARGEST = 5
"""How many of the largest parameter gradients a replay keeps."""


@attrs.frozen
class Replay:
    """The outcome of replaying one micro-batch: finite or not, and the culprit when one was found.

    ``norm_finite``: the total gradient norm, computed in float32 as the step does, is finite;
    ``grad_norm``: the same norm in float64; ``largest_gradients``: ``(parameter, norm)`` of the parameters with
    the largest gradients (float64), largest first (only when the loss was finite)."""

    loss_finite: bool
    grads_finite: bool
    culprit: Culprit | None
    norm_finite: bool = True
    grad_norm: float = math.nan
    largest_gradients: tuple[tuple[str, float], ...] = ()

    @property
    def finite(self) -> bool:
        return self.loss_finite and self.grads_finite and self.norm_finite


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside ``value`` (tensors, Observed, attrs value types, mappings, sequences)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Observed):
        yield value.values
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from tensors_in(item)
    elif attrs.has(type(value)) and not isinstance(value, Calendar):
        for f in attrs.fields(type(value)):
            yield from tensors_in(getattr(value, f.name))


def nonfinite_kind(tensors: Any) -> str | None:
    """``"nan"``, ``"inf"``, ``"nan and inf"`` or None for the floating tensors in ``tensors``."""
    nan = inf = False
    for t in tensors_in(tensors):
        if t.is_floating_point() and t.numel():
            nan = nan or bool(torch.isnan(t).any())
            inf = inf or bool(torch.isinf(t).any())
    return "nan and inf" if nan and inf else "nan" if nan else "inf" if inf else None


def _caller() -> str | None:
    """The innermost source line outside torch that is executing."""
    for frame in reversed(traceback.extract_stack()):
        if not _TORCH_FILES.search(frame.filename):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return None


class _Watcher(TorchFunctionMode):
    """Tracks the module stack, the first non-finite op per module and which module created each node."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.first_op: dict[str, tuple[str, str, str | None]] = {}  # module -> (op, kind, where)
        self.node_owner: dict[Any, tuple[str, str, str | None]] = {}  # grad_fn -> (module, op, where)
        self.module_culprit: Culprit | None = None
        self.quiet = False  # set while the hooks themselves compute

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        if self.quiet or name == "__get__":
            return out
        module = self.stack[-1] if self.stack else ""
        for tensor in tensors_in(out):
            if tensor.grad_fn is not None and tensor.grad_fn not in self.node_owner:
                self.node_owner[tensor.grad_fn] = (module, name, _caller())
        if module not in self.first_op:
            kind = nonfinite_kind(out)
            if kind is not None and nonfinite_kind((args, kwargs)) is None:
                self.first_op[module] = (name, kind, _caller())
        return out

    def pre_hook(self, name: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            self.stack.append(name)
        return hook

    def post_hook(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.stack.pop()
            if self.module_culprit is not None:
                return
            self.quiet = True
            try:
                kind = nonfinite_kind(output)
                if kind is None or nonfinite_kind(args) is not None:
                    return
                rows = _nonfinite_rows(output)
            finally:
                self.quiet = False
            op, _, where = self.first_op.get(name, (None, kind, None))
            self.module_culprit = Culprit("forward", name, op, kind, where, rows)
        return hook


def _nonfinite_rows(output: Any) -> tuple[int, ...]:
    tensors = [t for t in tensors_in(output) if t.is_floating_point() and t.dim() >= 1]
    if not tensors:
        return ()
    size = tensors[0].shape[0]
    bad = torch.zeros(size, dtype=torch.bool)
    for t in tensors:
        if t.shape[0] == size:
            bad |= (~torch.isfinite(t.detach())).reshape(size, -1).any(dim=1).cpu()
    return tuple(int(i) for i in torch.nonzero(bad).flatten())


@contextlib.contextmanager
def _hooked(network: Network, watcher: _Watcher) -> Iterator[None]:
    handles = []
    for name, module in network.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(watcher.pre_hook(name)))
            handles.append(module.register_forward_hook(watcher.post_hook(name)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def select_rows(batch: Batch, rows: Sequence[int]) -> Batch:
    """The samples ``rows`` of ``batch`` as a batch of their own."""
    index = torch.as_tensor(list(rows), dtype=torch.long, device=batch.index.device)
    calendar = Calendar(**{f.name: getattr(batch.calendar, f.name)[index] for f in attrs.fields(Calendar)})
    return Batch(
        inputs={k: v[index] for k, v in batch.inputs.items()},
        targets={k: v[index] for k, v in batch.targets.items()},
        calendar=calendar,
        index=batch.index[index],
    )


def is_finite(network: Network, batch: Batch, context: StepContext, precision: Precision | None = None) -> bool:
    """Forward and backward ``batch`` without hooks: are the weighted loss, every gradient and their total norm
    (float32, as the step computes it) finite? Parameter gradients are left as they were."""
    precision = precision or Precision(batch.index.device.type, None)
    with _own_gradients(network):
        total, _, _ = Objective(network, precision)(batch, context)
        if nonfinite_kind(total) is not None:
            return False
        total.backward()
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))  # one sync


def failing_rows(network: Network, batch: Batch, context: StepContext, precision: Precision | None = None) -> tuple[int, ...]:
    """The rows of ``batch`` whose forward and backward pass, alone, is not finite."""
    return tuple(r for r in range(len(batch)) if not is_finite(network, select_rows(batch, [r]), context, precision))


@contextlib.contextmanager
def _own_gradients(network: Network) -> Iterator[None]:
    """Run with empty ``.grad`` and put the previous gradients back afterwards."""
    saved = [(p, p.grad) for p in network.parameters()]
    for p, _ in saved:
        p.grad = None
    try:
        yield
    finally:
        for p, grad in saved:
            p.grad = grad


def replay(network: Network, batch: Batch, context: StepContext, precision: Precision | None = None) -> Replay:
    """Forward and backward ``batch`` once (in the network's current mode, every block eager: compiled code
    would hide the operations the hooks watch) and locate the first non-finite value. Parameter gradients are
    left as they were."""
    precision = precision or Precision(batch.index.device.type, None)
    watcher = _Watcher()
    with _own_gradients(network), eagerly(network.model):
        with warnings.catch_warnings(record=True), torch.autograd.detect_anomaly(check_nan=True):
            warnings.simplefilter("always")
            with _hooked(network, watcher), watcher:
                with precision.autocast():
                    predictions = network(batch.inputs, batch.calendar)
                losses = network.task_losses(to_float32(predictions), batch)
                watcher.stack.append("weighting")
                total = network.weighting.combine(losses, context).total
                watcher.stack.pop()
            kind = nonfinite_kind(total)
            if kind is not None:
                culprit = watcher.module_culprit or _weighting_culprit(watcher, kind)
                return Replay(False, False, culprit)
            culprit, anomaly = _backward(total, watcher)
        named = [(name, p.grad) for name, p in network.named_parameters() if p.grad is not None]
        grads_finite = nonfinite_kind([g for _, g in named]) is None
        if culprit is not None:
            culprit = attrs.evolve(culprit, anomaly=anomaly)
        norms = [(name, float(torch.linalg.vector_norm(g.detach().double()))) for name, g in named]
        largest = tuple(sorted(norms, key=lambda item: -item[1] if math.isfinite(item[1]) else -math.inf)[:LARGEST])
        step_norm = float(torch.nn.utils.get_total_norm([g for _, g in named])) if named else 0.0
        return Replay(True, grads_finite and culprit is None, culprit, norm_finite=math.isfinite(step_norm),
                      grad_norm=math.sqrt(sum(n * n for _, n in norms)), largest_gradients=largest)


def _weighting_culprit(watcher: _Watcher, kind: str) -> Culprit:
    op, op_kind, where = watcher.first_op.get("weighting", (None, kind, None))
    return Culprit("forward", "weighting", op, op_kind, where)


def _backward(total: torch.Tensor, watcher: _Watcher) -> tuple[Culprit | None, str | None]:
    found: list[Culprit] = []

    def node_hook(owner: tuple[str, str, str | None], node: Any) -> Any:
        def hook(grad_inputs: Any, grad_outputs: Any) -> None:
            if found:
                return
            kind = nonfinite_kind([g for g in grad_inputs if g is not None])
            if kind is not None and nonfinite_kind([g for g in grad_outputs if g is not None]) is None:
                found.append(Culprit("backward", owner[0] or "(top level)", f"{type(node).__name__} (of {owner[1]})",
                                     kind, owner[2]))
        return hook

    handles = [node.register_hook(node_hook(owner, node)) for node, owner in watcher.node_owner.items()]
    anomaly = None
    try:
        total.backward()
    except RuntimeError as error:
        anomaly = str(error).splitlines()[0]
    finally:
        for handle in handles:
            handle.remove()
    return (found[0] if found else None), anomaly
